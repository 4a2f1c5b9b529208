"""Fixtures for integration tests that need DNS: a real local DNS server (dnslib)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.dns import DnsServer


@pytest.fixture(scope="session")
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dns(dns_server: DnsServer) -> DnsServer:
    dns_server.start()
    dns_server.reset()
    return dns_server
