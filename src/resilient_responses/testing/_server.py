"""Serve a fake Responses API until interrupted: the ``serve-fake`` command's entry point.

The HTTP machinery lives in :mod:`._http` (``fake.serve()`` uses it directly); this module
adds :func:`run_server`, which builds a fake of its own, and re-exports
:class:`~._http.ServerHandle` and :func:`~._http.build_app` for existing imports.
"""

from __future__ import annotations

import threading

from resilient_responses.testing._chaos import Chaos
from resilient_responses.testing._fake import FakeResponsesAPI
from resilient_responses.testing._http import ServerHandle, build_app, require_server_extra

__all__ = ["ServerHandle", "build_app", "run_server"]


def run_server(
    host: str = "127.0.0.1",
    port: int = 8000,
    chaos: str | None = None,
    seed: int = 0,
    *,
    fake: FakeResponsesAPI | None = None,
    log_level: str = "info",
) -> None:
    """Serve a fake Responses API until interrupted (blocking; for the CLI).

    *chaos* names a :meth:`Chaos.mix` (``"default"``, ``"outage"``...) drawn with *seed*;
    ``None`` serves cleanly. Point a client at ``http://<host>:<port>/v1``.

    Example::

        run_server("127.0.0.1", 8080, chaos="default", seed=1)
    """
    require_server_extra()
    import uvicorn

    fake = fake if fake is not None else FakeResponsesAPI(realtime=True)
    if chaos is not None:
        fake.chaos(Chaos.mix(chaos, seed=seed))
    stopping = threading.Event()
    config = uvicorn.Config(
        build_app(fake, stopping),
        host=host,
        port=port,
        http="h11",
        ws="none",
        lifespan="off",
        log_level=log_level,
        timeout_graceful_shutdown=2,
    )
    try:
        uvicorn.Server(config).run()
    finally:
        stopping.set()
