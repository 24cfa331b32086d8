"""Shared helpers for the stream tests: clients on a fresh fake, fault strategies, checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault, VirtualClock

MODEL = "gpt-5-mini"
LIFECYCLE = frozenset({"response.created", "response.queued", "response.in_progress"})
TERMINAL = frozenset({"response.completed", "response.failed", "response.incomplete", "error"})
# Idle timeout used with virtual stalls: any stall longer than this fires a ReadTimeout.
IDLE = 1.0
STALL_SECONDS = 5.0


Clock = VirtualClock  # per-example virtual time (Hypothesis cannot use ``vtime``)


def resilience(clock: Clock, **config: Any) -> rr.Resilience:
    """A ``Resilience`` on virtual time; *config* overrides the defaults."""
    return rr.Resilience(sleep=clock.sleep, clock=clock.clock, **config)


def aresilience(clock: Clock, **config: Any) -> rr.Resilience:
    """The async twin of :func:`resilience` (an awaitable sleep)."""
    return rr.Resilience(sleep=clock.asleep, clock=clock.clock, **config)


def request_kwargs(words: int, *, background: bool, text_input: str = "hi") -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model": MODEL,
        "input": text_input,
        "metadata": {"fake_output_words": str(words)},
    }
    if background:
        kwargs.update(background=True, store=True)
    return kwargs


def fault_free_text(words: int, text_input: str = "hi") -> str:
    """The text a clean stream of the same request delivers (from a separate fake)."""
    fake = FakeResponsesAPI()
    with fake.client(max_retries=0) as client:
        events = list(
            client.responses.create(
                **request_kwargs(words, background=False, text_input=text_input), stream=True
            )
        )
    assert events[-1].type == "response.completed"
    return delta_text(events)


def drain(events: Any, into: list[Any]) -> list[Any]:
    """Collect events one by one, so those seen before an exception survive it."""
    for event in events:
        into.append(event)  # noqa: PERF402
    return into


def delta_text(events: Sequence[Any]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


def segments(events: Sequence[Any]) -> list[list[Any]]:
    """The consumer's events split at each ``response.created`` (one segment per response)."""
    out: list[list[Any]] = []
    for event in events:
        # A new response begins at its `response.created`; an `error` event sent as the
        # first event of a connection (sequence number 0) begins one too.
        if event.type == "response.created" or event.sequence_number == 0 or not out:
            out.append([])
        out[-1].append(event)
    return out


def check_earlier_segments(parts: list[list[Any]]) -> None:
    """A restart is allowed only while the consumer saw lifecycle events (or a retryable
    declared failure delivered before output, which the engine restarts instead)."""
    for part in parts[:-1]:
        types = [e.type for e in part]
        assert set(types) <= LIFECYCLE, f"a restart replayed output: {types}"


def check_exactly_once(part: list[Any]) -> None:
    """Within one response: sequence numbers 0..n, each once, in order."""
    seqs = [e.sequence_number for e in part]
    assert seqs == list(range(len(seqs))), seqs


def check_complete(events: Sequence[Any], expected: str) -> None:
    """The final response is delivered whole and exactly once."""
    parts = segments(events)
    check_earlier_segments(parts)
    final = parts[-1]
    assert final[0].type == "response.created"
    check_exactly_once(final)
    assert final[-1].type == "response.completed"
    assert delta_text(final) == expected
    assert final[-1].response.output_text == expected


# -- fault strategies -----------------------------------------------------------------------

after = st.integers(min_value=0, max_value=60)

transport_faults = st.one_of(
    st.builds(lambda n: Fault.reset(after_events=n), after),
    st.builds(lambda n: Fault.truncate(after_events=n), after),
    st.builds(lambda n: Fault.stall(after_events=n, seconds=STALL_SECONDS), after),
)

status_faults = st.one_of(
    st.builds(lambda s: Fault.status(429, retry_after=s), st.sampled_from([0.1, 0.5, 1, 2])),
    st.just(Fault.status(500)),
    st.just(Fault.status(503)),
)

DECLARED_CODES = ("server_error", "rate_limit_exceeded", "invalid_prompt")
declared_faults = st.one_of(
    st.builds(
        lambda n, c: Fault.error_event(after_events=n, code=c),
        after,
        st.sampled_from(DECLARED_CODES),
    ),
    st.builds(
        lambda n, c: Fault.failed(after_events=n, code=c), after, st.sampled_from(DECLARED_CODES)
    ),
)

words = st.sampled_from([1, 3, 12, 40])

background_plans = st.lists(st.one_of(transport_faults, status_faults), max_size=6)
plain_plans = st.lists(
    st.one_of(transport_faults, status_faults, declared_faults, st.none()), max_size=6
)


def enough(plan: Sequence[Fault | None]) -> dict[str, Any]:
    """Engine settings a plan cannot exhaust: one attempt per fault and then some, no
    deadline, no breaker (each is tested on its own elsewhere)."""
    return {
        "attempts": len(plan) + 2,
        "deadline": None,
        "breaker": None,
        "stream": rr.StreamPolicy(idle_timeout=IDLE),
    }


def declared_code(event: Any) -> str | None:
    if event.type == "error":
        return str(event.code)
    if event.type == "response.failed":
        return str(event.response.error.code)
    return None


def check_plain_outcome(events: Sequence[Any], error: BaseException | None, expected: str) -> str:
    """The outcome of a plain (non-background) stream under any plan is one of three.

    Returns which: ``"complete"``, ``"interrupted"`` or ``"declared"``.
    """
    parts = segments(events) if events else [[]]
    check_earlier_segments(parts)
    final = parts[-1]
    check_exactly_once(final)
    text = delta_text(final)
    # Never duplicated, never out of order: what was delivered is a prefix of the real text.
    assert expected.startswith(text), (text, expected)
    if error is not None:
        assert isinstance(error, rr.StreamInterruptedError), repr(error)
        assert final, "interrupted before any event: the SDK error is expected instead"
        # A restart was allowed until output: so output was seen before the cut.
        assert any(e.type not in LIFECYCLE for e in final)
        assert error.partial_text == text
        assert error.last_sequence_number == final[-1].sequence_number
        assert error.response_id == final[0].response.id
        assert error.__cause__ is not None or error.reason == "stream_truncated"
        return "interrupted"
    assert final, "a stream ended without any event and without an error"
    last = final[-1]
    assert last.type in TERMINAL, f"silent truncation: last event {last.type}"
    if last.type == "response.completed":
        assert text == expected
        return "complete"
    code = declared_code(last)
    assert code is not None
    output_seen = any(e.type not in LIFECYCLE for e in final[:-1])
    # Retryable declared failures before output are restarted, never delivered.
    assert output_seen or code == "invalid_prompt", (code, [e.type for e in final])
    return "declared"
