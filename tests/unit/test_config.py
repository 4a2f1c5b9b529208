"""load_settings: every variable typed, validated, named in its error."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import Environment, EventRetention, Secret, load_settings, parse_dns_servers, parse_event_retention
from bridge.errors import ConfigError

SECRET = "s" * 32


def test_defaults_in_development(tmp_path):
    s = load_settings({"BRIDGE_DATA_DIR": str(tmp_path)})
    assert (s.host, s.port, s.redis_url, s.env) == ("127.0.0.1", 3000, None, Environment.DEVELOPMENT)
    assert s.public_url == "http://127.0.0.1:3000"
    assert s.dns_servers == ()


def test_development_secret_is_generated_once_and_kept(tmp_path):
    first = load_settings({"BRIDGE_DATA_DIR": str(tmp_path)}).secret
    second = load_settings({"BRIDGE_DATA_DIR": str(tmp_path)}).secret
    assert first == second
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0


def test_every_variable_is_read():
    s = load_settings(
        {
            "BRIDGE_REDIS_URL": "redis://10.0.0.1:6380/2",
            "BRIDGE_SECRET": SECRET,
            "BRIDGE_HOST": "0.0.0.0",
            "BRIDGE_PORT": "8080",
            "BRIDGE_PUBLIC_URL": "https://mail.example.com/",
            "BRIDGE_DNS_SERVERS": "127.0.0.1:5353, [::1]:53, 9.9.9.9",
            "BRIDGE_ENV": "production",
            "BRIDGE_DATA_DIR": "/var/lib/mailbridge",
            "BRIDGE_LOG_LEVEL": "debug",
            "BRIDGE_ANALYSIS_PROCESSES": "0",
            "BRIDGE_EVENT_RETENTION": "2d,512KiB",
        }
    )
    assert s.redis_url == "redis://10.0.0.1:6380/2"
    assert s.secret.reveal() == SECRET
    assert (s.host, s.port) == ("0.0.0.0", 8080)
    assert s.public_url == "https://mail.example.com"
    assert s.dns_servers == (("127.0.0.1", 5353), ("::1", 53), ("9.9.9.9", 53))
    assert s.production
    assert s.data_dir == Path("/var/lib/mailbridge")
    assert s.log_level == "DEBUG"
    assert s.analysis_processes == 0
    assert s.event_retention == EventRetention(max_bytes=512 * 1024, max_age_s=2 * 86400)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("16MiB,7d", EventRetention(16 * 1024**2, 7 * 86400)),
        ("100MB", EventRetention(100 * 1000**2, 7 * 86400)),
        ("12h", EventRetention(16 * 1024**2, 12 * 3600)),
        (" 1GiB , 90d ", EventRetention(1024**3, 90 * 86400)),
    ],
)
def test_event_retention_takes_a_size_and_an_age_in_either_order(value, expected):
    assert parse_event_retention(value) == expected
    assert load_settings({"BRIDGE_EVENT_RETENTION": value, "BRIDGE_SECRET": SECRET}).event_retention == expected


@pytest.mark.parametrize("value", ["16", "16MiB,7", "7d,1d", "1MiB,2MiB", "16 mb", "1KiB", "2GiB", "10s", "91d", ","])
def test_event_retention_refuses_what_it_cannot_mean(tmp_path, value):
    with pytest.raises(ConfigError, match="BRIDGE_EVENT_RETENTION"):
        load_settings({"BRIDGE_DATA_DIR": str(tmp_path), "BRIDGE_EVENT_RETENTION": value})


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"BRIDGE_PORT": "70000"}, "BRIDGE_PORT"),
        ({"BRIDGE_PORT": "http"}, "BRIDGE_PORT"),
        ({"BRIDGE_REDIS_URL": "http://x"}, "BRIDGE_REDIS_URL"),
        ({"BRIDGE_ENV": "staging"}, "BRIDGE_ENV"),
        ({"BRIDGE_PUBLIC_URL": "mail.example.com"}, "BRIDGE_PUBLIC_URL"),
        ({"BRIDGE_DNS_SERVERS": "dns.google"}, "BRIDGE_DNS_SERVERS"),
        ({"BRIDGE_DNS_SERVERS": "127.0.0.1:0"}, "BRIDGE_DNS_SERVERS"),
        ({"BRIDGE_LOG_LEVEL": "loud"}, "BRIDGE_LOG_LEVEL"),
        ({"BRIDGE_ANALYSIS_PROCESSES": "-1"}, "BRIDGE_ANALYSIS_PROCESSES"),
        ({"BRIDGE_ANALYSIS_PROCESSES": "many"}, "BRIDGE_ANALYSIS_PROCESSES"),
        ({"BRIDGE_SECRET": "short"}, "BRIDGE_SECRET"),
        ({"BRIDGE_ENV": "production", "BRIDGE_REDIS_URL": "redis://r"}, "BRIDGE_SECRET"),
        ({"BRIDGE_ENV": "production", "BRIDGE_SECRET": SECRET}, "BRIDGE_REDIS_URL"),
    ],
)
def test_bad_values_stop_startup_naming_the_variable(tmp_path, environ, named):
    with pytest.raises(ConfigError) as info:
        load_settings({"BRIDGE_DATA_DIR": str(tmp_path), **environ})
    assert named in str(info.value)


def test_secret_is_masked_in_repr_and_str():
    s = load_settings({"BRIDGE_SECRET": SECRET, "BRIDGE_REDIS_URL": "redis://r"})
    assert SECRET not in repr(s)
    assert SECRET not in str(s.secret)
    assert SECRET not in f"{s.secret}"
    assert Secret(SECRET) == s.secret


def test_dns_server_list_parsing():
    assert parse_dns_servers("") == ()
    assert parse_dns_servers("[2001:db8::1]:5300") == (("2001:db8::1", 5300),)
