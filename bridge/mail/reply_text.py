"""The new text of a reply: without the quoted history and the signature (``extractedText``).

Pure. mail-parser-reply (alfonsrv/mail-parser-reply, MIT, maintained, 2025) splits a
plain-text body into the replies it quotes, recognising the "On … wrote:" headers,
``>`` quoting and Outlook's "From: … Sent: …" blocks in a dozen languages, and
splits each reply's signature off. Chosen over email-reply-parser (zapier's port of
GitHub's parser: English only, last release 2020) and talon (Mailgun: unmaintained
since 2017, needs lxml and scikit-learn models). When there is only HTML, its text
is taken first (tags stripped), as clients quote in both.
"""

from __future__ import annotations

import html as html_lib
import re

from mailparser_reply import EmailReplyParser

# The parser's cost grows with the text and with the languages it knows (a 50 KB body with 13 languages:
# ~40 ms; 4 KB with 7: ~3 ms). A reply's new text comes first, so it reads only this much: when the quoted history or a signature starts within it, that is cut off; when not,
# the whole text is new and is returned whole.
SCAN_CHARS = 4096
# The languages whose reply headers and signature markers are recognised (each one costs time on every read).
LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt"]
_TAG = re.compile(r"<(script|style)\b.*?(</\1>|$)|<br\s*/?>|</p>|</div>|<[^>]*>", re.I | re.S)
_BLANKS = re.compile(r"\n{3,}")


def _html_text(html: str) -> str:
    def swap(match: re.Match[str]) -> str:
        tag = match.group(0).lower()
        return "\n" if tag.startswith(("<br", "</p", "</div")) else ""

    return html_lib.unescape(_TAG.sub(swap, html))


def extract(text: str | None, html: str | None = None) -> str | None:
    """The latest reply's own words, or None when the message has no text at all."""
    body = text if text and text.strip() else (_html_text(html) if html else None)
    if body is None:
        return None
    body = body.replace("\r\n", "\n")
    head = body[:SCAN_CHARS]
    try:
        parsed = EmailReplyParser(languages=LANGUAGES).read(head)
    except Exception:  # noqa: BLE001 - a parser failure must not fail the read: the whole text is still right
        return body.strip()
    replies = parsed.replies
    if not replies:
        return body.strip()
    own = _BLANKS.sub("\n\n", replies[0].body.strip())
    if len(body) > len(head) and len(replies) == 1 and not replies[0].signatures:
        return body.strip()  # nothing quoted or signed in the part read: all of it is new
    return own
