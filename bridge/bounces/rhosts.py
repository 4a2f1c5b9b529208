"""Provider tables keyed on the remote host: Sisimai's Rhost modules, for the mail those providers refused.

Pure: no I/O. When the host that refused (Remote-MTA, or the host a report
says answered) or the recipient's domain belongs to one of these providers,
the taxonomy reads the provider's reply through the provider's own table
(``Sisimai::Rhost``: Google, Microsoft, Yahoo, Apple, Tencent, Mimecast, i.ua,
NTT docomo; sisimai/p5-sisimai v5.1.0, ``lib/Sisimai/Rhost/*.pm``), before its
generic reason rules. The tables are kept as data, matched the way Sisimai
matches them: Google's rows need the phrase, the reply's last two digits and
the status's subject and detail; Microsoft's the exact status (or its range)
and the phrase; Mimecast's the reply code and the phrase; the others the
phrase alone. Phrases are compared with the lower-cased reply, as Sisimai
compares them (so a row written with capitals never matches, there either).

Tables: Copyright (C) 2014-2025 azumakuniyuki and sisimai development team,
BSD 2-Clause License (``tests/corpora/bounces/LICENSE-set-of-emails``).
"""

from __future__ import annotations

import re

from bridge.bounces.model import Reason
from bridge.bounces.stage import DATA, RCPT

R = Reason

# Host-name pieces that name each provider (``Sisimai::Rhost``'s $RhostClass).
_HOSTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("apple", (".mail.icloud.com", ".apple.com", ".me.com")),
    ("google", ("aspmx.l.google.com", "gmail-smtp-in.l.google.com")),
    ("iua", (".email.ua",)),
    ("microsoft", (".prod.outlook.com", ".protection.outlook.com")),
    ("mimecast", (".mimecast.com",)),
    ("nttdocomo", ("mfsmax.docomo.ne.jp",)),
    ("tencent", (".qq.com",)),
    ("yahooinc", (".yahoodns.net",)),
)

# Google: (reason, reply, status, phrase).
_GOOGLE: tuple[tuple[Reason, str, str, str], ...] = (
    (R.AUTHFAILURE, "451", "4.7.24", "the spf record of the sending domain"),
    (R.AUTHFAILURE, "550", "5.7.24", "the spf record of the sending domain"),
    (R.AUTHFAILURE, "421", "4.7.26", "senders to authenticate with either spf or dkim"),
    (R.AUTHFAILURE, "550", "5.7.26", "senders to authenticate with either spf or dkim"),
    (R.AUTHFAILURE, "550", "5.7.26", "fails to pass spf checks for an spf record with a hard fail"),
    (R.AUTHFAILURE, "550", "5.7.26", "has an spf record with a hard fail policy"),
    (R.AUTHFAILURE, "451", "4.7.26", "is not accepted due to domain's dmarc policy"),
    (R.AUTHFAILURE, "550", "5.7.26", "is not accepted due to domain's dmarc policy"),
    (R.AUTHFAILURE, "550", "5.7.26", "is not accepted due to domain's dmarc policy"),
    (R.AUTHFAILURE, "550", "5.7.1", "fails to pass authentication checks"),
    (R.AUTHFAILURE, "550", "5.7.26", "fails to pass authentication checks"),
    (R.AUTHFAILURE, "421", "4.7.27", "senders to authenticate with spf"),
    (R.AUTHFAILURE, "421", "4.7.27", "senders to authenticate their email with spf"),
    (R.AUTHFAILURE, "550", "5.7.27", "senders to authenticate with spf"),
    (R.AUTHFAILURE, "421", "4.7.30", "senders to authenticate their email with dkim"),
    (R.AUTHFAILURE, "550", "5.7.30", "senders to authenticate with dkim"),
    (R.AUTHFAILURE, "421", "4.7.32", "aligned with either the authenticated spf or dkim"),
    (R.BADREPUTATION, "421", "4.7.0", "very low reputation of the sending ip address"),
    (R.BADREPUTATION, "421", "4.7.0", "very low reputation of the sending domain"),
    (R.BADREPUTATION, "550", "5.7.1", "due to the very low reputation of the sending ip address"),
    (R.BADREPUTATION, "550", "5.7.1", "due to the very low reputation of the sending domain"),
    (R.BLOCKED, "421", "4.7.0", "ip not in whitelist for rcpt domain"),
    (R.BLOCKED, "421", "4.7.0", "try again later, closing connection."),
    (R.BLOCKED, "501", "5.5.4", "empty helo/ehlo argument not allowed"),
    (R.BLOCKED, "501", "5.5.4", "helo/ehlo argument is invalid"),
    (R.BLOCKED, "421", "4.7.0", "an unusual rate of unsolicited mail"),
    (R.BLOCKED, "421", "4.7.28", "an unusual rate of mail"),
    (R.BLOCKED, "550", "5.7.1", "an unusual rate of unsolicited mail"),
    (R.BLOCKED, "550", "5.7.28", "an unusual rate of unsolicited mail"),
    (R.EXCEEDLIMIT, "552", "5.2.3", "exceeded google's message size limits"),
    (R.EXCEEDLIMIT, "552", "5.3.4", "exceeds google's limit of limit attachments."),
    (R.EXCEEDLIMIT, "552", "5.3.4", "your message exceeded google's message header size limits"),
    (R.EXCEEDLIMIT, "552", "5.3.4", "bytes per individual header size"),
    (R.EXCEEDLIMIT, "552", "5.3.4", "exceeds google's header name limit of"),
    (R.EXCEEDLIMIT, "552", "5.3.4", "exceeds google's message header size limit"),
    (R.EXPIRED, "421", "4.7.0", "connection expired"),
    (R.EXPIRED, "451", "4.4.2", "timeout - closing connection"),
    (R.MAILBOXFULL, "452", "4.2.2", "inbox is out of storage space"),
    (R.MAILBOXFULL, "552", "5.2.2", "inbox is out of storage space and inactive"),
    (R.MAILBOXFULL, "452", "4.2.2", "is over quota"),
    (R.MAILBOXFULL, "552", "5.2.2", "is over quota"),
    (R.MAILBOXFULL, "550", "5.7.1", "email quota exceeded"),
    (R.MESGTOOBIG, "552", "5.3.4", "exceeded google's message size limits"),
    (R.MESGTOOBIG, "552", "5.3.4", "exceeds google's message size limit of"),
    (R.NETWORKERROR, "554", "5.4.6", "message exceeded 50 hops"),
    (R.NETWORKERROR, "554", "5.6.0", "message exceeded 50 hops"),
    (R.NORELAYING, "550", "5.7.0", "mail relay denied"),
    (R.NORELAYING, "550", "5.7.1", "invalid credentials for relay"),
    (R.NORELAYING, "550", "5.7.1", "is not authorized to send email directly to our servers"),
    (R.NOTCOMPLIANTRFC, "550", "5.7.1", "missing a valid address in the from: header"),
    (R.NOTCOMPLIANTRFC, "550", "5.7.1", "multiple addresses in from: header are not accepted"),
    (R.NOTCOMPLIANTRFC, "550", "5.7.1", "is not rfc 5322 compliant"),
    (R.NOTCOMPLIANTRFC, "550", "5.7.1", "missing a valid message-id: header"),
    (R.NOTCOMPLIANTRFC, "550", "5.7.1", "contains a unicode character in a disallowed header"),
    (R.NOTCOMPLIANTRFC, "550", "5.7.1", "encoded-word syntax is not permitted"),
    (R.NOTCOMPLIANTRFC, "553", "5.1.7", "is not a valid rfc 5321 address"),
    (R.NOTCOMPLIANTRFC, "554", "5.6.0", "mail message is malformed"),
    (R.POLICYVIOLATION, "552", "5.7.0", "illegal attachment on your message"),
    (R.POLICYVIOLATION, "552", "5.7.0", "blocked because its content presents a potential security issue"),
    (R.POLICYVIOLATION, "550", "5.7.1", "you are sending to (or from) has a policy that prohibited"),
    (R.POLICYVIOLATION, "421", "4.7.28", "sending messages with the same message-id:"),
    (R.REJECTED, "550", "5.7.0", "mail sending denied"),
    (R.REJECTED, "550", "5.7.1", "unauthenticated email is not accepted"),
    (R.REQUIREPTR, "421", "4.7.0", "does not have a ptr record"),
    (R.REQUIREPTR, "421", "4.7.23", " have a ptr record, or the ptr record"),
    (R.REQUIREPTR, "550", "5.7.1", "does not meet ipv6 sending guidelines regarding ptr records and authentication"),
    (R.REQUIREPTR, "550", "5.7.25", "does not have a ptr record"),
    (R.REQUIREPTR, "550", "5.7.25", "does not match the ip address of the hostname"),
    (R.SECURITYERROR, "421", "4.7.0", "tls required for rcpt domain"),
    (R.SECURITYERROR, "454", "4.7.0", "too many login attempts"),
    (R.SECURITYERROR, "501", "5.5.2", "cannot decode response"),
    (R.SECURITYERROR, "503", "5.7.0", "no identity changes permitted"),
    (R.SECURITYERROR, "530", "5.5.1", "authentication required."),
    (R.SECURITYERROR, "530", "5.7.0", "authentication required."),
    (R.SECURITYERROR, "535", "5.7.1", "application-specific password required"),
    (R.SECURITYERROR, "535", "5.7.9", "application-specific password required"),
    (R.SECURITYERROR, "535", "5.7.1", "please log in with your web browser"),
    (R.SECURITYERROR, "534", "5.7.9", "please log in with your web browser"),
    (R.SECURITYERROR, "534", "5.7.14", "please log in through your web browser"),
    (R.SECURITYERROR, "535", "5.7.1", "username and password not accepted"),
    (R.SECURITYERROR, "535", "5.7.8", "username and password not accepted"),
    (R.SECURITYERROR, "421", "4.7.29", "senders to use tls/ssl for smtp"),
    (R.SECURITYERROR, "550", "5.7.29", "senders to use tls/ssl for smtp"),
    (R.SPAMDETECTED, "421", "4.7.0", "due to the nature of the content or the links within"),
    (R.SPAMDETECTED, "550", "5.7.1", "likely unsolicited mail"),
    (R.SPEEDING, "450", "4.2.1", "is receiving mail too quickly"),
    (R.SPEEDING, "450", "4.2.1", "peak smtp relay limit exceeded for customer"),
    (R.SPEEDING, "450", "4.2.1", "rate that prevents additional messages from being delivered"),
    (R.SPEEDING, "550", "5.2.1", "rate that prevents additional messages from being delivered"),
    (R.SPEEDING, "550", "5.4.5", "daily sending quota exceeded"),
    (R.SPEEDING, "550", "5.4.5", "daily user sending limit exceeded"),
    (R.SPEEDING, "550", "5.4.5", "daily smtp relay limit exceeded for"),
    (R.SPEEDING, "550", "5.7.1", "daily smtp relay limit exceeded for"),
    (R.SPEEDING, "550", "5.7.1", "daily smtp relay sending limit exceeded for"),
    (R.SPEEDING, "550", "5.7.1", "this mail has been rate limited"),
    (R.SUSPEND, "550", "5.2.1", "account that you tried to reach is disabled"),
    (R.SUSPEND, "550", "5.2.1", "account that you tried to reach is inactive"),
    (R.SYNTAXERROR, "451", "4.5.0", "smtp protocol violation"),
    (R.SYNTAXERROR, "454", "4.5.0", "smtp protocol violation"),
    (R.SYNTAXERROR, "525", "5.7.10", "smtp protocol violation"),
    (R.SYNTAXERROR, "535", "5.5.4", "optional argument not permitted"),
    (R.SYNTAXERROR, "454", "5.5.1", "starttls may not be repeated"),
    (R.SYNTAXERROR, "501", "5.7.11", "syntax error"),
    (R.SYNTAXERROR, "501", "5.5.2", "syntax error"),
    (R.SYNTAXERROR, "555", "5.5.2", "syntax error"),
    (R.SYNTAXERROR, "502", "5.5.1", "too many unrecognized commands, goodbye"),
    (R.SYNTAXERROR, "502", "5.5.1", "unimplemented command"),
    (R.SYNTAXERROR, "502", "5.5.1", "unrecognized command"),
    (R.SYNTAXERROR, "503", "5.5.1", "bad sequence of commands"),
    (R.SYNTAXERROR, "503", "5.5.1", "ehlo/helo first"),
    (R.SYNTAXERROR, "503", "5.5.1", "mail first"),
    (R.SYNTAXERROR, "503", "5.5.1", "rcpt first"),
    (R.SYNTAXERROR, "503", "5.5.1", "no data after bdat"),
    (R.SYNTAXERROR, "504", "5.7.4", "unrecognized authentication type"),
    (R.SYNTAXERROR, "504", "5.7.4", "xoauth is no longer supported"),
    (R.SYNTAXERROR, "530", "5.7.0", "must issue a starttls command first"),
    (R.SYNTAXERROR, "554", "5.7.0", "too many unauthenticated commands"),
    (R.SYSTEMERROR, "421", "4.3.0", "temporary system problem"),
    (R.SYSTEMERROR, "421", "4.7.0", "temporary system problem"),
    (R.SYSTEMERROR, "421", "4.4.5", "server busy"),
    (R.SYSTEMERROR, "451", "4.3.0", "multiple destination domains per transaction is unsupported"),
    (R.SYSTEMERROR, "451", "4.3.0", "mail server has temporarily rejected this message"),
    (R.SYSTEMERROR, "451", "4.3.0", "mail server temporarily rejected message"),
    (R.SYSTEMERROR, "452", "4.5.3", "domain policy size per transaction exceeded"),
    (R.SYSTEMERROR, "454", "4.7.0", "cannot authenticate due to temporary system problem"),
    (R.TOOMANYCONN, "452", "4.5.3", "your message has too many recipients"),
    (R.TOOMANYCONN, "550", "5.5.3", "too many recipients for this sender"),
    (R.USERUNKNOWN, "550", "5.1.1", "the email account that you tried to reach does not exist"),
    (R.USERUNKNOWN, "553", "5.1.2", "we weren't able to find the recipient domain"),
    (R.USERUNKNOWN, "553", "5.1.3", "is not a valid rfc 5321 address"),
)
# Microsoft: (reason, status or status prefix, low, high, phrase); low == high: the exact status.
_MICROSOFT: tuple[tuple[Reason, str, int, int, str], ...] = (
    (R.AUTHFAILURE, "4.7.26", 0, 0, "must pass either spf or dkim validation, this message is not signed"),
    (R.AUTHFAILURE, "4.7.323", 0, 0, "tlsa-invalid: The domain failed dane validation"),
    (R.AUTHFAILURE, "5.7.323", 0, 0, "tlsa-invalid: The domain failed dane validation"),
    (R.AUTHFAILURE, "4.7.324", 0, 0, "dnssec-invalid: destination domain returned invalid dnssec records"),
    (R.AUTHFAILURE, "5.7.324", 0, 0, "dnssec-invalid: destination domain returned invalid dnssec records"),
    (
        R.AUTHFAILURE,
        "4.7.325",
        0,
        0,
        "certificate-host-mismatch: remote certificate must have a common name or subject alternative name matching the hostname (dane)",
    ),
    (
        R.AUTHFAILURE,
        "5.7.325",
        0,
        0,
        "certificate-host-mismatch: remote certificate must have a common name or subject alternative name matching the hostname (dane)",
    ),
    (R.AUTHFAILURE, "5.7.23", 0, 0, "the message was rejected because of sender policy framework violation"),
    (R.AUTHFAILURE, "5.7.322", 0, 0, "certificate-expired: destination mail server's certificate is expired"),
    (R.AUTHFAILURE, "5.7.509", 0, 0, "does not pass dmarc verification"),
    (R.BADREPUTATION, "4.7.650", 0, 0, "has been temporarily rate limited due to ip reputation"),
    (R.BLOCKED, "4.4.2", 0, 0, "connection dropped"),
    (R.BLOCKED, "4.7.", 850, 899, "access denied, please try again later"),
    (R.BLOCKED, "5.7.25", 0, 0, "must have a reverse dns record"),
    (R.BLOCKED, "5.7.506", 0, 0, "access denied, bad helo"),
    (R.BLOCKED, "5.7.507", 0, 0, "access denied, rejected by recipient"),
    (R.BLOCKED, "5.7.510", 0, 0, "does not accept email over ipv6"),
    (R.BLOCKED, "5.7.511", 0, 0, "access denied, banned sender"),
    (R.BLOCKED, "5.7.513", 0, 0, "using customer block list"),
    (R.BLOCKED, "5.7.", 606, 649, "access denied, banned sending ip "),
    (R.BLOCKED, "4.7.", 500, 699, "access denied, please try again later"),
    (R.BLOCKED, "5.5.4", 0, 0, "invalid domain name"),
    (R.BLOCKED, "5.7.51", 0, 0, "restrictdomainstoipaddresses or restrictdomainstocertificate"),
    (R.BLOCKED, "5.7.1", 0, 0, "part of their network is on our block list (s3150)"),
    (R.CONTENTERROR, "5.3.0", 0, 0, "too many related errors"),
    (R.CONTENTERROR, "5.6.11", 0, 0, "invalid characters"),
    (R.CONTENTERROR, "5.4.11", 0, 0, "agent generated message depth exceeded"),
    (R.CONTENTERROR, "5.5.6", 0, 0, "invalid message content"),
    (R.EXCEEDLIMIT, "5.2.3", 0, 0, "resolver.rst.recipsizelimit; message too large for this recipient"),
    (R.EXPIRED, "4.4.1", 0, 0, "connection timed out"),
    (R.EXPIRED, "4.4.7", 0, 0, "message delayed"),
    (R.EXPIRED, "4.4.7", 0, 0, "queue expired; message expired"),
    (R.EXPIRED, "4.4.7", 0, 0, "message expired"),
    (R.EXPIRED, "5.4.300", 0, 0, "message expired"),
    (R.MAILBOXFULL, "5.2.2", 0, 0, "mailbox full"),
    (R.MESGTOOBIG, "5.3.4", 0, 0, "message size exceeds fixed maximum message size"),
    (R.MESGTOOBIG, "5.3.4", 0, 0, "message too big for system"),
    (R.NETWORKERROR, "5.4.4", 0, 0, "smtpsend.dns.nonexistentdomain; nonexistent domain"),
    (R.NETWORKERROR, "5.4.6", 0, 0, "hop count exceeded - possible mail loop"),
    (R.NETWORKERROR, "4.4.316", 0, 0, "connection refused"),
    (R.NETWORKERROR, "5.4.4", 0, 0, "invalid arguments"),
    (R.NETWORKERROR, "5.4.6", 0, 0, "routing loop detected"),
    (R.NETWORKERROR, "5.4.14", 0, 0, "routing loop detected"),
    (R.NORELAYING, "5.7.1", 0, 0, "unable to relay"),
    (R.NORELAYING, "5.7.1", 0, 0, "client was not authenticated"),
    (R.NORELAYING, "5.4.1", 0, 0, "relay access denied"),
    (R.NORELAYING, "5.7.1", 0, 0, "unable to relay"),
    (R.NORELAYING, "5.7.64", 0, 0, "tenantattribution; relay access denied"),
    (R.NORELAYING, "5.4.310", 0, 0, "does not exist"),
    (R.NOTACCEPT, "4.3.2", 0, 0, "system not accepting network messages"),
    (R.NOTACCEPT, "4.4.4", 0, 0, "hosted tenant which has no mail-enabled subscriptions"),
    (R.NOTACCEPT, "5.3.2", 0, 0, "storedrv.deliver: missing or bad storedriver mdb properties"),
    (R.POLICYVIOLATION, "5.0.350", 0, 0, "x-dg-ref header is too long"),
    (R.POLICYVIOLATION, "5.0.350", 0, 0, "requested action not taken: policy violation detected (as345)"),
    (R.POLICYVIOLATION, "5.7.", 900, 999, "delivery not authorized, message refused"),
    (R.REJECTED, "5.1.7", 0, 0, "invalid address"),
    (R.REJECTED, "5.1.7", 0, 0, "unknown sender address"),
    (R.REJECTED, "5.1.0", 0, 0, "sender denied"),
    (R.REJECTED, "5.1.8", 0, 0, "access denied, bad outbound sender"),
    (R.REJECTED, "5.7.1", 0, 0, "delivery not authorized"),
    (R.REJECTED, "5.7.12", 0, 0, "sender was not authenticated by organization"),
    (R.REJECTED, "5.7.124", 0, 0, "sender not in allowed-senders list"),
    (R.REJECTED, "5.7.133", 0, 0, "sender not authenticated for group"),
    (R.REJECTED, "5.7.134", 0, 0, "sender was not authenticated for mailbox"),
    (R.REJECTED, "5.7.13", 0, 0, "sender was not authenticated for public folder"),
    (R.REJECTED, "5.7.135", 0, 0, "sender was not authenticated for public folder"),
    (R.REJECTED, "5.7.136", 0, 0, "sender was not authenticated"),
    (R.REJECTED, "5.7.", 501, 503, "access denied, spam abuse detected"),
    (R.REJECTED, "5.7.512", 0, 0, "access denied, message must be rfc 5322 section 3.6.2 compliant"),
    (R.REJECTED, "5.7.750", 0, 0, "service unavailable. client blocked from sending from unregistered domains"),
    (R.REJECTED, "5.7.", 501, 503, "access denied, banned sender"),
    (R.SECURITYERROR, "5.7.3", 0, 0, "cannot achieve exchange server authentication"),
    (R.SECURITYERROR, "5.7.3", 0, 0, "not authorized"),
    (R.SECURITYERROR, "4.4.317", 0, 0, "starttls is required to send mail"),
    (R.SECURITYERROR, "5.4.317", 0, 0, "starttls is required to send mail"),
    (
        R.SECURITYERROR,
        "4.7.321",
        0,
        0,
        "starttls-not-supported: destination mail server must support tls to receive mail",
    ),
    (
        R.SECURITYERROR,
        "5.7.321",
        0,
        0,
        "starttls-not-supported: destination mail server must support tls to receive mail",
    ),
    (R.SECURITYERROR, "5.7.1", 0, 0, "client was not authenticated"),
    (R.SECURITYERROR, "5.7.57", 0, 0, "client was not authenticated to send anonymous mail during mail from"),
    (R.SPAMDETECTED, "5.2.1", 0, 0, "content filter agent quarantined this message"),
    (R.SPEEDING, "4.3.2", 0, 0, "storedrv.deliver; recipient thread limit exceeded"),
    (
        R.SPEEDING,
        "5.1.90",
        0,
        0,
        "your message can't be sent because you've reached your daily limit for message recipients",
    ),
    (R.SPEEDING, "5.2.2", 0, 0, "submission quota exceeded"),
    (R.SPEEDING, "5.2.121", 0, 0, "recipient's per hour message receive limit from specific sender exceeded"),
    (R.SPEEDING, "5.2.122", 0, 0, "recipient's per hour message receive limit exceeded"),
    (R.SPEEDING, "5.7.508", 0, 0, "has exceeded permitted limits within"),
    (R.SPEEDING, "5.7.", 700, 749, "access denied, tenant has exceeded threshold"),
    (R.SPEEDING, "5.7.", 700, 749, "access denied, traffic not accepted from this ip"),
    (R.SUSPEND, "5.7.504", 0, 0, "recipient address rejected: access denied"),
    (R.SUSPEND, "5.7.505", 0, 0, "access denied, banned recipient"),
    (R.SUSPEND, "5.2.1", 0, 0, "mailbox cannot be accessed"),
    (R.SYNTAXERROR, "5.3.3", 0, 0, "unrecognized command"),
    (R.SYNTAXERROR, "5.5.2", 0, 0, "send hello first"),
    (R.SYSTEMERROR, "4.3.2", 0, 0, "service not available"),
    (R.SYSTEMERROR, "4.3.2", 0, 0, "service not active"),
    (R.SYSTEMERROR, "5.3.5", 0, 0, "system incorrectly configured"),
    (
        R.SYSTEMERROR,
        "5.3.190",
        0,
        0,
        "journaling on-premises messages to microsoft 365 or office 365 not supported when journaling archive is disabled",
    ),
    (R.SYSTEMERROR, "5.0.0", 0, 0, "helo / ehlo requires domain address"),
    (R.SYSTEMERROR, "5.1.4", 0, 0, "destination mailbox address ambiguous"),
    (R.SYSTEMERROR, "5.2.4", 0, 0, "mailing list expansion problem"),
    (R.SYSTEMERROR, "5.2.14", 0, 0, "misconfigured forwarding address"),
    (R.SYSTEMERROR, "4.4.3", 0, 0, "temporary server error. please try again later attr18"),
    (R.SYSTEMERROR, "4.7.0", 0, 0, "temporary server error. please try again later. prx4 nexthop:"),
    (R.SYSTEMERROR, "4.4.24", 0, 0, "message failed to be replicated: insufficient system resource:"),
    (
        R.SYSTEMERROR,
        "4.4.25",
        0,
        0,
        "message failed to be replicated: no healthy secondary server available to accept replica at this time.",
    ),
    (R.SYSTEMERROR, "4.4.28", 0, 0, "message failed to be replicated: the operation was canceled"),
    (R.SYSTEMERROR, "4.4.318", 0, 0, "(suspiciousremoteservererror)"),
    (R.SYSTEMERROR, "5.4.318", 0, 0, "(suspiciousremoteservererror)"),
    (R.SYSTEMERROR, "4.7.500", 0, 0, "server busy. please try again later from "),
    (R.SYSTEMERROR, "4.7.700", 0, 0, "pfa agent busy, please try again."),
    (R.SYSTEMFULL, "4.3.1", 0, 0, "insufficient system resources"),
    (R.TOOMANYCONN, "5.5.3", 0, 0, "too many recipients"),
    (R.TOOMANYCONN, "4.5.3", 0, 0, "too many recipients"),
    (R.TOOMANYCONN, "5.2.122", 0, 0, "the recipient has exceeded their limit for"),
    (R.USERUNKNOWN, "5.1.1", 0, 0, "resolver.adr.exrecipnotfound; not found"),
    (R.USERUNKNOWN, "5.1.1", 0, 0, "user unknown"),
    (R.USERUNKNOWN, "5.1.3", 0, 0, "storedrv.submit; invalid recipient address"),
    (R.USERUNKNOWN, "5.1.", 4, 5, "recipient address reserved by rfc 2606"),
    (R.USERUNKNOWN, "5.1.6", 0, 0, "recipient addresses in single label domains not accepted"),
    (R.USERUNKNOWN, "5.1.1", 0, 0, "bad destination mailbox address"),
    (R.USERUNKNOWN, "5.1.10", 0, 0, "recipient not found"),
    (R.USERUNKNOWN, "5.4.1", 0, 0, "recipient address rejected: access denied"),
    (R.USERUNKNOWN, "5.5.0", 0, 0, "requested action not taken: mailbox unavailable"),
    (R.USERUNKNOWN, "5.1.2", 0, 0, "invalid x.400 address"),
)
# Mimecast: (reason, reply code, phrase).
_MIMECAST: tuple[tuple[Reason, int, str], ...] = (
    (R.AUTHFAILURE, 550, "spf sender invalid - envelope rejected"),
    (R.AUTHFAILURE, 550, "dkim sender invalid - envelope rejected"),
    (R.AUTHFAILURE, 550, "dmarc sender invalid - envelope rejected"),
    (R.BADREPUTATION, 451, "internal resources are temporarily unavailable"),
    (R.BADREPUTATION, 550, "local ct ip reputation - (reject)"),
    (R.BLOCKED, 421, "sender address blocked"),
    (R.BLOCKED, 451, "recipient temporarily unavailable"),
    (R.BLOCKED, 451, "ip temporarily blacklisted"),
    (R.EXPIRED, 550, "Journal messages past the expiration"),
    (R.MESGTOOBIG, 554, "maximum email size exceeded"),
    (R.NETWORKERROR, 451, "the incorrect hostname used for inbounds"),
    (R.NETWORKERROR, 550, "the incorrect hostname used for inbounds"),
    (R.NETWORKERROR, 554, "mail loop detected"),
    (R.NORELAYING, 451, "open relay not allowed"),
    (R.NORELAYING, 451, "open relay is not allowed"),
    (R.NOTACCEPT, 451, "account inbounds disabled"),
    (R.ONHOLD, 451, "account outbounds disabled"),
    (R.ONHOLD, 451, "hostname is not authorized"),
    (R.ONHOLD, 550, "journal message past expiration"),
    (R.POLICYVIOLATION, 550, "anti-spoofing policy - inbound not allowed"),
    (R.POLICYVIOLATION, 550, "rejected by header-based anti-spoofing policy"),
    (R.POLICYVIOLATION, 550, "message bounced due to content examination policy"),
    (R.POLICYVIOLATION, 554, "host network not allowed"),
    (R.POLICYVIOLATION, 554, "host network, not allowed"),
    (R.REJECTED, 550, "administrative prohibition envelope blocked"),
    (R.REJECTED, 550, "envelope blocked - user entry"),
    (R.REJECTED, 550, "envelope blocked - user domain entry"),
    (R.REJECTED, 550, "rejected by header-based manually blocked senders - block for manual block"),
    (R.REJECTED, 550, "rejected by header-based blocked senders - block policy for header from"),
    (R.REJECTED, 550, "envelope rejected - block policy for envelope from address"),
    (R.SECURITYERROR, 535, "incorrect authentication data"),
    (R.SECURITYERROR, 550, "submitter failed to disabled"),
    (R.SECURITYERROR, 550, "submitter failed to authenticate"),
    (R.SECURITYERROR, 553, "this route requires encryption (tls)"),
    (R.SECURITYERROR, 553, "this route requires tls version 1.2 or greater"),
    (R.SECURITYERROR, 553, "this route requires high-strength ciphers"),
    (R.SECURITYERROR, 554, "configuration is invalid for this certificate"),
    (R.SYSTEMERROR, 451, "unable to process connection at this time"),
    (R.SYSTEMERROR, 451, "message ended early"),
    (R.SYSTEMERROR, 451, "unable to process command"),
    (R.SYSTEMERROR, 451, "unable to process an email at this time"),
    (R.TOOMANYCONN, 451, "account service is temporarily unavailable"),
    (R.TOOMANYCONN, 452, "too many recipients"),
    (R.TOOMANYCONN, 550, "exceeding outbound thread limit"),
    (R.USERUNKNOWN, 501, "invalid address"),
    (R.USERUNKNOWN, 503, "user unknown"),
    (R.USERUNKNOWN, 550, "invalid recipient"),
    (R.VIRUSDETECTED, 554, "email rejected due to security policies"),
)
# Phrase-only tables. Tencent's table spells one reason "spandetected"; it is spam.
_PHRASES: dict[str, tuple[tuple[Reason, str], ...]] = {
    "apple": (
        (R.AUTHFAILURE, "s dmarc policy"),
        (R.AUTHFAILURE, "blocked for failing both spf and dkim autentication checks"),
        (R.BLOCKED, "rejected due to having a domain present in the spamhaus"),
        (R.BLOCKED, "rejected due to listing in spamhaus"),
        (R.BLOCKED, "blocked - see https://support.proofpoint.com/dnsbl-lookup"),
        (R.BLOCKED, "not accepting connections"),
        (R.HASMOVED, "recipient no longer on server"),
        (R.MAILBOXFULL, "user is over quota"),
        (R.NORELAYING, "relay access denied"),
        (R.NOTACCEPT, "host/domain does not accept mail"),
        (R.POLICYVIOLATION, "due to local policy"),
        (R.REJECTED, "sender address rejected"),
        (R.SPEEDING, "due to excessive volume"),
        (R.USERUNKNOWN, "inactive email address"),
        (R.USERUNKNOWN, "user does not exist"),
        (R.USERUNKNOWN, "unknown or illegal alias"),
    ),
    "tencent": (
        (R.AUTHFAILURE, "spf check failed"),
        (R.AUTHFAILURE, "dmarc check failed"),
        (R.BLOCKED, "suspected bounce attacks"),
        (R.BLOCKED, "suspected spam ip"),
        (R.BLOCKED, "connection denied"),
        (R.MESGTOOBIG, "message too large"),
        (R.REJECTED, "suspected spam"),
        (R.REJECTED, "mail is rejected by recipients"),
        (R.SPAMDETECTED, "spam is embedded in the email"),
        (R.SPAMDETECTED, "mail content denied"),
        (R.SPEEDING, "mailbox unavailable or access denined"),
        (R.SUSPEND, "is a deactivated mailbox"),
        (R.SYNTAXERROR, "bad address syntax"),
        (R.TOOMANYCONN, "ip frequency limited"),
        (R.TOOMANYCONN, "domain frequency limited"),
        (R.TOOMANYCONN, "sender frequency limited"),
        (R.TOOMANYCONN, "connection frequency limited"),
        (R.USERUNKNOWN, "mailbox not found"),
    ),
    "yahooinc": (
        (R.AUTHFAILURE, "yahoo requires all senders to authenticate with either spf or dkim"),
        (R.BLOCKED, " because the ip is in spamhaus's list;"),
        (R.BLOCKED, "not accepted from ip addresses on spamhaus xbl"),
        (R.NORELAYING, "relaying denied for "),
        (R.NOTCOMPLIANTRFC, "headers are not rfc compliant"),
        (R.POLICYVIOLATION, "not accepted for policy reasons"),
        (R.REJECTED, "temporarily deferred due to unexpected volume or user complaints"),
        (R.REJECTED, "due to unresolvable rfc.5321 domain"),
        (R.REJECTED, " will be permanently deferred"),
        (R.SPEEDING, "user is receiving mail too quickly"),
        (R.SUSPEND, " is no longer valid."),
        (R.SUSPEND, "this mailbox is disabled"),
        (R.SYNTAXERROR, "syntax error in parameters or arguments"),
        (R.TOOMANYCONN, "max message per connection reached"),
        (R.USERUNKNOWN, "dd this user doesn't have a "),
        (R.USERUNKNOWN, "mailbox not found"),
    ),
}
# i.ua writes a numbered help link ("http://mail.i.ua/err/2/").
_IUA_RE = re.compile(r"\.i\.ua/err/(\d{1,2})")
_IUA: dict[str, Reason] = {
    "1": R.NORELAYING,
    "2": R.USERUNKNOWN,
    "3": R.SUSPEND,
    "4": R.MAILBOXFULL,
    "5": R.TOOMANYCONN,
    "6": R.NORELAYING,
    "7": R.BLOCKED,
    "8": R.REJECTED,
    "9": R.BLOCKED,
    "10": R.FILTERED,
}
_DOCOMO: tuple[tuple[Reason, str], ...] = (
    (R.MAILBOXFULL, "552 too much mail data"),
    (R.TOOMANYCONN, "552 too many recipients"),
    (R.SYNTAXERROR, "503 bad sequence of commands"),
    (R.SYNTAXERROR, "504 command parameter not implemented"),
)
_STATUS_RE = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
_REPLY_RE = re.compile(r"^[245]\d\d$")


def provider_of(remote: str | None, recipient: str) -> str | None:
    """The provider whose table reads this recipient's failure, by the remote host or the recipient's domain."""
    host = (remote or "").lower()
    domain = recipient.rpartition("@")[2].lower()
    for name, pieces in _HOSTS:
        if host and any(piece in host for piece in pieces):
            return name
        if domain and any(domain in piece for piece in pieces):
            return name
    return None


def rhost_reason(
    provider: str, diagnostic: str, status: str | None, reply: str | None, stage: str | None
) -> Reason | None:
    """The reason the provider's table gives for this reply, or None when no row matches.

    Args:
        provider: a name from ``provider_of``.
        diagnostic: the reply text.
        status: the enhanced status code, if any.
        reply: the SMTP reply code, if any.
        stage: the SMTP command the reply answered, if known (``stage``).
    """
    text = " ".join(diagnostic.lower().split())
    status = status or ""
    reply = reply or ""
    if provider == "google":
        if not (_STATUS_RE.match(status) and _REPLY_RE.match(reply)):
            return None
        for reason, code, enhanced, phrase in _GOOGLE:
            if phrase in text and code[1:] == reply[1:] and enhanced.find(status[2:], 2) == 2:
                return reason
        return None
    if provider == "microsoft":
        if not _STATUS_RE.match(status):
            return None
        detail = int(status.rsplit(".", 1)[1])
        for reason, code, low, high, phrase in _MICROSOFT:
            if low == high:
                if status != code:
                    continue
            elif not status.startswith(code) or not low <= detail <= high:
                continue
            if phrase in text:
                return reason
        return None
    if provider == "mimecast":
        number = int(reply) if _REPLY_RE.match(reply) else 0
        return next((reason for reason, code, phrase in _MIMECAST if code == number and phrase in text), None)
    if provider == "iua":
        match = _IUA_RE.search(text)
        return _IUA.get(match.group(1)) if match else None
    if provider == "nttdocomo":
        return _docomo(text, status, stage)
    return next((reason for reason, phrase in _PHRASES.get(provider, ()) if phrase in text), None)


def _docomo(text: str, status: str, stage: str | None) -> Reason | None:
    if status in ("5.1.1", "5.0.911"):
        return R.USERUNKNOWN
    if status == "5.2.0":
        return R.FILTERED
    found = next((reason for reason, phrase in _DOCOMO if phrase in text), None)
    if found is not None or status != "5.0.0":
        return found
    return {RCPT: R.USERUNKNOWN, DATA: R.REJECTED}.get(stage or "")
