"""``resilient-responses batch IN.jsonl -o OUT.jsonl``: the batch runner as a command.

Each line of IN.jsonl is one request: a ``responses.create`` body with an optional
``custom_id`` (an OpenAI Batch API line for ``/v1/responses``, ``{"custom_id", "method",
"url", "body"}``, works too). Lines without a ``custom_id`` are named ``line-<n>`` after
their line number.
Each outcome is appended to OUT.jsonl as soon as it exists, and flushed, so an
interrupted run loses nothing that finished; running the same command again skips every
``custom_id`` already in OUT.jsonl (``--retry-failed``: only the successful ones) and
sends the rest. A record that a hard kill cut half-way is dropped on the next run.

One output line::

    {"custom_id": "q1", "line": 1, "ok": true, "attempts": 2, "elapsed_s": 0.41,
     "response": {...the Response...}, "error": null}

``error`` is ``{"type", "message", "status_code", "code", "request_id"}`` when the
call failed. Exit status: 0 every request of this run succeeded, 1 some failed, 2 the
input or the command line is wrong (nothing sent), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import (
    AsyncResilientOpenAI,
    Backoff,
    BreakerConfig,
    ErrorPolicy,
    Outcome,
    Resilience,
    arun_batch,
)
from .._batch import unknown_parameter
from ..testing import Chaos, Fault

__all__ = ["add_batch_parser", "run_batch_command"]

#: The Batch API endpoint a line may name (its body is a responses.create body).
_BATCH_URLS = frozenset({"/v1/responses"})


class InputError(ValueError):
    """IN.jsonl (or OUT.jsonl) cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Line:
    """One request of IN.jsonl."""

    number: int
    custom_id: str
    body: dict[str, Any]


def add_batch_parser(sub: Any, positive_int: Callable[[str], int], seconds: Any) -> None:
    """Register the ``batch`` sub-command on *sub* (an argparse sub-parsers action)."""

    batch = sub.add_parser(
        "batch",
        help="send a JSONL file of responses.create requests, resumably",
        description=(
            "Send every request of IN.jsonl (one responses.create body per line, with an "
            "optional custom_id) through the resilient client, append each outcome to "
            "OUT.jsonl as it finishes, and print a summary. Running it again skips the "
            "custom_ids already in OUT.jsonl."
        ),
    )
    batch.add_argument("input", type=Path, metavar="IN.jsonl", help="requests, one per line")
    batch.add_argument(
        "-o", "--output", type=Path, required=True, metavar="OUT.jsonl", help="outcomes"
    )
    batch.add_argument("--concurrency", type=positive_int, default=5, help="requests in flight (5)")
    batch.add_argument("--base-url", default=None, help="API base URL (default: the SDK's)")
    batch.add_argument("--model", default=None, help="model for lines that name none")
    batch.add_argument(
        "--fake",
        action="store_true",
        help="send to the embedded fake API on 127.0.0.1 (no API key, no cost)",
    )
    batch.add_argument(
        "--chaos", choices=Chaos.mixes(), default=None, help="with --fake: a named fault mix"
    )
    batch.add_argument("--seed", type=int, default=0, help="with --chaos: its seed")
    batch.add_argument(
        "--fake-latency",
        type=seconds,
        default=0.0,
        help="with --fake: seconds every request takes (to watch progress, or interrupt)",
    )
    batch.add_argument(
        "--retry-failed",
        action="store_true",
        help="also send again the custom_ids whose last outcome in OUT.jsonl failed",
    )
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    batch.add_argument(
        "--verbose",
        action="store_true",
        help="log every retry, breaker change and give-up to stderr (default: count them)",
    )
    batch.set_defaults(func=run_batch_command)


# -- files ----------------------------------------------------------------------------


def read_input(path: Path, default_model: str | None) -> list[Line]:
    """Parse IN.jsonl; raises :class:`InputError` on the first bad line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    lines: list[Line] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
        custom_id = record.pop("custom_id", None)
        if isinstance(record.get("body"), dict) and "url" in record:
            url = record["url"]
            if url not in _BATCH_URLS:
                raise InputError(
                    f"{where}: url {url!r} is not supported (a Batch API line must be for "
                    "/v1/responses)"
                )
            record = dict(record["body"])  # an OpenAI Batch API line
        if custom_id is None:
            custom_id = f"line-{number}"
        if not isinstance(custom_id, str) or not custom_id:
            raise InputError(f"{where}: custom_id must be a non-empty string, got {custom_id!r}")
        if custom_id in seen:
            raise InputError(
                f"{where}: custom_id {custom_id!r} repeats line {seen[custom_id]} "
                "(custom_ids must be unique to resume)"
            )
        seen[custom_id] = number
        if record.get("stream"):
            raise InputError(f"{where}: stream=true is not supported in a batch")
        if "model" not in record:
            if default_model is None:
                raise InputError(f"{where}: no model; add one or pass --model")
            record["model"] = default_model
        unknown = unknown_parameter(record)
        if unknown:
            raise InputError(f"{where}: {unknown}")
        lines.append(Line(number, custom_id, record))
    return lines


def scan_output(path: Path) -> dict[str, bool]:
    """``custom_id -> ok`` of the records already in OUT.jsonl (the last one wins).

    A last record without its newline was cut by a kill: it is removed from the file, so
    that request is sent again and the next record starts on a line of its own.
    """
    if not path.exists():
        return {}
    with path.open("rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            f.seek(keep)
            f.truncate()
            data = data[:keep]
    status: dict[str, bool] = {}
    for number, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not a JSON record ({exc.msg})") from exc
        custom_id = record.get("custom_id") if isinstance(record, dict) else None
        if isinstance(custom_id, str):
            status[custom_id] = bool(record.get("ok"))
    return status


def outcome_record(line: Line, outcome: Outcome) -> dict[str, Any]:
    """The OUT.jsonl record of one outcome."""
    error: dict[str, Any] | None = None
    if outcome.error is not None:
        exc = outcome.error
        error = {
            "type": type(exc).__name__,
            "message": str(exc),
            "status_code": getattr(exc, "status_code", None),
            "code": getattr(exc, "code", None),
            "request_id": getattr(exc, "request_id", None),
        }
    response = outcome.response
    return {
        "custom_id": line.custom_id,
        "line": line.number,
        "ok": outcome.ok,
        "attempts": outcome.attempts,
        "elapsed_s": round(outcome.elapsed_s, 4),
        "response": None if response is None else response.model_dump(mode="json"),
        "error": error,
    }


# -- the run --------------------------------------------------------------------------


@dataclass
class Summary:
    """What the run did (printed at the end, interrupted or not)."""

    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    requests_sent: int = 0
    retries: int | None = None
    wall_s: float = 0.0
    interrupted: bool = False

    def add(self, outcome: Outcome) -> None:
        self.requests_sent += outcome.attempts
        if outcome.error is None:
            self.done += 1
        else:
            self.failed[type(outcome.error).__name__] += 1

    def rows(self) -> list[tuple[str, str]]:
        rows = [
            ("requests in file", str(self.total)),
            ("skipped (already in output)", str(self.skipped)),
            ("done", str(self.done)),
            ("failed", str(sum(self.failed.values()))),
        ]
        rows += [(f"  {name}", str(count)) for name, count in sorted(self.failed.items())]
        pending = self.total - self.skipped - self.done - sum(self.failed.values())
        if self.interrupted:
            rows.append(("not run (interrupted)", str(pending)))
        rows.append(("HTTP requests sent", str(self.requests_sent)))
        if self.retries is not None:
            rows.append(("  retries", str(self.retries)))
        rows += [
            ("wall time", f"{self.wall_s:.2f} s"),
        ]
        return rows


def _print_summary(summary: Summary, output: Path) -> None:
    title = f"batch {'interrupted' if summary.interrupted else 'finished'}: {output}"
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        width = max(len(name) for name, _ in summary.rows())
        sys.stdout.write(title + "\n")
        for name, value in summary.rows():
            sys.stdout.write(f"  {name:<{width}}  {value:>10}\n")
        sys.stdout.flush()
        return
    table = Table(title=title, show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, value in summary.rows():
        table.add_row(name, value)
    Console().print(table)


class _Progress:
    """A rich progress bar on stderr, or plain ``done/total`` lines every 10%."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._total = total
        self._bar: Any = None
        self._task: Any = None
        self._next_plain = 0
        self._enabled = enabled and total > 0
        if not self._enabled:
            return
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TimeElapsedColumn,
            )
        except ImportError:
            return
        self._bar = Progress(
            "batch",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self._bar.start()
        self._task = self._bar.add_task("batch", total=total)

    def update(self, done: int, total: int) -> None:
        if not self._enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=done)
        elif done >= self._next_plain or done == total:
            sys.stderr.write(f"batch: {done}/{total}\n")
            sys.stderr.flush()
            self._next_plain = done + max(1, total // 10)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


class _Writer:
    """Appends one record per outcome to OUT.jsonl, each with a single ``write`` on an
    unbuffered descriptor opened for appending: a Ctrl-C lands before or after a record,
    never inside one (a buffered file could flush half a record, then be interrupted)."""

    def __init__(self, path: Path, lines: Sequence[Line], summary: Summary) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lines = lines
        self._summary = summary

    def write(self, outcome: Outcome) -> None:
        record = outcome_record(self._lines[outcome.index], outcome)
        data = (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        view = memoryview(data)
        while view:  # a regular file takes it whole; a short write is finished here
            view = view[os.write(self._fd, view) :]
        self._summary.add(outcome)

    def close(self) -> None:
        os.close(self._fd)


def run_batch_command(args: argparse.Namespace) -> int:
    """The ``batch`` sub-command."""
    err = sys.stderr
    if not args.fake and (args.chaos is not None or args.fake_latency):
        err.write("resilient-responses batch: --chaos and --fake-latency need --fake\n")
        return 2
    if args.fake and args.base_url is not None:
        err.write("resilient-responses batch: --fake serves its own base URL; drop --base-url\n")
        return 2
    if not args.fake and not os.environ.get("OPENAI_API_KEY"):
        err.write(
            "resilient-responses batch: OPENAI_API_KEY is not set (or try --fake, the "
            "embedded fake API)\n"
        )
        return 2
    try:
        lines = read_input(args.input, args.model)
        previous = scan_output(args.output)
    except InputError as exc:
        err.write(f"resilient-responses batch: {exc}\n")
        return 2

    todo = [
        line
        for line in lines
        if line.custom_id not in previous or (args.retry_failed and not previous[line.custom_id])
    ]
    summary = Summary(total=len(lines), skipped=len(lines) - len(todo))
    if args.fake:
        from ..testing._fake import FakeResponsesAPI

        try:
            import starlette  # noqa: F401
            import uvicorn  # noqa: F401
        except ImportError:
            err.write(
                "resilient-responses batch --fake serves the fake over HTTP and needs the "
                "'server' extra: pip install 'resilient-responses[server]'\n"
            )
            return 2
        fake = _fake(args, FakeResponsesAPI)
        with fake.serve() as base_url:
            return _run(args, todo, summary, base_url=base_url, api_key="sk-fake")
    return _run(args, todo, summary, base_url=args.base_url, api_key=None)


_CHAOS_STALL_S = 1.0


class _CountingLogger:
    """Counts the library's log events instead of printing them (the summary shows them)."""

    def __init__(self) -> None:
        self.events: Counter[str] = Counter()

    def _log(self, event: str, **fields: Any) -> None:
        self.events[event] += 1

    debug = info = warning = error = _log


def _logger(verbose: bool) -> Any:
    if not verbose:
        return _CountingLogger()
    import structlog

    return structlog.wrap_logger(
        structlog.PrintLogger(file=sys.stderr),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"]),
        ],
    )


def _resilience(logger: Any, *, fake: bool) -> Any:
    """The batch configuration (see the README): a call that meets an open breaker waits
    for its next probe, within a 5-minute deadline, instead of failing at once; a batch
    would rather be slow through an outage than lose the rest of its requests.

    On the fake, whose chaos fails a large share of requests by design, the breaker opens
    after 10 failures in a row (not 5) and probes again after half a second (not 30), so
    a demo run takes seconds.
    """

    if fake:
        return Resilience(
            attempts=10,
            deadline=60.0,
            backoff=Backoff(initial=0.1, maximum=1.0),
            breaker=BreakerConfig(fail_max=10, reset_timeout=0.5),
            policies={"circuit_open": ErrorPolicy(attempts=40)},
            logger=logger,
        )
    return Resilience(
        deadline=300.0, policies={"circuit_open": ErrorPolicy(attempts=30)}, logger=logger
    )


def _fake(args: argparse.Namespace, factory: Any) -> Any:

    fake = factory()
    if args.chaos is not None:
        # Short stalls: a batch waits them out (the SDK's read timeout is minutes).
        fake.chaos(Chaos.mix(args.chaos, seed=args.seed, stall_seconds=_CHAOS_STALL_S))
    elif args.fake_latency:
        fake.plan([], then=Fault.latency(args.fake_latency))
    return fake


def _run(
    args: argparse.Namespace,
    todo: list[Line],
    summary: Summary,
    *,
    base_url: str | None,
    api_key: str | None,
) -> int:

    started = time.perf_counter()
    progress = _Progress(len(todo), enabled=not args.no_progress)
    writer = _Writer(args.output, todo, summary)
    finished = False
    logger = _logger(args.verbose)
    try:
        if todo:
            kwargs: dict[str, Any] = {"base_url": base_url}
            if api_key is not None:
                kwargs["api_key"] = api_key
            resilience = _resilience(logger, fake=args.fake)
            client = AsyncResilientOpenAI(resilience=resilience, **kwargs)
            requests = [{**line.body, "custom_id": line.custom_id} for line in todo]

            async def main() -> None:
                async with client:
                    await arun_batch(
                        client,
                        requests,
                        concurrency=args.concurrency,
                        on_progress=progress.update,
                        on_outcome=writer.write,
                    )

            asyncio.run(main())
        finished = True
    finally:
        writer.close()
        progress.stop()
        summary.wall_s = time.perf_counter() - started
        summary.interrupted = not finished
        if isinstance(logger, _CountingLogger):
            summary.retries = logger.events["resilient_responses.retry_scheduled"]
        _print_summary(summary, args.output)
    return 0 if not summary.failed else 1
