"""Fault-injection kit: a fake Responses API, faults, chaos, scripted turns, and the
testing switch.

Example::

    from resilient_responses.testing import FakeResponsesAPI, Fault, Reply

    fake = FakeResponsesAPI()
    fake.plan([Fault.status(429, retry_after=1), Fault.reset(after_events=3)])
    client = fake.client(max_retries=0)

    agent = FakeResponsesAPI(turns=[Reply.function_call("get_weather", {"city": "Paris"}),
                                    Reply.text("It is sunny.")])
"""

from resilient_responses._config import set_testing
from resilient_responses.testing._chaos import Chaos
from resilient_responses.testing._clock import VirtualClock
from resilient_responses.testing._fake import FakeResponsesAPI, RecordedRequest
from resilient_responses.testing._faults import Fault
from resilient_responses.testing._quota import Quota
from resilient_responses.testing._redis_server import RedisServer
from resilient_responses.testing._reply import Reply

__all__ = [
    "Chaos",
    "FakeResponsesAPI",
    "Fault",
    "Quota",
    "RecordedRequest",
    "RedisServer",
    "Reply",
    "VirtualClock",
    "set_testing",
]
