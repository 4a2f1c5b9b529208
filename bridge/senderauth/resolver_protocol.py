"""The DNS seam of sender verification: the ``Resolver`` Protocol and its answer types.

Pure: no I/O, no sockets, no clock. This module only declares what SPF, DKIM
and DMARC evaluation may ask of DNS. The production implementation is
``bridge.senderauth.resolver.DnsResolver`` (dnspython); tests and the benchmark pass a
dict-backed fake through the same Protocol. Nothing here performs a lookup.

Answers are values, never exceptions: SPF (RFC 7208 § 4.6.4, § 5) and DMARC
(RFC 7489 § 6.6.3) must tell NXDOMAIN, "name exists but no data" and a
temporary failure apart, so every method returns a ``DnsAnswer`` whose
``rcode`` says which one happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class Rcode(StrEnum):
    """Outcome of one DNS query, as far as mail authentication cares."""

    NOERROR = "noerror"  # records may still be empty: that is NODATA
    NXDOMAIN = "nxdomain"
    TEMPFAIL = "tempfail"  # timeout, SERVFAIL, REFUSED, no reachable server


@dataclass(frozen=True, slots=True)
class MxRecord:
    """One MX record: lower preference is tried first (RFC 5321 § 5.1)."""

    preference: int
    exchange: str  # lower case, no trailing dot


@dataclass(frozen=True, slots=True)
class DnsAnswer(Generic[T]):
    """The records of one query plus how the query ended.

    Attributes:
        rcode: NOERROR (with or without records), NXDOMAIN or TEMPFAIL.
        records: the answer data; empty unless ``rcode`` is NOERROR.
    """

    rcode: Rcode
    records: tuple[T, ...] = ()

    @property
    def is_void(self) -> bool:
        """True for NXDOMAIN or NODATA: a "void lookup" in RFC 7208 § 4.6.4 terms."""
        return self.rcode is not Rcode.TEMPFAIL and not self.records


class Resolver(Protocol):
    """Read-only DNS for mail authentication.

    Every method takes an absolute domain name (a trailing dot is optional) and
    follows CNAMEs, as a recursive resolver does. None of them raises for DNS
    outcomes: NXDOMAIN, NODATA and temporary failures come back as a
    ``DnsAnswer``.
    """

    def txt(self, name: str) -> DnsAnswer[bytes]:
        """Look up TXT records.

        Args:
            name: domain name to query.

        Returns:
            One ``bytes`` per TXT record, its character-strings concatenated
            without separators (RFC 7208 § 3.3, RFC 6376 § 3.6.2.2).
        """
        ...

    def a(self, name: str) -> DnsAnswer[str]:
        """Look up A records; returns IPv4 addresses in dotted-quad text."""
        ...

    def aaaa(self, name: str) -> DnsAnswer[str]:
        """Look up AAAA records; returns IPv6 addresses in compressed text."""
        ...

    def mx(self, name: str) -> DnsAnswer[MxRecord]:
        """Look up MX records, in the order the server returned them."""
        ...

    def ptr(self, name: str) -> DnsAnswer[str]:
        """Look up PTR records.

        Args:
            name: the reverse-lookup name (``4.3.2.1.in-addr.arpa`` or the
                nibble form under ``ip6.arpa``), not an IP address.

        Returns:
            Host names, lower case, without the trailing dot.
        """
        ...
