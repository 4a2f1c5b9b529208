"""Accounts as a whole: checking that their servers accept the credentials, and deleting one.

- ``connectivity``  check IMAP and SMTP logins concurrently: an attached account's IMAP on its watcher's
  connection (``bridge.mailbox``), others by logging in (``bridge.imap``, ``bridge.outbound.smtp``).
- ``removal``       stop what an account has in flight (sends, holds), then purge its data.

May import: storage, jobs, imap, mailbox, outbound, review. Called by the API and the CLI.
Purity: none
"""
