"""The one RFC 3339 writer (``bridge.models.rfc3339``) and the helpers built on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bridge.models import rfc3339
from bridge.review import audit

PARIS_SUMMER = timezone(timedelta(hours=2))


def test_aware_time_in_another_zone_is_written_in_utc():
    moment = datetime(2026, 7, 1, 14, 30, 15, 123456, tzinfo=PARIS_SUMMER)
    assert rfc3339(moment) == "2026-07-01T12:30:15.123Z"


def test_audit_times_are_utc_whatever_zone_the_caller_used():
    # review.audit.iso used to write the caller's offset ("...+02:00") into the audit log.
    moment = datetime(2026, 7, 1, 14, 30, 15, tzinfo=PARIS_SUMMER)
    assert audit.iso(moment) == "2026-07-01T12:30:15.000Z"


def test_naive_time_is_taken_as_utc_not_local():
    assert rfc3339(datetime(2026, 1, 2, 3, 4, 5), "seconds") == "2026-01-02T03:04:05Z"


@pytest.mark.parametrize(
    ("moment", "timespec", "expected"),
    [
        (0.0, "milliseconds", "1970-01-01T00:00:00.000Z"),
        (1_767_225_845.5, "milliseconds", "2026-01-01T00:04:05.500Z"),
        (1_767_225_845.9, "seconds", "2026-01-01T00:04:05Z"),
        (datetime(2026, 1, 1, tzinfo=UTC), "seconds", "2026-01-01T00:00:00Z"),
    ],
)
def test_epoch_and_utc_inputs(moment, timespec, expected):
    assert rfc3339(moment, timespec) == expected
