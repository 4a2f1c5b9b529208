"""Plain-language wordings of the common reasons: a subject and what happened to it.

Pure: no I/O. The tables of ``causes`` and ``addressing`` hold the phrases
MTAs are known to write; small and old MTAs, list managers and gateways word
the same facts their own way ("User not known", "This person's account is
exceeding their quota", "Message looping (received 6 times)", "you are
trying to use me as a relay"). These rules read the fact from a subject
word and a predicate a few words apart. They are tried after the specific,
address and expiry wordings and after the documented vocabulary (see
``wordings.DOCUMENTED_AT``), so they decide only what nothing more precise
names. Found missing on real bounces from outside the scored corpus
(``bench/score_external_bounces.py``); none is keyed on one message.
"""

from __future__ import annotations

import re

from bridge.bounces.model import Reason
from bridge.bounces.phrases import alternation

R = Reason

# Up to three words between a subject and its predicate.
_GAP = r"(?:\S+ ){0,3}"
# The same, when none of them says the quota is on sending ("your daily relay
# quota", "sending quota exceeded" are rate limits, not a full mailbox).
_NOT_SENDING = r"(?:(?!relay|send|daily|hourly|rate|outbound)\S+ ){0,3}"

PLAIN_RULES: tuple[tuple[Reason, re.Pattern[str]], ...] = (
    (
        R.MESGTOOBIG,
        alternation(
            rf"(?:exceed|exceeds|exceeded|exceeding|over) {_GAP}(?:max(?:imum)?|size limit)\b{_GAP}(?:message|mail|size)",
            rf"(?:message|mail) {_GAP}(?:too (?:large|big)|size (?:limit )?exceed)",
            rf"(?:max(?:imum)?|allowed) {_GAP}message size",
        ),
    ),
    (
        R.MAILBOXFULL,
        alternation(
            rf"(?:exceed|exceeds|exceeded|exceeding|over|overdrawn|reached|above) {_NOT_SENDING}quota",
            rf"(?:exceed|exceeds|exceeded|exceeding|overdrawn|reached) {_GAP}dis[kc] ?space",
            rf"(?<!relay )(?<!sending )(?<!send )(?<!daily )(?<!hourly )quota {_GAP}(?:exceed|exceeded|full|reached|limit)",
            rf"(?:mailbox|inbox|mail ?box|storage) {_GAP}(?:is |was )?(?:full|over ?full)",
        ),
    ),
    (
        R.NORELAYING,
        alternation(
            # "trying to use me [mx.example] as a relay": the server may name itself.
            r"(?:use|using) (?:me|this (?:server|host|system))\b.{0,80}? as (?:a )?relay",
            rf"relay(?:ing)? {_GAP}(?:denied|refused|prohibited|not (?:allowed|permitted|authori[sz]ed))",
            r"not (?:configured|allowed|permitted|authori[sz]ed) to relay",
        ),
    ),
    (
        R.USERUNKNOWN,
        alternation(
            r"(?:user|mailbox|recipient|addressee|account) (?:is )?not (?:known|listed|registered|here)",
            r"no (?:such )?(?:user|mailbox|recipient|account|addressee) (?:by that name|here|found)",
            r"not an? (?:valid|known|existing) (?:user|mailbox|recipient|address|account)",
            r"(?:does not|doesn't) have (?:a|an|any) (?:final )?(?:e-?mail )?(?:delivery point|mailbox)",
            r"\brcpt (?:(?:does not|doesn't) exist|unknown|not found)",
            r"no mail ?box (?:is )?(?:available|here|exists|found|for)",
        ),
    ),
    (R.HOSTUNKNOWN, alternation(r"domain (?:name )?not found", r"no such domain")),
    (
        R.NETWORKERROR,
        alternation(r"\bmessage (?:is )?looping\b", r"\blooping (?:message|mail)\b", r"\bloop(?:s|ed)? back\b"),
    ),
    (
        R.EXPIRED,
        alternation(
            r"(?:failed|unsuccessful) (?:after )?\d+ (?:delivery )?attempts",
            rf"(?:not|never) (?:been )?(?:collected|picked up|retrieved|delivered) {_GAP}(?:after|within|in) \d+ (?:days|hours)",
            r"(?:delivery )?attempts will continue",
            r"will (?:continue to )?(?:retry|try again|keep trying)",
        ),
    ),
    (
        R.SYSTEMERROR,
        alternation(r"error (?:occurred )?while (?:being )?process", r"while processing (?:the|your) message"),
    ),
    # The same facts in the languages bounces most often come in (French,
    # German, Spanish, Italian, Portuguese, Russian, Chinese, Japanese):
    # local MTAs and providers word their notices in their users' language.
    (
        R.MAILBOXFULL,
        alternation(
            r"bo[iî]te (?:aux lettres |mail )?(?:est )?pleine",
            r"quota (?:est )?d[ée]pass[ée]",
            r"postfach (?:ist )?(?:voll|[üu]berf[üu]llt)",
            r"speicherplatz (?:\S+ ){0,3}(?:ersch[öo]pft|[üu]berschritten|voll)",
            r"(?:buz[óo]n|casilla|casella|caixa(?: postal)?) (?:\S+ ){0,2}(?:llen[oa]|piena|cheia)",
            r"ящик (?:\S+ ){0,2}переполнен",
            r"(?:邮箱|信箱)(?:空间)?已满",
            r"容量(?:が|を)?(?:超過|オーバー|一杯)",
        ),
    ),
    (
        R.USERUNKNOWN,
        alternation(
            r"(?:utilisateur|destinataire|adresse) (?:\S+ ){0,4}(?:inconnue?|n'existe pas|introuvable)",
            r"(?:benutzer|empf[äa]nger|adresse|postfach) (?:\S+ ){0,3}(?:unbekannt|existiert nicht|nicht gefunden)",
            r"(?:usuario|destinatario|direcci[óo]n|cuenta) (?:\S+ ){0,3}(?:desconocid[oa]|no existe|inexistente)",
            r"(?:utente|destinatario|indirizzo) (?:\S+ ){0,3}(?:sconosciuto|non esiste|inesistente)",
            r"(?:usu[áa]rio|destinat[áa]rio|endere[çc]o) (?:\S+ ){0,3}(?:desconhecido|n[ãa]o existe|inexistente)",
            r"(?:пользовател[ья]|адрес|получател[ья]|ящик[а]?) (?:\S+ ){0,3}(?:не найден|не существует|неизвест)",
            r"(?:用户|收件人|帐号|账号|地址)(?:名)?不存在",
            r"(?:宛先|ユーザ|アドレス)(?:ー)?(?:が)?(?:不明|存在しません)",
        ),
    ),
    # A header field RFC 5322 requires, or one the receiver insists on.
    (
        R.NOTCOMPLIANTRFC,
        alternation(
            r"(?:missing|without|no) (?:an? )?(?:valid )?(?:to|from|date|subject|message-id|resent-[a-z]+):? "
            r"(?:header|field)",
        ),
    ),
)
