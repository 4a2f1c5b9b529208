"""Reading mail: parse raw RFC 5322 bytes once into a ParsedMessage, and check addresses.

- ``message``    the only caller of the standard library's mail parser; ``parse(raw) -> ParsedMessage``.
- ``headers``    header decoding (RFC 2047, address lists, dates, Message-IDs).
- ``parts``      MIME body parts: text, HTML, attachments.
- ``addresses``  address syntax (flanker's RFC 5322 parser).
- ``envelope``   a listing's fields from FETCHed header fields and the body's first bytes.
- ``reply_text`` the new text of a reply (mail-parser-reply).
- ``ids``        message ids.

May import: the standard library, flanker, models, errors. No I/O, no clock.
Purity: all
"""
