"""Last resort: the reason of the documented wording whose words are closest to the diagnostic.

Pure once imported (the index is built from ``documented.WORDINGS`` at import,
a few milliseconds). Consulted only when no code, stage, pattern or status
decided the reason: before it, such a report came out ``undefined``.

Why: most misses on mail the rules were not written from are a wording nobody
listed, and an unlisted wording usually shares its telling words with a listed
one ("... is not accepting connections from you" with "connection refused by
the remote host", "invalid IP" with "IP address ... blacklisted"). The examples
of the documented vocabulary were written from MTA sources and providers'
error lists, never from the scored corpus, so this adds no rule fitted to it.
Measured (BENCHMARKS.md, bounce section): on the records whose once-used
phrase the leave-one-file-out estimate takes away and that then fall to
``undefined``, it names the right class for 7 of 17; alone, as a classifier
of every corpus diagnostic, it answers 432 of 522 and is right for 71% of
them, far below the rules, which is why it comes last and never overrides one.

Method: TF-IDF vectors of words and word pairs, cosine similarity with each
example that shares at least two words with the text, the nearest example's
reason when the similarity reaches ``MIN_SIMILARITY``. Addresses, host names,
bracketed literals and numbers are removed (they name the parties, not the
trouble), and so are the words of the reports' standard sentences. In a
first version without those two guards, the single nearest example did
better than a vote of the nearest three or five (69% against 67%).
"""

from __future__ import annotations

import math
import re
from collections import Counter

from bridge.bounces.documented import WORDINGS
from bridge.bounces.model import Reason

# Below this the nearest example shares little more than boilerplate
# ("message", "delivery"): better to say undefined than to guess.
MIN_SIMILARITY = 0.2
# One shared word is a coincidence ("hello" in "Send hello first"), however
# rare the word: a wording is recognised by at least two.
MIN_SHARED_WORDS = 2

_STOPWORDS = frozenset(
    "a an and are as at be been by can could for from had has have i if in is it its may me might my of on or "
    "our please that the these this to us was we will with would you your".split()
)
# Addresses, links, dotted names (hosts, status codes, IPs) and bracketed
# literals: who and where, not what went wrong.
_NOISE_RE = re.compile(r"\S+@\S+|https?://\S+|[\w-]+(?:\.[\w-]+)+|\[[^\]]*\]|<[^>]*>")
_WORD_RE = re.compile(r"[a-z][a-z']+")
# What every notice says whatever went wrong: the opening sentences of the
# common MTAs' reports (from their sources: Postfix's bounce templates, Exim's
# and Sendmail's DSN texts, qmail-send, Exchange's NDR). Their words tell
# nothing about the cause, and "mail system" alone must not read as a full
# system.
_BOILERPLATE = (
    "This is the mail system at host. I'm sorry to have to inform you that your message could not be "
    "delivered to one or more recipients. It's attached below. For further assistance, please send mail to "
    "postmaster. If you do so, please include this problem report. You can delete your own text from the "
    "attached returned message. The mail system",
    "This message was created automatically by mail delivery software. A message that you sent could not be "
    "delivered to one or more of its recipients. This is a permanent error. The following address(es) failed",
    "The original message was received at from. The following addresses had permanent fatal errors. "
    "Transcript of session follows. Returned mail: see transcript for details",
    "Hi. This is the qmail-send program at. I'm afraid I wasn't able to deliver your message to the following "
    "addresses. This is a permanent error; I've given up. Sorry it didn't work out.",
    "Delivery has failed to these recipients or groups. Diagnostic information for administrators: "
    "Generating server: Remote server returned. Original message headers",
    "Undelivered Mail Returned to Sender. Delivery Status Notification (Failure). Mail Delivery Subsystem",
)

Vector = dict[str, float]


def _terms(text: str, ignored: frozenset[str] = frozenset()) -> Counter[str]:
    words = [w for w in _WORD_RE.findall(_NOISE_RE.sub(" ", text.lower())) if w not in _STOPWORDS]
    terms = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    return Counter(t for t in terms if t not in ignored)


_UNTELLING = frozenset(term for text in _BOILERPLATE for term in _terms(text))


def _vector(terms: Counter[str], idf: dict[str, float]) -> Vector:
    weights = {t: (1.0 + math.log(n)) * idf[t] for t, n in terms.items() if t in idf}
    norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
    return {t: w / norm for t, w in weights.items()}


def _index() -> tuple[dict[str, float], tuple[tuple[Reason, Vector], ...]]:
    examples = [(w.reason, _terms(w.example, _UNTELLING)) for w in WORDINGS]
    document_frequency: Counter[str] = Counter()
    for _, terms in examples:
        document_frequency.update(terms.keys())
    total = len(examples)
    idf = {t: math.log((total + 1) / (n + 1)) + 1.0 for t, n in document_frequency.items()}
    return idf, tuple((reason, _vector(terms, idf)) for reason, terms in examples)


_IDF, _EXAMPLES = _index()


def nearest_reason(text: str) -> Reason | None:
    """Return the reason of the documented example most similar to text, or None below ``MIN_SIMILARITY``."""
    query = _vector(_terms(text, _UNTELLING), _IDF)
    if not query:
        return None
    best, similarity = None, 0.0
    for reason, example in _EXAMPLES:
        shared = [term for term in query if term in example]
        if sum(" " not in term for term in shared) < MIN_SHARED_WORDS:
            continue
        score = sum(query[term] * example[term] for term in shared)
        if score > similarity:
            best, similarity = reason, score
    return best if similarity >= MIN_SIMILARITY else None
