"""The ``resilient-responses`` command: ``demo`` and ``serve-fake``.

``resilient-responses demo`` runs the same seeded chaos against the raw SDK, a naive retry
loop and this library, over real HTTP on 127.0.0.1, and prints one table side by side.
``resilient-responses serve-fake`` serves the fake Responses API (with or without chaos)
until interrupted, for trying your own code against it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["build_parser", "main"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port in 0..65535, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    from ..testing import Chaos

    parser = argparse.ArgumentParser(
        prog="resilient-responses",
        description="Make OpenAI Responses API calls and streams survive production faults.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser(
        "demo",
        help="raw SDK vs naive retries vs resilient_responses under the same seeded chaos",
        description=(
            "Serve the fake Responses API on 127.0.0.1 with a seeded chaos mix (429s, 5xx, "
            "resets, silent truncations, error events, stalls, a short 503 outage) and send "
            "the same requests through the raw SDK, a naive retry loop and "
            "AsyncResilientOpenAI; print what each consumer actually got."
        ),
    )
    demo.add_argument("--requests", type=_positive_int, default=None, help="calls per run (200)")
    demo.add_argument("--concurrency", type=_positive_int, default=20, help="calls in flight")
    demo.add_argument("--seed", type=int, default=7, help="chaos seed (same for every run)")
    demo.add_argument(
        "--outage-seconds",
        type=_seconds,
        default=0.6,
        help="length of the 503 outage half way through (0: none)",
    )
    demo.add_argument("--json", action="store_true", help="print the result as JSON only")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.add_argument(
        "--strict", action="store_true", help="exit 1 when the library misses the acceptance"
    )
    demo.add_argument(
        "--live",
        action="store_true",
        help="send real requests to the OpenAI API (needs OPENAI_API_KEY; costs money): "
        "raw SDK vs the library, no fake, no chaos (default 10 requests)",
    )
    demo.add_argument("--model", default="gpt-5-mini", help="model for --live")
    demo.set_defaults(func=_demo)

    serve = sub.add_parser(
        "serve-fake",
        help="serve the fake Responses API over HTTP (blocking)",
        description="Serve the fake Responses API at <host>:<port>/v1 until interrupted.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port to bind (8000)")
    serve.add_argument(
        "--chaos", choices=Chaos.mixes(), default=None, help="a named chaos mix (none: clean)"
    )
    serve.add_argument("--seed", type=int, default=0, help="chaos seed")
    serve.add_argument(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn log level",
    )
    serve.set_defaults(func=_serve_fake)

    from ._batch import add_batch_parser

    add_batch_parser(sub, _positive_int, _seconds)
    return parser


_DEMO_HINT = (
    "resilient-responses demo needs the 'demo' extra ({missing} is not installed): "
    "pip install 'resilient-responses[demo]'"
)


def _missing(*modules: str) -> str | None:
    """The first of *modules* that cannot be imported, or ``None``."""
    for name in modules:
        if importlib.util.find_spec(name) is None:
            return name
    return None


class _PlainConsole:
    """What the demo needs of a rich ``Console`` when rich is absent (``--json``)."""

    def print(self, message: str, **_: Any) -> None:
        sys.stderr.write(re.sub(r"\[/?[a-z ]+\]", "", message) + "\n")


def _consoles(plain_ok: bool) -> tuple[Any, Any]:
    if plain_ok and _missing("rich") is not None:
        return _PlainConsole(), _PlainConsole()
    from rich.console import Console

    # Progress and notes go to stderr, so --json leaves stdout machine-readable.
    return Console(), Console(stderr=True)


def _demo(args: argparse.Namespace) -> int:
    # The fake is served over real HTTP (uvicorn, starlette); the table needs rich, --json not.
    missing = _missing("uvicorn", "starlette", *(() if args.json else ("rich",)))
    if missing is not None and not args.live:
        sys.stderr.write(_DEMO_HINT.format(missing=missing) + "\n")
        return 2
    if missing == "rich":
        sys.stderr.write(_DEMO_HINT.format(missing=missing) + "\n")
        return 2

    from ._demo import LABELS, DemoConfig, render_table, run_demo, run_live

    out, err = _consoles(args.json)
    if args.live:
        requests = args.requests if args.requests is not None else 10
        try:
            report = run_live(requests, args.concurrency, args.model)
        except RuntimeError as exc:
            err.print(f"[red]error:[/red] {exc}")
            return 2
    else:
        config = DemoConfig(
            requests=args.requests if args.requests is not None else 200,
            concurrency=args.concurrency,
            seed=args.seed,
            outage_seconds=args.outage_seconds,
        )
        if args.no_progress or isinstance(err, _PlainConsole):
            report = run_demo(config)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=args.json,
            ) as progress:
                tasks: dict[str, Any] = {}

                def advance(name: str, done: int) -> None:
                    # A bar appears when its run starts, so each one times its own run.
                    if name not in tasks:
                        tasks[name] = progress.add_task(LABELS[name], total=config.requests)
                    progress.update(tasks[name], completed=done)

                report = run_demo(config, advance)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2, sort_keys=False) + "\n")
        sys.stdout.flush()
    else:
        out.print(render_table(report))
        _print_acceptance(out, report)
    accepted = report.get("acceptance", {}).get("passed", True)
    return 1 if args.strict and not accepted else 0


def _print_acceptance(console: Any, report: dict[str, Any]) -> None:
    acceptance = report.get("acceptance")
    if acceptance is None:
        return
    verdict = "[green]passed[/green]" if acceptance["passed"] else "[red]FAILED[/red]"
    console.print(f"acceptance: {verdict}  (wall time {report['wall_time_s']:.1f} s)")
    for name, ok in acceptance["checks"].items():
        console.print(f"  {'ok ' if ok else 'NO '} {name}")
    lib = report["runs"].get("resilient", {})
    missed = lib.get("unrecovered_background") or []
    if missed:
        console.print("background streams the library did not complete (not server-declared):")
        for case in missed[:10]:
            console.print(
                f"  call {case['call']}: faults {case['faults']}, saw {case['deltas_seen']} "
                f"deltas, then {case['error'] or case['terminal']}",
                markup=False,
            )
        if len(missed) > 10:
            console.print(f"  ... and {len(missed) - 10} more (see --json)")


def _serve_fake(args: argparse.Namespace) -> int:
    from ..testing._server import run_server

    _, err = _consoles(True)
    if args.host not in _LOOPBACK:
        err.print(f"[yellow]warning:[/yellow] serving on {args.host}, not only on loopback")
    err.print(
        f"fake Responses API on http://{args.host}:{args.port}/v1"
        f" (chaos: {args.chaos or 'none'}, seed {args.seed}); Ctrl-C stops it",
        markup=False,
    )
    try:
        run_server(args.host, args.port, args.chaos, args.seed, log_level=args.log_level)
    except KeyboardInterrupt:
        return 0
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    del start
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
