"""bridge.senderauth.resolver.DnsResolver against a real DNS server (dnslib on loopback).

Also one end-to-end check: verify_sender with the real resolver for a
DKIM-signed message. The DNS server fixtures are in tests/conftest.py.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bridge.mail.message import parse
from bridge.senderauth.resolver import DnsResolver
from bridge.senderauth.resolver_protocol import MxRecord, Rcode
from bridge.senderauth.results import DkimStatus, DmarcStatus, SpfStatus, verify_sender
from tests.servers.dns import DnsServer, SilentUdpServer

DATA = Path(__file__).resolve().parent.parent / "data" / "auth"


class FakeClock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def resolver(dns: DnsServer) -> DnsResolver:
    return DnsResolver(servers=[dns.address], timeout=2.0)


def test_long_txt_record_comes_back_joined(dns, resolver):
    # Over 255 bytes: the server splits it into strings; the resolver joins them.
    value = "v=DKIM1; k=rsa; p=" + "A" * 400
    dns.add("sel._domainkey.example.test", "TXT", value)
    answer = resolver.txt("sel._domainkey.example.test")
    assert answer.rcode is Rcode.NOERROR
    assert answer.records == (value.encode(),)


def test_nxdomain_and_nodata_are_distinct(dns, resolver):
    dns.add("mail.example.test", "A", "198.51.100.7")
    assert resolver.txt("nothing.example.test").rcode is Rcode.NXDOMAIN
    nodata = resolver.txt("mail.example.test")
    assert (nodata.rcode, nodata.records) == (Rcode.NOERROR, ())
    assert nodata.is_void


def test_record_types(dns, resolver):
    dns.add("example.test", "MX", (20, "mx2.example.test"))
    dns.add("example.test", "MX", (10, "mx1.example.test"))
    dns.add("mx1.example.test", "AAAA", "2001:db8::25")
    dns.add("7.100.51.198.in-addr.arpa", "PTR", "mail.example.test")
    assert set(resolver.mx("example.test").records) == {
        MxRecord(10, "mx1.example.test"),
        MxRecord(20, "mx2.example.test"),
    }
    assert resolver.aaaa("mx1.example.test").records == ("2001:db8::25",)
    assert resolver.ptr("7.100.51.198.in-addr.arpa").records == ("mail.example.test",)


def test_answers_are_cached_until_ttl(dns):
    clock = FakeClock()
    resolver = DnsResolver(servers=[dns.address], timeout=2.0, max_ttl=30, clock=clock)
    dns.add("cached.example.test", "TXT", "v=spf1 -all")
    first = resolver.txt("cached.example.test")
    dns.remove("cached.example.test")
    assert resolver.txt("Cached.Example.Test.") == first  # served from cache
    assert dns.queries.count(("cached.example.test", "TXT")) == 1
    clock.now += 31  # past max_ttl, which caps the record's 300 s TTL
    assert resolver.txt("cached.example.test").rcode is Rcode.NXDOMAIN
    assert dns.queries.count(("cached.example.test", "TXT")) == 2


def test_negative_answers_are_cached(dns):
    clock = FakeClock()
    resolver = DnsResolver(servers=[dns.address], timeout=2.0, clock=clock)
    assert resolver.txt("late.example.test").rcode is Rcode.NXDOMAIN
    dns.add("late.example.test", "TXT", "hello")
    assert resolver.txt("late.example.test").rcode is Rcode.NXDOMAIN
    clock.now += 61
    assert resolver.txt("late.example.test").records == (b"hello",)


def test_servfail_is_tempfail_and_not_cached(dns, resolver):
    dns.add("flaky.example.test", "TXT", "ok")
    dns.set_failure("flaky.example.test")
    assert resolver.txt("flaky.example.test").rcode is Rcode.TEMPFAIL
    dns.set_failure("flaky.example.test", failing=False)
    assert resolver.txt("flaky.example.test").records == (b"ok",)


def test_unresponsive_server_times_out():
    silent = SilentUdpServer()
    try:
        resolver = DnsResolver(servers=[silent.address], timeout=0.5)
        started = time.monotonic()
        answer = resolver.txt("example.test")
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert answer.rcode is Rcode.TEMPFAIL
    assert elapsed < 2.0


def test_verify_sender_end_to_end_with_real_dns(dns, resolver):
    # A DKIM-signed message whose SPF, DKIM key and DMARC record all come
    # from the local DNS server over UDP (and TCP for nothing: all fit).
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    dns.add(
        "sel._domainkey.sender.example",
        "TXT",
        f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}",
    )
    dns.add("sender.example", "TXT", "v=spf1 ip4:93.184.216.34 -all")
    dns.add("_dmarc.sender.example", "TXT", "v=DMARC1; p=reject")
    raw = (DATA / "postfix.eml").read_bytes().replace(b"\n", b"\r\n")
    signed = (
        dkim.sign(
            raw,
            b"sel",
            b"sender.example",
            pem,
            include_headers=[b"from", b"to", b"subject"],
        )
        + raw
    )
    report = verify_sender(parse(signed), resolver, [".example.com"])
    assert report.spf.result is SpfStatus.PASS
    assert [(s.result, s.aligned) for s in report.dkim] == [(DkimStatus.PASS, True)]
    assert report.dmarc.result is DmarcStatus.PASS
    assert report.verified
