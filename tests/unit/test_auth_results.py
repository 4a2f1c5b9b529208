"""Sender verification (SPF, DKIM, DMARC) through a dict-backed Resolver.

The Resolver is the one seam where a fake is allowed; it goes in as an
argument. DKIM keys are generated here and messages signed with dkimpy.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dkim
import nacl.signing
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bridge.mail.message import ParsedMessage, parse
from bridge.senderauth.dmarc import aligned, organizational_domain, parse_record
from bridge.senderauth.received import (
    DEFAULT_TRUSTED_RECEIVERS,
    TrustedReceivers,
    find_client,
    parse_received,
)
from bridge.senderauth.resolver_protocol import DnsAnswer, MxRecord, Rcode
from bridge.senderauth.results import (
    AuthReport,
    DkimStatus,
    DmarcPolicy,
    DmarcStatus,
    SpfStatus,
    verify_sender,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "auth"
TRUSTED = [".example.com"]
CLIENT_V4 = "93.184.216.34"
CLIENT_V6 = "2606:2800:220:1:248:1893:25c8:1946"
SPF_OK = "v=spf1 ip4:93.184.216.34 ip6:2606:2800:220:1::/64 -all"
DMARC_REJECT = "v=DMARC1; p=reject; rua=mailto:d@sender.example"
SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id"]


class DictResolver:
    """Resolver over ``{(name, type): [records]}``; names in ``tempfail`` time out."""

    def __init__(self, records: dict[Any, Any] | None = None, tempfail: Iterable[str] = ()) -> None:
        self.records = {(n.lower().rstrip("."), t): list(v) for (n, t), v in (records or {}).items()}
        self.tempfail = {n.lower() for n in tempfail}

    def _get(self, name: str, rtype: str) -> DnsAnswer[Any]:
        name = name.lower().rstrip(".")
        if name in self.tempfail:
            return DnsAnswer(Rcode.TEMPFAIL)
        found = self.records.get((name, rtype), [])
        if found or any(n == name for n, _ in self.records):
            return DnsAnswer(Rcode.NOERROR, tuple(found))
        return DnsAnswer(Rcode.NXDOMAIN)

    def txt(self, name: str) -> DnsAnswer[Any]:
        ans = self._get(name, "TXT")
        return DnsAnswer(
            ans.rcode,
            tuple(v.encode() if isinstance(v, str) else v for v in ans.records),
        )

    def a(self, name: str) -> DnsAnswer[Any]:
        return self._get(name, "A")

    def aaaa(self, name: str) -> DnsAnswer[Any]:
        return self._get(name, "AAAA")

    def mx(self, name: str) -> DnsAnswer[Any]:
        ans = self._get(name, "MX")
        return DnsAnswer(ans.rcode, tuple(MxRecord(p, h) for p, h in ans.records))

    def ptr(self, name: str) -> DnsAnswer[Any]:
        return self._get(name, "PTR")


def load(name: str) -> bytes:
    return (DATA / name).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def msg(name: str) -> ParsedMessage:
    return parse(load(name))


def zone(**extra: Any) -> DictResolver:
    records = {
        ("sender.example", "TXT"): [SPF_OK],
        ("_dmarc.sender.example", "TXT"): [DMARC_REJECT],
    }
    records.update(extra.pop("records", {}))
    return DictResolver(records, **extra)


@pytest.fixture(scope="module")
def rsa_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505  (fast; RFC 8301 minimum)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def sign(
    raw: bytes,
    pem: bytes,
    domain: str,
    selector: str = "sel",
    algo: bytes = b"rsa-sha256",
) -> bytes:
    sig: bytes = dkim.sign(
        raw,
        selector.encode(),
        domain.encode(),
        pem,
        include_headers=SIGNED_HEADERS,
        signature_algorithm=algo,
    )
    return sig + raw


# -- Received parsing ----------------------------------------------------------

RECEIVED_FORMATS = [
    (  # Postfix
        "from mail.sender.example (mail.sender.example [93.184.216.34]) by mx.example.com (Postfix) with ESMTPS id 4A; Mon, 1 Jan 2024",
        ("mx.example.com", "mail.sender.example", CLIENT_V4),
    ),
    (  # Postfix, HELO is an address literal chosen by the client: the recorded IP wins
        "from [6.6.6.6] (unknown [93.184.216.34]) by mx.example.com (Postfix) with ESMTP id X; date",
        ("mx.example.com", "[6.6.6.6]", CLIENT_V4),
    ),
    (  # Exim, host name verified, HELO differs, port logged
        "from mail.sender.example ([93.184.216.34]:25 helo=smtp.sender.example) by mx.example.com with esmtps (Exim 4.96) id 1r; date",
        ("mx.example.com", "smtp.sender.example", CLIENT_V4),
    ),
    (  # Exim, no reverse DNS, HELO is a literal naming another IP
        "from [93.184.216.34] (port=1234 helo=[6.6.6.6]) by mx.example.com with esmtp (Exim 4.96) id x; date",
        ("mx.example.com", "[6.6.6.6]", CLIENT_V4),
    ),
    (  # Gmail: rDNS name with trailing dot
        "from mail.sender.example (mail.sender.example. [93.184.216.34]) by mx.google.com with ESMTPS id a1si; Mon, 01 Jan 2024",
        ("mx.google.com", "mail.sender.example", CLIENT_V4),
    ),
    (  # Microsoft: "from HELO (ip)", by host carries its own IP
        "from mail.sender.example (93.184.216.34) by BN8NAM11FT012.mail.protection.outlook.com (10.13.177.77) with Microsoft SMTP Server id 15.20.1; Mon",
        ("bn8nam11ft012.mail.protection.outlook.com", "mail.sender.example", CLIENT_V4),
    ),
    (  # qmail
        "from unknown (HELO mail.sender.example) (93.184.216.34) by mx.example.com with SMTP; 12 Feb 2024",
        ("mx.example.com", "mail.sender.example", CLIENT_V4),
    ),
    (  # qmail with remote user info
        "from rdns.example (HELO helo.example) (user@93.184.216.34) by mx.example.com with SMTP; date",
        ("mx.example.com", "helo.example", CLIENT_V4),
    ),
    (  # Sendmail, IPv6 literal, forged rDNS note
        "from smtp.sender.example (mail.sender.example [IPv6:2606:2800:220:1:248:1893:25c8:1946] (may be forged)) by mx.example.com (8.17.1/8.17.1) with ESMTPS id 4; date",
        ("mx.example.com", "smtp.sender.example", CLIENT_V6),
    ),
    (  # Exim, IPv6 with port
        "from mail.sender.example ([2606:2800:220:1:248:1893:25c8:1946]:41234 helo=smtp.sender.example) by mx.example.com with esmtps id 1; date",
        ("mx.example.com", "smtp.sender.example", CLIENT_V6),
    ),
    (  # IPv4-mapped IPv6 is reported as IPv4
        "from h.example (h.example [IPv6:::ffff:93.184.216.34]) by mx.example.com (Postfix) id 1; date",
        ("mx.example.com", "h.example", CLIENT_V4),
    ),
]


@pytest.mark.parametrize(("value", "expected"), RECEIVED_FORMATS)
def test_parse_received_formats(value, expected):
    hop = parse_received(value)
    assert (hop.by, hop.helo, hop.ip) == expected


@pytest.mark.parametrize(
    "value",
    [
        "(qmail 12345 invoked from network); 12 Feb 2024",
        "by 2002:a05:7000:1234::1 with SMTP id u1csp; Mon, 1 Jan",
    ],
)
def test_parse_received_without_from_clause(value):
    assert parse_received(value).has_from is False


@pytest.mark.parametrize(
    ("patterns", "host", "trusted"),
    [
        ([".google.com"], "mx.google.com", True),
        ([".google.com"], "google.com", False),  # leading dot: subdomains only
        ([".google.com"], "mx.google.com.evil.example", False),
        ([".google.com"], "evilgoogle.com", False),
        (["mx.example.com"], "MX.Example.com.", True),
        (["mx.example.com"], "mx2.example.com", False),
        (["10.0.0.0/8"], "[10.1.2.3]", True),
    ],
)
def test_trusted_receiver_matching(patterns, host, trusted):
    assert TrustedReceivers.from_patterns(patterns).host_matches(host) is trusted


# -- Received walk: which hop is the client ------------------------------------

WALKS = [
    ("postfix.eml", [".example.com"], CLIENT_V4, "mail.sender.example"),
    ("gmail.eml", [], CLIENT_V4, "mail.sender.example"),
    ("exchange_online.eml", [], CLIENT_V6, "mail.sender.example"),
    ("exim_ipv6.eml", ["mx.example.com"], CLIENT_V6, "smtp.sender.example"),
    ("sendmail_literal.eml", ["mx.example.com"], CLIENT_V6, "smtp.sender.example"),
    ("qmail.eml", ["mx.example.com"], CLIENT_V4, "mail.sender.example"),
    ("fastmail.eml", [], CLIENT_V4, "mail.sender.example"),
    # The client claims a Google HELO; the forged field below it is never reached.
    ("forged_chain.eml", [], "6.6.6.6", "mail-ot1-f41.google.com"),
]


@pytest.mark.parametrize(("name", "trusted", "ip", "helo"), WALKS)
def test_walk_finds_first_external_hop(name, trusted, ip, helo):
    tree = msg(name).tree
    received = [str(v) for v in tree.get_all("Received", [])]
    found = find_client(received, TrustedReceivers.from_patterns([*DEFAULT_TRUSTED_RECEIVERS, *trusted]))
    assert found.hop is not None, found.reason
    assert (found.hop.ip, found.hop.helo) == (ip, helo)


def test_walk_stops_at_untrusted_receiver():
    report = verify_sender(msg("untrusted_top.eml"), zone(), TRUSTED)
    assert report.spf.result is SpfStatus.NONE
    assert "untrusted host relay.elsewhere.example" in report.spf.reason


def test_no_received_headers_gives_spf_none():
    raw = b"From: a@sender.example\r\nReturn-Path: <a@sender.example>\r\n\r\nhi\r\n"
    report = verify_sender(parse(raw), zone(), TRUSTED)
    assert (report.spf.result, report.spf.reason) == (
        SpfStatus.NONE,
        "no Received header",
    )


# -- SPF -----------------------------------------------------------------------

SPF_CASES = [
    ("v=spf1 ip4:93.184.216.34 -all", SpfStatus.PASS),
    ("v=spf1 -all", SpfStatus.FAIL),
    ("v=spf1 ~all", SpfStatus.SOFTFAIL),
    ("v=spf1 ?all", SpfStatus.NEUTRAL),
    ("v=spf1 include:missing.example -all", SpfStatus.PERMERROR),
    ("v=spf1 a:mail.sender.example -all", SpfStatus.PASS),
    ("v=spf1 mx -all", SpfStatus.PASS),
    (None, SpfStatus.NONE),
]


@pytest.mark.parametrize(("record", "expected"), SPF_CASES)
def test_spf_results(record, expected):
    records = {
        ("sender.example", "TXT"): [record] if record else ["unrelated text"],
        ("sender.example", "MX"): [(10, "mail.sender.example")],
        ("mail.sender.example", "A"): [CLIENT_V4],
    }
    report = verify_sender(msg("postfix.eml"), DictResolver(records), TRUSTED)
    assert report.spf.result is expected
    assert (report.spf.ip, report.spf.helo, report.spf.domain) == (
        CLIENT_V4,
        "mail.sender.example",
        "sender.example",
    )


def test_spf_ipv6_client_passes():
    report = verify_sender(msg("exim_ipv6.eml"), zone(), ["mx.example.com"])
    assert report.spf.result is SpfStatus.PASS
    assert report.verified  # aligned SPF pass, p=reject record


def test_spf_dns_timeout_is_temperror():
    report = verify_sender(msg("postfix.eml"), zone(tempfail=["sender.example"]), TRUSTED)
    assert report.spf.result is SpfStatus.TEMPERROR


def test_null_sender_checks_helo_identity():
    # RFC 7208 § 2.4: MAIL FROM:<> -> postmaster@HELO; the HELO is the SPF domain.
    records = {("mail.sender.example", "TXT"): ["v=spf1 ip4:93.184.216.34 -all"]}
    report = verify_sender(msg("null_sender.eml"), DictResolver(records), TRUSTED)
    assert (report.spf.result, report.spf.domain) == (
        SpfStatus.PASS,
        "mail.sender.example",
    )


# -- DKIM ------------------------------------------------------------------------


def test_dkim_pass_aligned_verifies(rsa_key):
    pem, record = rsa_key
    raw = sign(load("postfix.eml"), pem, "sender.example")
    resolver = zone(records={("sel._domainkey.sender.example", "TXT"): [record]})
    report = verify_sender(parse(raw), resolver, ["nothing.example"])
    assert report.spf.result is SpfStatus.NONE  # trace not trusted: DKIM alone carries it
    [sig] = report.dkim
    assert (sig.result, sig.domain, sig.selector, sig.aligned) == (
        DkimStatus.PASS,
        "sender.example",
        "sel",
        True,
    )
    assert report.dmarc.result is DmarcStatus.PASS
    assert report.verified


def test_dkim_pass_for_other_domain_is_not_aligned(rsa_key):
    pem, record = rsa_key
    raw = sign(load("postfix.eml"), pem, "bulkmailer.example")
    resolver = zone(records={("sel._domainkey.bulkmailer.example", "TXT"): [record]})
    report = verify_sender(parse(raw), resolver, ["nothing.example"])
    [sig] = report.dkim
    assert (sig.result, sig.aligned) == (DkimStatus.PASS, False)
    assert report.dmarc.result is DmarcStatus.FAIL
    assert not report.verified


def test_dkim_tampered_body_fails(rsa_key):
    pem, record = rsa_key
    raw = sign(load("postfix.eml"), pem, "sender.example") + b"P.S. wire me money\r\n"
    resolver = zone(records={("sel._domainkey.sender.example", "TXT"): [record]})
    [sig] = verify_sender(parse(raw), resolver, TRUSTED).dkim
    assert sig.result is DkimStatus.FAIL


@pytest.mark.parametrize(
    ("dns", "expected"),
    [
        ({}, DkimStatus.PERMERROR),  # no key record
        ({"tempfail": ["sel._domainkey.sender.example"]}, DkimStatus.TEMPERROR),
        (
            {"records": {("sel._domainkey.sender.example", "TXT"): ["v=DKIM1; k=rsa; p="]}},
            DkimStatus.PERMERROR,
        ),
    ],
)
def test_dkim_key_problems(rsa_key, dns, expected):
    pem, _record = rsa_key
    raw = sign(load("postfix.eml"), pem, "sender.example")
    [sig] = verify_sender(parse(raw), zone(**dns), TRUSTED).dkim
    assert sig.result is expected


def test_dkim_rejects_rsa_sha1(rsa_key):
    # RFC 8301 § 3.1: rsa-sha1 signatures must not be treated as valid.
    pem, record = rsa_key
    raw = sign(load("postfix.eml"), pem, "sender.example", algo=b"rsa-sha1")
    resolver = zone(records={("sel._domainkey.sender.example", "TXT"): [record]})
    [sig] = verify_sender(parse(raw), resolver, TRUSTED).dkim
    assert sig.result is DkimStatus.PERMERROR


def test_dkim_rejects_rsa_key_under_1024_bits():
    # RFC 8301 § 3.2.
    # cryptography refuses to generate keys this small; openssl made this one.
    pem = (DATA / "rsa768.pem").read_bytes()
    key = serialization.load_pem_private_key(pem, None)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = sign(load("postfix.eml"), pem, "sender.example")
    record = f"v=DKIM1; p={base64.b64encode(der).decode()}"
    resolver = zone(
        records={("sel._domainkey.sender.example", "TXT"): [record]},
        tempfail=["sender.example"],
    )
    report = verify_sender(parse(raw), resolver, TRUSTED)
    assert report.dkim[0].result is DkimStatus.PERMERROR
    assert not report.verified


def test_dkim_ed25519_passes():
    key = nacl.signing.SigningKey.generate()
    private = base64.b64encode(bytes(key))
    record = f"v=DKIM1; k=ed25519; p={base64.b64encode(bytes(key.verify_key)).decode()}"
    raw = sign(load("postfix.eml"), private, "sender.example", algo=b"ed25519-sha256")
    resolver = zone(records={("sel._domainkey.sender.example", "TXT"): [record]})
    [sig] = verify_sender(parse(raw), resolver, TRUSTED).dkim
    assert (sig.result, sig.aligned) == (DkimStatus.PASS, True)


def test_unsigned_message_has_no_dkim_results():
    assert verify_sender(msg("postfix.eml"), zone(), TRUSTED).dkim == ()


# -- DMARC and the verdict ---------------------------------------------------------


def test_aligned_spf_pass_verifies_and_reports_policy():
    report = verify_sender(msg("postfix.eml"), zone(), TRUSTED)
    assert isinstance(report, AuthReport)
    assert report.spf.result is SpfStatus.PASS
    assert (report.dmarc.result, report.dmarc.policy, report.dmarc.domain) == (
        DmarcStatus.PASS,
        DmarcPolicy.REJECT,
        "sender.example",
    )
    assert report.verified


def test_spoofed_from_with_spf_pass_for_envelope_is_not_verified():
    records = {("_dmarc.paypal.example", "TXT"): ["v=DMARC1; p=reject"]}
    report = verify_sender(msg("spoofed_from.eml"), zone(records=records), TRUSTED)
    assert report.spf.result is SpfStatus.PASS  # for sender.example, not paypal.example
    assert report.from_domain == "paypal.example"
    assert (report.dmarc.result, report.dmarc.policy) == (
        DmarcStatus.FAIL,
        DmarcPolicy.REJECT,
    )
    assert not report.verified


def test_spoofed_from_without_dmarc_record_is_not_verified():
    report = verify_sender(msg("spoofed_from.eml"), zone(), TRUSTED)
    assert report.dmarc.result is DmarcStatus.NONE
    assert not report.verified


def test_dmarc_record_found_at_organizational_domain():
    # From mail.sender.co.uk: no _dmarc there, PSL org domain is sender.co.uk; sp= applies.
    records = {
        ("sender.co.uk", "TXT"): ["v=spf1 ip4:93.184.216.34 -all"],
        ("_dmarc.sender.co.uk", "TXT"): ["v=DMARC1; p=reject; sp=quarantine; pct=50"],
    }
    report = verify_sender(msg("subdomain_couk.eml"), DictResolver(records), TRUSTED)
    assert (
        report.dmarc.result,
        report.dmarc.policy,
        report.dmarc.domain,
        report.dmarc.pct,
    ) == (
        DmarcStatus.FAIL,
        DmarcPolicy.QUARANTINE,
        "sender.co.uk",
        50,
    )
    assert not report.verified  # SPF passed for sender.example, not sender.co.uk


def test_strict_spf_alignment_rejects_subdomain():
    records = {
        ("bounce.sender.example", "TXT"): [SPF_OK],
        ("_dmarc.sender.example", "TXT"): ["v=DMARC1; p=reject; aspf=s"],
    }
    raw = load("postfix.eml").replace(
        b"<alice@sender.example>\r\nDelivered",
        b"<b@bounce.sender.example>\r\nDelivered",
    )
    report = verify_sender(parse(raw), DictResolver(records), TRUSTED)
    assert report.spf.result is SpfStatus.PASS
    assert report.dmarc.result is DmarcStatus.FAIL
    relaxed = {**records, ("_dmarc.sender.example", "TXT"): ["v=DMARC1; p=reject"]}
    assert verify_sender(parse(raw), DictResolver(relaxed), TRUSTED).verified


def test_dmarc_dns_failure_is_temperror():
    report = verify_sender(msg("postfix.eml"), zone(tempfail=["_dmarc.sender.example"]), TRUSTED)
    assert report.dmarc.result is DmarcStatus.TEMPERROR
    assert not report.verified


@pytest.mark.parametrize(
    ("name", "reason"),
    [("multiple_from.eml", "2 From addresses"), ("no_from.eml", "no From header")],
)
def test_from_must_be_exactly_one_address(name, reason):
    report = verify_sender(msg(name), zone(), TRUSTED)
    assert report.spf.result is SpfStatus.PASS
    assert report.from_domain is None
    assert report.dmarc.result is DmarcStatus.PERMERROR
    assert reason in report.dmarc.reason
    assert not report.verified


def test_provider_results_are_reported_not_trusted():
    report = verify_sender(msg("postfix.eml"), zone(), TRUSTED)
    assert report.provider_results == "mx.example.com; spf=pass smtp.mailfrom=sender.example"
    assert "forged.example" not in report.provider_results


def test_gmail_provider_results_below_its_received():
    report = verify_sender(msg("gmail.eml"), zone(), [])
    assert report.provider_results.startswith("mx.google.com; spf=pass")
    assert report.verified


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("v=DMARC1; p=quarantine", DmarcPolicy.QUARANTINE),
        (
            "v=DMARC1; p=bogus; rua=mailto:x@y.example",
            DmarcPolicy.NONE,
        ),  # RFC 7489 § 6.6.3
        ("v=DMARC1; p=bogus", None),
    ],
)
def test_parse_dmarc_record(text, policy):
    parsed = parse_record(text)
    assert (parsed if isinstance(parsed, str) else parsed.policy) == (policy or "record has no valid p= tag")


@pytest.mark.parametrize(
    ("a", "b", "strict", "expected"),
    [
        ("mail.sender.example", "sender.example", False, True),
        ("mail.sender.example", "sender.example", True, False),
        ("a.example.co.uk", "b.example.co.uk", False, True),
        ("example.co.uk", "other.co.uk", False, False),
        ("foo.github.io", "bar.github.io", False, False),  # PSL private section
    ],
)
def test_alignment(a, b, strict, expected):
    assert aligned(a, b, strict) is expected


def test_organizational_domain_uses_psl():
    assert organizational_domain("a.b.example.co.uk") == "example.co.uk"
