"""Diagnostic wordings that name a specific cause: tried before the generic ones.

Pure: no I/O. Resolver, PTR, TLS, reputation, rate-limit, authentication,
relay, virus, spam and block-list wordings (RFC 7372 / RFC 8601 vocabulary,
the texts of the large mailbox providers and of Postfix, Exim, Sendmail).
Servers append generic words ("rejected", "user unknown") to nearly every
refusal, so these come first. ``wordings`` joins them with the rest.
"""

from __future__ import annotations

import re

from bridge.bounces.model import Reason
from bridge.bounces.phrases import alternation

R = Reason


# The recipient (or its provider on the recipient's behalf) chose not to take
# mail from this sender: the mailbox exists, so it is a filter even when the
# server answers with an address code such as 5.1.1 (Facebook "RCP-P2 ...
# Refused due to recipient preferences", AOL "recipient is only accepting
# mail from specific email addresses", "you have been blocked by the
# recipient"). ``reasons`` lets it overrule the status code.
RECIPIENT_CHOICE_RE = alternation(
    r"recipient(?:'s)? preferences",
    r"blocked by (?:the )?recipient",
    r"recipient has (?:blocked|refused|rejected) (?:you|your|the sender|this sender|mail)",
    r"only accepting mail from specific",
    r"(?:user|recipient) refuses to (?:receive|accept)",
    r"rejected due to (?:user|recipient) (?:rules|settings|filters?)",
)

# Ordered: earlier rules win. Specific causes (authentication, PTR, relay,
# sender-side rejections) come before the broad "user unknown" and "blocked"
# wordings that remote servers append to nearly every refusal.
SPECIFIC_RULES: tuple[tuple[Reason, re.Pattern[str]], ...] = (
    (R.FILTERED, RECIPIENT_CHOICE_RE),
    # A named PTR problem is the cause even when the greeting also says
    # "no SMTP service" (RFC 7601 § 2.7.3 iprev; RFC 7372 X.7.25).
    (R.REQUIREPTR, alternation(r"\bptr (?:resource )?record", r"reverse dns")),
    # Postfix's resolver says "Host not found, try again" for a DNS lookup
    # that failed temporarily (TRY_AGAIN, src/dns/dns_lookup.c); the
    # permanent answer is a bare "Host not found", read as an unknown host.
    (R.NETWORKERROR, alternation(r"host not found, try again")),
    # cPanel Exim rewrites "Unrouteable address" into this hedge; it lists
    # blacklisting as one guess, but the routing failure is the fact.
    (R.HOSTUNKNOWN, alternation(r"account or domain may not exist")),
    (R.NOTACCEPT, alternation(r"(?:does not|doesn't) receive (?:e-?mail|mail)", r"no smtp service")),
    # A list manager's loop guard (fml "Duplicated Message-ID"): the list's
    # own system stopped the post, not the message format.
    (R.SYSTEMERROR, alternation(r"duplicated message-id")),
    # RFC 3207 / RFC 8689: the peer cannot or will not speak TLS.
    (
        R.FAILEDSTARTTLS,
        alternation(
            r"(?:does not|doesn't) support (?:start)?tls", r"starttls (?:is )?required", r"tls (?:is )?required"
        ),
    ),
    # IP reputation beats the rate limit it causes (Microsoft 4.7.650,
    # Yahoo "TSS04 ... user complaints").
    (R.BADREPUTATION, alternation(r"reputation", r"user complaints")),
    # Gmail's two permanent DNS verdicts name a domain that has no mail
    # host ("DNS Error: Domain name not found", "... returned answer with
    # no data"): Sisimai's Gmail table files them as hostunknown, unlike
    # a failed lookup (below).
    (R.HOSTUNKNOWN, alternation(r"dns error: domain name not found", r"dns server returned answer with no data")),
    # Resolver failures are network trouble on the sending side, even when
    # they end with "domain not found" (Google's "DNS Error: ... lookup").
    (R.NETWORKERROR, alternation(r"dns error", r"dns (?:query|lookup) failed", r"dns type '?mx")),
    (R.POLICYVIOLATION, alternation(r"protocol violation")),
    (R.NOTCOMPLIANTRFC, alternation(r"multiple addresses in from")),
    (R.SYSTEMFULL, alternation(r"insufficient (?:disk space|system (?:storage|resources))")),
    (R.EXPIRED, alternation(r"in the queue too long", r"too long in (?:the )?queue")),
    # Exchange Online directory-based edge blocking: the address is unknown.
    (R.USERUNKNOWN, alternation(r"recipient address rejected: access denied")),
    # Messages stored, not sent: a mailbox holding too many is full
    # (web.de "User has too many messages on the server").
    (
        R.MAILBOXFULL,
        alternation(
            r"too many (?:messages|mails|e-?mails) (?:on the server|in (?:the |this |his |her |their )?(?:mail ?box|inbox))"
        ),
    ),
    (
        R.SPEEDING,
        alternation(
            r"rate limit",
            r"frequency limited",
            r"too many (?:messages|emails|mails|recipients)",
            r"sending (?:rate|quota)",
            r"receiving mail at a rate",
            r"rate that prevents",
            r"exceeded? (?:the )?(?:hourly|daily) ",
        ),
    ),
    (
        R.TOOMANYCONN,
        alternation(
            r"too many (?:connections|concurrent|sessions|smtp sessions)", r"connection limit", r"too many hosts"
        ),
    ),
    (
        R.AUTHFAILURE,
        alternation(
            r"\bdmarc\b",
            r"\bspf\b",
            r"\bdkim\b",
            r"sender policy framework",
            r"unauthenticated email",
            r"not authenticated",
            r"authentication (?:failed|failure|required)",
            r"sender id\b",
            # Microsoft 5.7.515: "doesn't meet the required authentication level".
            r"required authentication level",
        ),
    ),
    (
        R.REQUIREPTR,
        alternation(
            r"reverse (?:dns|lookup|hostname)",
            r"\bptr\b",
            r"\brdns\b",
            r"no ptr",
            r"cannot find your hostname",
            # Forward-confirmed reverse DNS: the name the client gave does not
            # resolve back to its address ("domain [x] mismatches client ip").
            r"mismatches client ip",
            r"not resolve (?:your|the)? ?(?:ip|address)",
            r"client host rejected: cannot find",
            r"ip address has no",
            r"unresolvable",
            r"no reverse",
        ),
    ),
    (
        R.NORELAYING,
        alternation(
            r"relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited|not allowed)",
            r"not (?:permitted|allowed|authori[sz]ed|configured) to relay",
            r"unable to relay",
            r"relay denied",
            r"we do not relay",
            r"no relaying",
            r"cannot relay",
            r"open relay",
            r"relaying denied",
            # qmail-smtpd: the recipient's domain is not one it accepts mail for.
            r"(?:domain|host) isn't in my list of allowed rcpthosts",
        ),
    ),
    (R.VIRUSDETECTED, alternation(r"\bvirus", r"malware", r"infected", r"trojan", r"\bworm\b")),
    (
        R.SPAMDETECTED,
        alternation(
            r"\bspam(?!haus|cop)",  # Spamhaus and SpamCop are block lists (below)
            r"\bjunk mail",
            r"bulk mail",
            r"unsolicited",
            r"content filter",
            r"message (?:content )?(?:was )?(?:rejected|refused) (?:as|because)",
            r"looks suspicious",
            r"scored too high",
        ),
    ),
    # Postfix's prefix for a MAIL FROM restriction: whatever follows ("Access
    # denied", "Domain not found"), the refusal is of the sender.
    (R.REJECTED, alternation(r"sender address rejected")),
    # Tencent (QQ) answers a closed or frozen mailbox with "Mailbox
    # unavailable or access denied": about the account, not the client.
    (R.SUSPEND, alternation(r"mailbox (?:is )?unavailable or access denied")),
    (
        R.BLOCKED,
        alternation(
            r"black ?list",
            # Postfix: the remote greeting was a refusal (RFC 5321 § 3.1 554/421).
            r"refused to talk to me",
            # The client's HELO/EHLO name was refused (Postfix "Helo command
            # rejected: need fully-qualified hostname", Exchange "bad HELO").
            r"(?:helo|ehlo) command rejected",
            r"(?:bad|invalid) (?:helo|ehlo)\b",
            r"service refused?\b",
            r"block ?list",
            r"\brbl\b",
            r"dnsbl",
            r"spamhaus",
            r"spamcop",
            r"sorbs",
            r"barracuda",
            r"(?<!not )listed (?:at|in|on|by)",
            r"invalid ip",
            r"not accepting connections",
            r"\bip (?:address )?(?:\S+ )?(?:is )?(?:blocked|banned|rejected)",
            r"client host (?:\[\S+\] )?(?:rejected|blocked)",
            r"access denied",
            r"connection (?:rejected|refused) by",
            r"banned",
            r"your (?:ip|server|network|host)",
            r"blocked (?:using|by|because|for)",
            r"has been blocked",
            r"temporarily (?:blocked|deferred|rate)",
            r"not allowed to send",
            r"mail server .* rejected",
            r"poor (?:ip )?reputation",
            r"hostname .* not .* reverse",
        ),
    ),
)
