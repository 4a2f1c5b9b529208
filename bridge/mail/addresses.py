"""Email address syntax checks (flanker's RFC 5322 parser).

Pure: flanker's ``parse`` is syntax only (its ``validate_address`` would do
DNS, which is never called here). flanker is used rather than a regex because
it handles quoted local parts, IDN domains and display names the way mail
software sees them.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # flanker imports the deprecated cgi/imghdr modules (see test-infra notes).
    warnings.simplefilter("ignore", DeprecationWarning)
    from flanker.addresslib import address as _flanker


def normalize_address(text: str) -> str | None:
    """Return the address with its domain lower-cased, or None when it is not a valid addr-spec."""
    if not text or len(text) > 320 or any(c in text for c in "\r\n"):
        return None
    text = text.strip()
    parsed = _flanker.parse(text, addr_spec_only=True)
    # flanker skips leading junk ("x y@z.com" -> "y@z.com"); an addr-spec must be all of the text.
    if parsed is None or str(parsed.address).lower() != text.lower():
        return None
    return str(parsed.address)
