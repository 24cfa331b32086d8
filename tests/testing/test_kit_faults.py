"""Fault values: validation, composition, repr, equality, wire details."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest

from resilient_responses.testing import Fault


def test_status_defaults_by_status() -> None:
    assert Fault.status(429).code == "rate_limit_exceeded"
    assert Fault.status(429).error_type == "requests"
    for status in (500, 502, 503, 504):
        fault = Fault.status(status)
        assert (fault.code, fault.error_type) == ("server_error", "server_error")
    assert Fault.status(400).error_type == "invalid_request_error"
    quota = Fault.status(429, code="insufficient_quota")
    assert (quota.code, quota.error_type) == ("insufficient_quota", "insufficient_quota")
    assert "quota" in (quota.message or "")


def test_error_body_shape() -> None:
    body = Fault.status(503, message="down").error_body()
    assert body == {
        "error": {"message": "down", "type": "server_error", "param": None, "code": "server_error"}
    }


def test_retry_after_headers() -> None:
    assert Fault.status(429, retry_after=2).response_headers() == {"retry-after": "2"}
    assert Fault.status(429, retry_after=1.5).response_headers() == {"retry-after": "1.5"}
    assert Fault.status(429, retry_after="soon").response_headers() == {"retry-after": "soon"}
    assert Fault.status(429, retry_after_ms=250).response_headers() == {"retry-after-ms": "250"}
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    header = Fault.status(503, retry_after_date=when).response_headers()["retry-after"]
    assert header == "Wed, 02 Jan 2030 01:04:05 GMT"
    assert parsedate_to_datetime(header) == when
    extra = Fault.status(500, headers={"X-Should-Retry": "false"}).response_headers()
    assert extra == {"x-should-retry": "false"}


@pytest.mark.parametrize(
    ("build", "exc", "words"),
    [
        (lambda: Fault.status(99), ValueError, "status"),
        (lambda: Fault.status(600), ValueError, "100..599"),
        (lambda: Fault.status("429"), TypeError, "status"),  # type: ignore[arg-type]
        (lambda: Fault.status(True), TypeError, "status"),
        (lambda: Fault.status(429, retry_after=-1), ValueError, "retry_after"),
        (lambda: Fault.status(429, retry_after=math.nan), ValueError, "retry_after"),
        (lambda: Fault.status(429, retry_after_ms=math.inf), ValueError, "retry_after_ms"),
        (lambda: Fault.status(429, retry_after_date=datetime(2030, 1, 1)), ValueError, "aware"),
        (lambda: Fault.status(429, retry_after_date="x"), TypeError, "retry_after_date"),  # type: ignore[arg-type]
        (lambda: Fault.status(429, code=5), TypeError, "code"),  # type: ignore[arg-type]
        (lambda: Fault.status(429, headers={"a": 1}), TypeError, "headers"),  # type: ignore[dict-item]
        (lambda: Fault.latency(-0.1), ValueError, "seconds"),
        (lambda: Fault.latency(math.nan), ValueError, "seconds"),
        (lambda: Fault.latency("1"), TypeError, "seconds"),  # type: ignore[arg-type]
        (lambda: Fault.timeout(seconds=-1), ValueError, "seconds"),
        (lambda: Fault.reset(after_events=-1), ValueError, "after_events"),
        (lambda: Fault.truncate(after_events=1.5), TypeError, "after_events"),  # type: ignore[arg-type]
        (lambda: Fault.stall(after_events=1, seconds=-2), ValueError, "seconds"),
        (lambda: Fault.error_event(code=None), TypeError, "code"),  # type: ignore[arg-type]
        (lambda: Fault.failed(after_events=-3), ValueError, "after_events"),
    ],
)
def test_constructors_validate(build: object, exc: type[Exception], words: str) -> None:
    with pytest.raises(exc, match=words):
        build()  # type: ignore[operator]


def test_both_retry_after_forms_rejected() -> None:
    with pytest.raises(ValueError, match="not both"):
        Fault.status(429, retry_after=1, retry_after_date=datetime.now(timezone.utc))


def test_kinds() -> None:
    faults = {
        "status": Fault.status(500),
        "connect_error": Fault.connect_error(),
        "timeout": Fault.timeout(),
        "latency": Fault.latency(0.1),
        "reset": Fault.reset(after_events=1),
        "truncate": Fault.truncate(after_events=1),
        "stall": Fault.stall(after_events=1, seconds=2),
        "error_event": Fault.error_event(after_events=1),
        "failed": Fault.failed(after_events=1),
        "composite": Fault.latency(0.1) + Fault.status(500),
    }
    for kind, fault in faults.items():
        assert fault.kind == kind


def test_compose_flattens_and_validates() -> None:
    combo = (
        Fault.latency(0.1) + Fault.stall(after_events=1, seconds=3) + Fault.reset(after_events=3)
    )
    assert combo.kind == "composite"
    assert [p.kind for p in combo.parts] == ["latency", "stall", "reset"]
    assert combo == Fault.compose(
        Fault.latency(0.1), Fault.stall(after_events=1, seconds=3), Fault.reset(after_events=3)
    )
    assert combo.terminal == Fault.reset(after_events=3)
    assert combo.latency_seconds == pytest.approx(0.1)
    assert Fault.compose(Fault.status(500)) == Fault.status(500)
    assert (Fault.latency(0.1) + Fault.latency(0.2)).latency_seconds == pytest.approx(0.3)
    with pytest.raises(ValueError, match="at most one terminal"):
        Fault.status(500) + Fault.reset(after_events=2)
    with pytest.raises(ValueError, match="at least one"):
        Fault.compose()
    with pytest.raises(TypeError):
        Fault.compose(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Fault.latency(1) + 1


def test_hashable_comparable_and_readable() -> None:
    a = Fault.latency(0.1) + Fault.reset(after_events=3)
    b = Fault.latency(0.1) + Fault.reset(after_events=3)
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b, Fault.status(429)}) == 2
    assert a != Fault.reset(after_events=3)
    assert repr(a) == "Fault.latency(0.1) + Fault.reset(after_events=3)"
    assert repr(Fault.status(429, retry_after=2)) == "Fault.status(429, retry_after=2.0)"
    assert repr(Fault.status(429, code="insufficient_quota")) == (
        "Fault.status(429, code='insufficient_quota')"
    )
    assert (
        repr(Fault.stall(after_events=2, seconds=5)) == "Fault.stall(after_events=2, seconds=5.0)"
    )
    assert repr(Fault.error_event(after_events=1)) == (
        "Fault.error_event(after_events=1, code='server_error')"
    )
    assert repr(Fault.timeout(seconds=3)) == "Fault.timeout(seconds=3.0)"
    assert repr(Fault.connect_error()) == "Fault.connect_error()"


def test_frozen() -> None:
    fault = Fault.status(500)
    with pytest.raises(AttributeError):
        fault.status_code = 502  # type: ignore[misc]
