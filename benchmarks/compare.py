"""Engine against engine: the overhead of several revisions of the library, in one process.

``benchmarks/run.py`` measures this tree against the raw SDK. Whether a change made the
engine slower is a different question, and two runs of ``run.py`` (one per checkout) cannot
answer it at the level of a few microseconds: the process, the fake and the machine's state
differ between them by more than that. This script loads every revision side by side:

* each revision's ``src/resilient_responses`` (``git archive``; ``WORKTREE`` is the working
  tree) is unpacked under a package name of its own (every ``resilient_responses`` in its
  Python files renamed), so the engines import together in one interpreter;
* one in-process fake (this tree's kit) answers all of them, and the raw SDK on it is the
  baseline: a 40-word call and a 200-word stream (about 210 events), each engine's drop-in
  client with default settings and a quiet logger;
* the raw SDK and the engines take turns call by call (rotating order), with the garbage
  collector off while timing; the figure of a round is the median over its calls, and each
  round runs in a fresh process;
* a second copy of the first revision under another name is the control: the difference
  between two identical engines is the noise floor of the whole measurement.

Usage::

    python benchmarks/compare.py 9849d9c a9a034c WORKTREE
    python benchmarks/compare.py --rounds 6 --calls 400 --streams 300 HEAD~5 HEAD

Prints, per revision, the median over rounds of its overhead over the raw SDK (µs per call,
µs per stream) and the ratios (per call, per stream event).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "resilient_responses"
MODEL = "gpt-5-mini"
STREAM_WORDS = "200"


def unpack(revision: str, name: str, into: Path) -> None:
    """*revision*'s package, importable as *name* from *into*."""
    target = into / name
    if revision == "WORKTREE":
        shutil.copytree(ROOT / "src" / PACKAGE, target)
    else:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision, f"src/{PACKAGE}"],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            if hasattr(tarfile, "data_filter"):  # Python 3.10.12+, 3.11.4+
                tar.extractall(into / "_src", filter="data")
            else:  # our own git archive, read on an older Python
                tar.extractall(into / "_src")
        shutil.move(into / "_src" / "src" / PACKAGE, target)
    for path in target.rglob("*.py"):
        path.write_text(path.read_text().replace(PACKAGE, name))


class _Quiet:
    """A logger that drops everything (the engines' log lines are not what is measured)."""

    def __getattr__(self, _name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def measure(names: list[str], calls: int, streams: int) -> dict[str, Any]:
    """One round in this process: medians per engine, and the raw SDK's."""
    from resilient_responses.testing import FakeResponsesAPI

    fake = FakeResponsesAPI(output_words=40)
    clients: dict[str, Any] = {"raw": fake.client(max_retries=0)}
    for name in names:
        module = importlib.import_module(name)
        resilience = module.Resilience(logger=_Quiet())
        clients[name] = module.ResilientOpenAI(fake.client(max_retries=0), resilience=resilience)

    def call(client: Any) -> Callable[[], None]:
        return lambda: client.responses.create(model=MODEL, input="Benchmark: hello.")

    def stream(client: Any) -> Callable[[], None]:
        def run() -> None:
            metadata = {"fake_output_words": STREAM_WORDS}
            with client.responses.create(
                model=MODEL, input="x", stream=True, metadata=metadata
            ) as events:
                for _ in events:
                    pass

        return run

    events = sum(
        1
        for _ in fake.client(max_retries=0).responses.create(
            model=MODEL, input="x", stream=True, metadata={"fake_output_words": STREAM_WORDS}
        )
    )
    result: dict[str, Any] = {"events": events}
    for kind, make, count in (("call", call, calls), ("stream", stream, streams)):
        runs = {key: make(client) for key, client in clients.items()}
        keys = list(runs)
        for _ in range(max(count // 10, 10)):  # warm up
            for run in runs.values():
                run()
        times: dict[str, list[float]] = {key: [] for key in keys}
        gc.collect()
        gc.disable()
        try:
            for i in range(count):
                for key in keys[i % len(keys) :] + keys[: i % len(keys)]:
                    start = time.perf_counter()
                    runs[key]()
                    times[key].append(time.perf_counter() - start)
                if i % 50 == 49:
                    gc.collect()
        finally:
            gc.enable()
        result[kind] = {key: statistics.median(values) for key, values in times.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="+", help="git revisions; WORKTREE: the working tree")
    parser.add_argument("--rounds", type=int, default=4, help="fresh processes (default 4)")
    parser.add_argument("--calls", type=int, default=600, help="calls per round and engine")
    parser.add_argument("--streams", type=int, default=200, help="streams per round and engine")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, args.child)
        print(json.dumps(measure(args.revisions, args.calls, args.streams)))
        return
    labels = [*args.revisions, f"{args.revisions[0]} (control copy)"]
    names = [f"rr_engine_{i}" for i in range(len(labels))]
    with tempfile.TemporaryDirectory() as tmp:
        for revision, name in zip([*args.revisions, args.revisions[0]], names, strict=True):
            unpack(revision, name, Path(tmp))
        rounds = []
        for number in range(1, args.rounds + 1):
            command = [sys.executable, __file__, "--child", tmp, "--calls", str(args.calls)]
            command += ["--streams", str(args.streams), *names]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            rounds.append(json.loads(out))
            print(f"round {number}/{args.rounds} done", file=sys.stderr)
    events = rounds[0]["events"]
    raw_call = statistics.median(r["call"]["raw"] for r in rounds)
    raw_stream = statistics.median(r["stream"]["raw"] for r in rounds)
    print(
        f"raw SDK: {raw_call * 1e6:,.0f} µs per call, {raw_stream * 1e6:,.0f} µs per stream "
        f"of {events} events (in process)"
    )
    print("| engine | per call | per stream | ratio per call | ratio per event |")
    print("|---|---|---|---|---|")
    for label, name in zip(labels, names, strict=True):
        call = [r["call"][name] - r["call"]["raw"] for r in rounds]
        stream = [r["stream"][name] - r["stream"]["raw"] for r in rounds]
        call_ratio = statistics.median(r["call"][name] / r["call"]["raw"] for r in rounds)
        event_ratio = statistics.median(r["stream"][name] / r["stream"]["raw"] for r in rounds)
        print(
            f"| {label} | {statistics.median(call) * 1e6:+.1f} µs "
            f"({min(call) * 1e6:.1f} to {max(call) * 1e6:.1f}) "
            f"| {statistics.median(stream) * 1e6:+.0f} µs "
            f"({min(stream) * 1e6:.0f} to {max(stream) * 1e6:.0f}) "
            f"| x{call_ratio:.4f} | x{event_ratio:.4f} |"
        )


if __name__ == "__main__":
    main()
