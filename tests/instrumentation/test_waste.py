"""Tokens paid for responses that were thrown away are counted again as waste."""

from __future__ import annotations

from decimal import Decimal

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault, set_testing

MODEL = "gpt-5-mini"
# gpt-5-mini, USD per 1M tokens (the seed's prices)
INPUT, OUTPUT = Decimal("0.25"), Decimal("2.50")


def _usd(input_tokens: int, output_tokens: int) -> float:
    return float((INPUT * input_tokens + OUTPUT * output_tokens) / 1_000_000)


def test_a_failed_response_retried_counts_its_tokens_as_waste() -> None:
    fake = FakeResponsesAPI()  # 12 output words per response, 1 input word for "hi"
    fake.plan([Fault.failed(code="server_error")])
    resilience = rr.Resilience()
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    with set_testing(True):
        response = client.responses.create(model=MODEL, input="hi")
    assert response.status == "completed"
    total = resilience.stats().total
    assert total.wasted_output_tokens == 12
    assert total.output_tokens == 24  # paid twice: the failed answer and the good one
    assert total.wasted_cost_usd == _usd(1, 12)
    assert total.cost_usd == _usd(2, 24)


def test_a_stream_restarted_after_a_declared_failure_counts_what_the_failure_billed() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.failed(after_events=2, code="server_error")])  # before any output
    resilience = rr.Resilience()
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    with set_testing(True):
        events = list(client.responses.create(model=MODEL, input="hi", stream=True))
    assert events[-1].type == "response.completed"
    total = resilience.stats().total
    assert total.restarts == 1
    assert total.wasted_output_tokens == 0  # restarted before any output was generated
    assert total.wasted_cost_usd == _usd(1, 0)  # but the prompt was paid
    assert total.cost_usd == _usd(2, 12)


def test_a_delivered_failure_is_paid_but_not_wasted() -> None:
    """A failure delivered to the consumer (not retried) was not thrown away by us."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.failed(code="invalid_prompt")])
    resilience = rr.Resilience()
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    response = client.responses.create(model=MODEL, input="hi")
    assert response.status == "failed"
    total = resilience.stats().total
    assert total.output_tokens == 12
    assert total.wasted_output_tokens == 0
