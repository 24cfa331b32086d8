"""The decorator: keeps the function's identity, works on methods, retries only server
faults (sync)."""

from __future__ import annotations

import inspect

import openai
import pytest
from openai._base_client import BaseClient

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL, fail_count, sdk_error


def _original(text: str, *, times: int = 1) -> str:
    """Repeat *text*."""
    return text * times


@pytest.mark.parametrize(
    "decorate",
    [rr.resilient, rr.resilient(attempts=2), rr.Resilience()],
    ids=["@resilient", "@resilient(...)", "@Resilience()"],
)
def test_decorator_keeps_name_docstring_and_signature(decorate) -> None:
    """functools.wraps: __name__, __qualname__, __doc__, __wrapped__ and
    inspect.signature are the original's; calling works."""
    decorated = decorate(_original)
    assert decorated.__name__ == "_original"
    assert decorated.__qualname__ == _original.__qualname__
    assert decorated.__doc__ == "Repeat *text*."
    assert decorated.__wrapped__ is _original
    assert inspect.signature(decorated) == inspect.signature(_original)
    assert decorated("ab", times=2) == "abab"


def test_resilient_rejects_a_function_and_config_together() -> None:
    """resilient(fn, attempts=2) is ambiguous: a TypeError, not a silently ignored config."""
    with pytest.raises(TypeError, match="not both"):
        rr.resilient(_original, attempts=2)  # type: ignore[call-overload]


def test_decorator_on_a_method_retries_and_keys_by_qualified_name(vtime) -> None:
    """A decorated method gets self, is retried, and its breaker key is module.Class.method."""
    resilience = rr.Resilience(sleep=vtime.sleep, clock=vtime.clock)

    class Asker:
        def __init__(self) -> None:
            self.calls = 0

        @resilience
        def ask(self, text: str) -> str:
            """Ask."""
            self.calls += 1
            if self.calls < 3:
                raise sdk_error(503, "server_error")
            return text.upper()

    asker = Asker()
    assert asker.ask("hi") == "HI"
    assert asker.calls == 3
    assert Asker.ask.__doc__ == "Ask."
    key = f"{__name__}.{Asker.ask.__qualname__}"
    assert key.endswith("Asker.ask")
    assert fail_count(resilience, key) == 0  # the success reset pybreaker's counter
    assert resilience.breaker_state(key) == "closed"


def test_call_runs_a_function_through_the_engine(vtime) -> None:
    """Resilience.call(fn, *args, **kwargs) retries like the decorator."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(502), Fault.connect_error(), None])
    raw = fake.client(max_retries=0)
    resilience = rr.Resilience(sleep=vtime.sleep, clock=vtime.clock)
    response = resilience.call(raw.responses.create, model=MODEL, input="hi")
    assert response.status == "completed"
    assert len(fake.requests) == 3


def test_value_error_from_the_function_is_not_retried_nor_counted(vtime, logs) -> None:
    """A bug in the caller's code (ValueError) passes through untouched: one call, no
    sleep, no note, no log, the breaker does not count it."""
    calls = []
    resilience = rr.Resilience(
        sleep=vtime.sleep, clock=vtime.clock, breaker=rr.BreakerConfig(key=lambda: "k")
    )

    @resilience
    def broken() -> None:
        calls.append(1)
        raise ValueError("bug")

    with pytest.raises(ValueError, match="bug") as info:
        broken()
    assert calls == [1]
    assert vtime.sleeps == []
    assert not getattr(info.value, "__notes__", None)
    assert logs == []
    assert fail_count(resilience, "k") == 0


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit, rr.CircuitOpenError])
def test_non_server_exceptions_pass_through_untouched(exc_type: type[BaseException], vtime) -> None:
    """KeyboardInterrupt, SystemExit and the library's own errors are re-raised at once."""
    calls = []
    exc = exc_type("k", 1.0) if exc_type is rr.CircuitOpenError else exc_type()

    @rr.resilient(sleep=vtime.sleep, clock=vtime.clock)
    def boom() -> None:
        calls.append(1)
        raise exc

    with pytest.raises(exc_type) as info:
        boom()
    assert info.value is exc
    assert calls == [1]


def test_decorated_call_reraises_the_last_sdk_error_after_attempts(vtime) -> None:
    """Each attempt raises a fresh SDK error; the last one is re-raised, with the note."""
    raised: list[openai.APIStatusError] = []

    @rr.resilient(attempts=3, sleep=vtime.sleep, clock=vtime.clock)
    def fail() -> None:
        raised.append(sdk_error(500, "server_error"))
        raise raised[-1]

    with pytest.raises(openai.InternalServerError) as info:
        fail()
    assert len(raised) == 3
    assert info.value is raised[-1]
    assert "gave up after 3 attempts" in "\n".join(info.value.__notes__)
    assert not getattr(raised[0], "__notes__", None)


def test_decorator_warns_once_when_the_wrapped_sdk_client_retries_too(
    monkeypatch: pytest.MonkeyPatch, vtime, logs
) -> None:
    """The decorator cannot turn the SDK's retries off; when the SDK reports retries (its
    x-stainless-retry-count > 0) it logs sdk_retries_detected once per Resilience, and
    attempts multiply (SDK 3 x ours 2 = 6 requests per call)."""
    monkeypatch.setattr(BaseClient, "_calculate_retry_timeout", lambda *a, **k: 0.0)
    fake = FakeResponsesAPI()
    fake.plan([], then=Fault.status(503))
    raw = fake.client()  # max_retries=2, as a user's client would be

    @rr.resilient(attempts=2, sleep=vtime.sleep, clock=vtime.clock)
    def ask() -> object:
        return raw.responses.create(model=MODEL, input="hi")

    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            ask()
    assert len(fake.requests) == 12
    (warning,) = [e for e in logs if e["event"] == "resilient_responses.sdk_retries_detected"]
    assert warning["log_level"] == "warning"
    assert warning["retries_taken"] == "2"
