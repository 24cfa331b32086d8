"""Fixtures for the testing-kit tests: a fresh fake and SDK clients wired to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import openai
import pytest

from resilient_responses.testing import FakeResponsesAPI

MODEL = "gpt-5-mini"


@pytest.fixture
def fake() -> FakeResponsesAPI:
    return FakeResponsesAPI()


@pytest.fixture
def client(fake: FakeResponsesAPI) -> Iterator[openai.OpenAI]:
    # SDK retries off: each test decides exactly which requests happen.
    with fake.client(max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(fake: FakeResponsesAPI) -> AsyncIterator[openai.AsyncOpenAI]:
    async with fake.async_client(max_retries=0) as c:
        yield c
