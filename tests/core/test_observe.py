"""observe_calls: each call that ends in the observing context is reported once, with the
requests it sent; concurrent tasks see only their own calls."""

from __future__ import annotations

import asyncio

import openai
import pytest

import resilient_responses as rr
from resilient_responses.events import CallReport, observe_calls
from resilient_responses.testing import FakeResponsesAPI, Fault, set_testing

MODEL = "gpt-5-mini"


def test_a_retried_call_is_reported_once_with_its_requests() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(500), Fault.status(503)])
    client = rr.ResilientOpenAI(fake.client(), resilience=rr.Resilience(breaker=None))
    reports: list[CallReport] = []
    with set_testing(True), observe_calls(reports.append):
        client.responses.create(model=MODEL, input="hi")
    assert len(reports) == 1
    (report,) = reports
    assert (report.ok, report.attempts, report.model, report.error) == (True, 3, MODEL, None)
    assert len(fake.requests) == 3


def test_a_failed_call_reports_its_error_and_nothing_outside_the_context() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(401)])
    client = rr.ResilientOpenAI(fake.client(), resilience=rr.Resilience(breaker=None))
    reports: list[CallReport] = []
    with observe_calls(reports.append), pytest.raises(openai.AuthenticationError) as raised:
        client.responses.create(model=MODEL, input="hi")
    client.responses.create(model=MODEL, input="after")  # not observed
    assert [(r.ok, r.attempts) for r in reports] == [(False, 1)]
    assert reports[0].error is raised.value


async def test_concurrent_tasks_observe_only_their_own_calls() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(500)] * 3)
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=rr.Resilience(breaker=None))

    async def one(index: int) -> list[CallReport]:
        reports: list[CallReport] = []
        with observe_calls(reports.append):
            stream = await client.responses.create(model=MODEL, input=str(index), stream=True)
            async for _ in stream:
                pass
        return reports

    with set_testing(True):
        results = await asyncio.gather(*(one(i) for i in range(6)))
    assert all(len(r) == 1 and r[0].ok for r in results)
    assert sum(r[0].attempts for r in results) == len(fake.requests) == 9
