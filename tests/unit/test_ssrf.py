"""The SSRF policy: URL shapes and which addresses production refuses (table-driven)."""

from __future__ import annotations

import ipaddress

import pytest

from bridge.webhooks import ssrf

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "64:ff9b::808:808",  # NAT64 of a public address
    "2002:808:808::1",  # 6to4 of a public address
]

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("172.31.255.255", "private"),
    ("192.168.0.1", "private"),
    ("169.254.169.254", "link-local"),  # cloud metadata endpoints
    ("100.64.0.1", "special-purpose"),  # carrier-grade NAT
    ("192.0.0.170", "special-purpose"),
    ("192.0.2.10", "private"),  # TEST-NET-1
    ("198.18.0.1", "private"),  # benchmarking
    ("224.0.0.251", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "unique-local"),
    ("fd00:ec2::254", "unique-local"),  # AWS IMDS over IPv6
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "private"),  # documentation
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:10.1.2.3", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::127.0.0.1", "loopback"),  # IPv4-compatible (deprecated)
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("2002:c0a8:101::", "private"),  # 6to4 of 192.168.1.1
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert ssrf.refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_non_public_addresses_are_refused(address, reason):
    refused = ssrf.refusal(ipaddress.ip_address(address))
    assert refused is not None and refused.startswith(reason)


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://hooks.example.com/in", ssrf.Target("https", "hooks.example.com", 443)),
        ("http://hooks.example.com/in?x=1", ssrf.Target("http", "hooks.example.com", 80)),
        ("HTTPS://Hooks.Example.COM:8443/", ssrf.Target("https", "hooks.example.com", 8443)),
        ("http://127.0.0.1:9000/hook", ssrf.Target("http", "127.0.0.1", 9000)),
        ("http://[::1]:9000/hook", ssrf.Target("http", "::1", 9000)),
        ("https://example.com./trailing-dot", ssrf.Target("https", "example.com", 443)),
    ],
)
def test_valid_urls(url, target):
    assert ssrf.check_url(url) == target


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "example.com/hook",
        "https://user:pass@example.com/",
        "https://user@example.com/",
        "https:///nohost",
        "https://example.com/#frag",
        "https://example.com/a b",
        "https://example.com/\r\nX-Injected: 1",
        "https://example.com:99999/",
        "https://example.com:port/",
        "https://bücher.example/",
        "https://example.com/" + "a" * ssrf.MAX_URL_LENGTH,
    ],
)
def test_invalid_urls_are_refused(url):
    with pytest.raises(ValueError):
        ssrf.check_url(url)


@pytest.mark.parametrize(("value", "literal"), [("10.0.0.1", True), ("::1", True), ("example.com", False)])
def test_parse_address(value, literal):
    assert (ssrf.parse_address(value) is not None) is literal
