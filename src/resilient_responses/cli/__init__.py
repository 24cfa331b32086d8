"""The ``resilient-responses`` command (``python -m resilient_responses`` too).

Sub-commands: ``demo`` (raw SDK vs a naive retry loop vs this library, on the embedded fake
API), ``serve-fake`` (the fake Responses API over HTTP). The command sits on top of the
library and its testing kit; nothing in the engine imports it.
"""

from ._main import build_parser, main

__all__ = ["build_parser", "main"]
