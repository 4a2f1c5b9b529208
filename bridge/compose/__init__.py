"""Composing outgoing mail: from a Draft to RFC 5322 / MIME bytes, replies and forwards.

- ``model``  Draft in, Composed out (frozen value types shared by the builder, reply helpers and submit).
- ``build``  the message bytes (headers, Message-ID, multipart structure).
- ``mime``   MIME parts: text, HTML, attachments, encodings.
- ``reply``  In-Reply-To / References / subject and quoting for replies and forwards.

May import: bridge.mail, models, errors and the standard library; no I/O, no clock
(``now`` and a ``unique`` source are passed in).
Purity: all
"""
