"""Auto-replies: RFC 3834 responses and the common vacation formats.

Pure: no I/O. Owns deciding that a message is an automatic reply written by
a person's mailbox (vacation, out of office), as opposed to a delivery
report. Bounces also carry ``Auto-Submitted: auto-replied``, so the
classifier asks this module only after the bounce checks have said no.
"""

from __future__ import annotations

import re

from bridge.bounces.parts import ADDRESS_RE, Message, header

# Subjects of vacation replies in the languages seen in practice.
_SUBJECT_RE = re.compile(
    r"out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?(?:reply|response|respond)|autoreply|"
    r"vacation|on leave|away from (?:my|the) (?:desk|office)|abwesenheit|automatische antwort|"
    r"r[ée]ponse automatique|absence|respuesta autom[aá]tica|fuera de la oficina|risposta automatica|"
    r"fuori sede|resposta autom[aá]tica|automatisch antwoord|afwezig|automatiskt svar|frånvaro|"
    r"automaattinen vastaus|autosvar|automatyczna odpowied|nieobecno|自動応答|自動返信|不在|"
    r"автоматический ответ|отпуск|自动回复|自動回覆|자동 응답",
    re.IGNORECASE,
)
_PRECEDENCE_RE = re.compile(r"^\s*auto[_-]reply\s*$", re.IGNORECASE)
# Headers whose presence (unless "no"/"false"/"0") marks an auto-reply, lower-cased.
_AUTOREPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-auto-response-suppress-reply", "x-vacation")


def is_autoreply(msg: Message) -> bool:
    """Decide whether the message is an automatic reply.

    Args:
        msg: the inbound message tree.

    Returns:
        True for RFC 3834 § 5 ``Auto-Submitted: auto-replied``, the
        X-Autoreply / X-Autorespond family, ``Precedence: auto_reply``, or a
        vacation-style subject.
    """
    # One pass over the header names: each msg.get scans them all, and this
    # runs on every message that is not a bounce.
    present = {name.lower() for name in msg.keys()}
    if "auto-submitted" in present and header(msg, "Auto-Submitted").lower().startswith("auto-replied"):
        return True
    for name in _AUTOREPLY_HEADERS:
        if name in present and header(msg, name).lower() not in ("no", "false", "0"):
            return True
    if "precedence" in present and _PRECEDENCE_RE.match(header(msg, "Precedence")):
        return True
    return bool(_SUBJECT_RE.search(header(msg, "Subject")))


def responder(msg: Message) -> str | None:
    """Return the address that replied (From, else Reply-To or Sender)."""
    for name in ("From", "Reply-To", "Sender"):
        found = ADDRESS_RE.search(header(msg, name))
        if found:
            return found.group(0)
    return None
