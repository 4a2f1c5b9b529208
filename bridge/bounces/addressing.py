"""Mailbox, address and host wordings: which words of a refusal are about the recipient's address.

Pure: no I/O. Owns the ordered patterns for moved, sender-refused, suspended
and full mailboxes, size limits, hosts that take no mail, unknown hosts and
unknown users, as Postfix, Exim, Sendmail, qmail, Exchange and the large
providers word them. ``wordings`` puts them after the specific causes of
``causes`` and before the content, protocol and transport wordings.
"""

from __future__ import annotations

import re

from bridge.bounces.model import Reason
from bridge.bounces.phrases import alternation

R = Reason


# Ordered: earlier rules win (a moved or suspended mailbox is also "unknown"
# to some servers, and a sender refusal often names a missing domain).
ADDRESS_RULES: tuple[tuple[Reason, re.Pattern[str]], ...] = (
    (
        R.HASMOVED,
        alternation(
            r"has (?:been )?moved", r"address (?:has )?changed", r"no longer (?:valid|in use) at", r"new address"
        ),
    ),
    (
        R.REJECTED,
        alternation(
            r"sender (?:address )?(?:\S+ )?(?:rejected|refused|denied|blocked|invalid|unknown|verify failed)",
            r"(?:domain of )?sender (?:address |domain )?(?:does not|doesn't|must) (?:exist|resolve)",
            r"sender verif",
            r"invalid sender",
            r"bad sender",
            r"unknown sender",
            r"mail from .*(?:rejected|refused)",
            r"envelope sender",
            r"sender domain",
            r"from address .* (?:rejected|not allowed|invalid)",
            # A complaint about the From: header's domain is about the sender
            # (GoDaddy "From: Domain is invalid. Provide a valid From:").
            r"from:? (?:header )?(?:domain|address) (?:is )?(?:invalid|not valid|does not exist)",
            r"return path",
            r"not permitted to send",
            r"your (?:email|e-mail) address .* (?:blocked|rejected)",
            r"sender is not allowed",
            r"group you tried to contact",
            r"not have permission to post",
            r"purported responsible address",
            # Gmail's "Send mail as" alias whose SMTP settings failed.
            r"send mail as",
            # A list manager refusing a post from a non-member.
            r"not a member of (?:this|the) (?:mailing )?list",
        ),
    ),
    (
        R.SUSPEND,
        alternation(
            r"(?:account|mailbox|user|address)(?: \S+)? (?:is |has been )?(?:disabled|suspended|inactive|deactivated|"
            r"locked|frozen|closed|expired|terminated|deleted|not active|on hold|blocked)",
            r"(?<!temporarily )suspended",
            r"deactivated",
            r"inactive (?:account|mailbox|user)",
            r"disabled (?:account|mailbox|user)",
            r"not (?:an )?active",
            r"mailbox unavailable.*(?:disabled|suspend)",
            r"has been disabled",
        ),
    ),
    (
        R.MAILBOXFULL,
        alternation(
            r"mail ?box (?:is )?(?:full|over|exceed)",
            r"(?:over|exceeded?|exceeds|reached) (?:the |its |their |his |her |your )?(?:storage |mailbox |disk )?quota",
            r"quota (?:exceeded|exceed|full|reached|violation)",
            r"over ?quota",
            r"exceeded storage allocation",
            r"(?:mailbox|inbox|mail ?folder|account) (?:size )?(?:limit )?(?:is )?(?:full|exceeded)",
            r"too much mail",
            r"not enough (?:storage|space)",
            r"insufficient (?:storage|space)",
            r"out of (?:storage|space)",
            r"full mailbox",
            r"disk quota",
            r"mailbox size limit",
            r"user(?:'s)? (?:mailbox )?(?:is )?full",
            r"storage (?:limit|quota|space)",
            r"can ?not store",
            r"exceed(?:ed|s)? (?:the )?mailbox",
            r"box full",
        ),
    ),
    (
        R.SYSTEMFULL,
        alternation(
            r"(?:system|disk|file ?system|server) (?:is )?full", r"insufficient system storage", r"no space left"
        ),
    ),
    (R.EXCEEDLIMIT, alternation(r"exceeds? (?:the )?(?:size|message|maximum) .*limit", r"message length exceeds")),
    (
        R.MESGTOOBIG,
        alternation(
            r"(?:message|mail|size) (?:is |was )?too (?:big|large)",
            r"message size exceeds",
            r"size (?:limit )?exceeded",
            r"exceeds (?:the )?(?:maximum|max) (?:message )?size",
            r"message (?:file )?too large",
            r"too big for",
        ),
    ),
    (
        R.NOTACCEPT,
        alternation(
            r"does not accept (?:e-?mail|mail)",
            r"(?:not|isn't) accepting (?:e-?mail|mail|messages|network)",
            r"accepts? no mail",
            r"null mx",
            r"no mail(?:box)? is accepted",
        ),
    ),
    (
        R.HOSTUNKNOWN,
        alternation(
            r"host (?:or domain name )?(?:not found|unknown)",
            # "553 neko.example.com does not exist": a bare host name refused.
            r"^\W*(?:[45]\d\d\s+)?[a-z0-9-]+(?:\.[a-z0-9-]+)+\.? (?:does not|doesn't) exist",
            r"\s[a-z0-9-]+(?:\.[a-z0-9-]+)+\.? (?:does not|doesn't) exist",
            r"unknown host",
            r"name or service not known",
            r"domain (?:name )?(?:not found|does not exist|doesn't exist|unknown|is invalid)",
            r"no such domain",
            r"unrouteable (?:mail )?domain",
            r"unroutable domain",
            r"no (?:valid )?mx",
            r"mx (?:record|lookup)",
            r"dns (?:error|lookup failed)",
            r"non-?existent (?:host|domain)",
            r"nxdomain",
            r"host \S+ not found",
            r"unknown domain",
            r"recipient domain .* (?:invalid|not exist)",
            r"illegal host",
            r"no route for",
            r"domain (?:is )?not reachable",
            # Exim's router verdict "Unrouteable address": no router found a
            # way to the domain; the taxonomy files it under the host, not
            # the mailbox (Sisimai's HostUnknown and its Exim table).
            r"unrout(?:e)?able address",
            r"mail domain mentioned in (?:the )?e-?mail address is unknown",
            r"(?:recipient )?domain must exist",
        ),
    ),
    (
        R.USERUNKNOWN,
        alternation(
            r"user(?:name)? (?:\S+ )?(?:unknown|not found|not exist|does not exist|doesn't exist|invalid)",
            r"unknown (?:user|recipient|mailbox|address|local[- ]part|alias|account)",
            r"no such (?:user|mailbox|recipient|address|account|person|local user)",
            # One word may stand between ("recipient address unknown"), but
            # not a machine: "recipient server unavailable" is the server's
            # trouble, not the mailbox's.
            r"(?:mailbox|recipient|address|account|user|e-?mail address)(?: (?!server|host|system|domain)\S+)? (?:is |was )?(?:unknown|not found|invalid|unavailable|not valid|does(?: not|n't) exist|not exist|nonexistent|non-existent|not recogni[sz]ed)",
            r"invalid (?:recipient|mailbox|address|user|account)",
            # Gmail: "The email account that you tried to reach does not exist."
            r"(?:account|mailbox|address) (?:that )?you (?:tried|are trying) to reach (?:does not|doesn't) exist",
            r"invalid (?:\w+ ){0,2}user ?id",
            r"check if (?:the )?address is correct",
            r"not a (?:valid|known) (?:user|mailbox|recipient)",
            r"no mailbox",
            r"mail ?box not found",
            r"no account",
            r"(?:does not|doesn't) have an? .*account",
            r"not listed in",
            r"recipient name is not recognized",
            r"bad destination",
            r"address (?:does not|doesn't) exist",
            r"not our customer",
            r"no valid recipients",
            r"undeliverable address",
            r"bad recipient",
            r"addressee unknown",
            r"unknown or illegal alias",
            r"no longer (?:valid|available|exists)",
            r"destination (?:address )?(?:unknown|invalid)",
            r"no user",
            r"user (?:doesn't|does not) exist",
            r"not a valid (?:mail|e-?mail)",
            r"delivery to the following recipient failed permanently",
            r"could not be found",
            r"there is no one at this address",
            r"is not a valid",
            r"address lookup failed",
            r"relay access denied.*unknown",
        ),
    ),
)
