"""``resilient-responses batch IN.jsonl -o OUT.jsonl``: input and output files, the
summary, and resuming a run that was interrupted (in-process and as a killed process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from resilient_responses.cli import _batch as cli_batch
from resilient_responses.cli import build_parser, main
from resilient_responses.testing import FakeResponsesAPI, Fault, set_testing

MODEL = "gpt-5-mini"


@pytest.fixture(autouse=True)
def _no_sleeping() -> Any:
    with set_testing(True):
        yield


def write_input(path: Path, n: int, *, model: bool = False) -> list[str]:
    ids = [f"q{i:03d}" for i in range(n)]
    with path.open("w") as f:
        for i, custom_id in enumerate(ids):
            line: dict[str, Any] = {"custom_id": custom_id, "input": f"question {i}"}
            if model:
                line["model"] = MODEL
            f.write(json.dumps(line) + "\n")
    return ids


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(*args: str) -> int:
    return main(["batch", *args, "--no-progress"])


# -- parsing and files ------------------------------------------------------------------


def test_parser_defaults_and_validation(tmp_path: Path) -> None:
    parser = build_parser()
    args = parser.parse_args(["batch", "in.jsonl", "-o", "out.jsonl"])
    assert (args.concurrency, args.fake, args.model, args.base_url, args.retry_failed) == (
        5,
        False,
        None,
        None,
        False,
    )
    for bad in (["batch", "in.jsonl"], ["batch", "in.jsonl", "-o", "o", "--concurrency", "0"]):
        with pytest.raises(SystemExit) as exc:
            parser.parse_args(bad)
        assert exc.value.code == 2


def test_read_input_names_lines_and_accepts_batch_api_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"input": "a"}\n'
        "\n"
        '{"custom_id": "b", "model": "gpt-5", "input": "b"}\n'
        '{"custom_id": "c", "method": "POST", "url": "/v1/responses", '
        '"body": {"model": "gpt-5-nano", "input": "c"}}\n'
    )
    lines = cli_batch.read_input(path, MODEL)
    assert [(line.number, line.custom_id, line.body) for line in lines] == [
        (1, "line-1", {"input": "a", "model": MODEL}),
        (3, "b", {"model": "gpt-5", "input": "b"}),
        (4, "c", {"model": "gpt-5-nano", "input": "c"}),
    ]


@pytest.mark.parametrize(
    ("text", "model", "fragment"),
    [
        ('{"input": "a"}\n', None, "in.jsonl:1: no model"),
        ('{"custom_id": "x", "input": "a"}\n{"custom_id": "x", "input": "b"}\n', MODEL, "repeats"),
        ("[1, 2]\n", MODEL, "expected a JSON object"),
        ("{nope\n", MODEL, "in.jsonl:1: not JSON"),
        ('{"custom_id": 5, "input": "a"}\n', MODEL, "custom_id must be"),
        ('{"input": "a", "stream": true}\n', MODEL, "stream=true"),
        # Found by an unscripted run: both were a traceback and exit 1 from inside the run.
        (
            '{"input": "a"}\n{"input": "b", "max_tokens": 5}\n',
            MODEL,
            "in.jsonl:2: 'max_tokens' is not a responses.create parameter",
        ),
        (
            '{"custom_id": "c", "method": "POST", "url": "/v1/chat/completions", '
            '"body": {"model": "m", "messages": []}}\n',
            MODEL,
            "in.jsonl:1: url '/v1/chat/completions' is not supported",
        ),
    ],
)
def test_bad_input_exits_2_before_sending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, model: str | None, fragment: str
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(text)
    with pytest.raises(cli_batch.InputError, match=fragment):
        cli_batch.read_input(path, model)
    args = [str(path), "-o", str(tmp_path / "out.jsonl"), "--fake"]
    assert run(*args, *(["--model", model] if model else [])) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()


def test_scan_output_drops_a_record_cut_by_a_kill(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(
        '{"custom_id": "a", "ok": true}\n{"custom_id": "b", "ok": false}\n{"custom_id": "c", "o'
    )
    assert cli_batch.scan_output(out) == {"a": True, "b": False}
    assert out.read_text().endswith('"ok": false}\n')
    out.write_text('{"custom_id": "a", "ok": true}\nnot json\n')
    with pytest.raises(cli_batch.InputError, match=r"out\.jsonl:2"):
        cli_batch.scan_output(out)


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        ([], {}, "OPENAI_API_KEY"),
        (["--chaos", "default"], {"OPENAI_API_KEY": "sk-x"}, "need --fake"),
        (["--fake", "--base-url", "http://127.0.0.1:9/v1"], {}, "drop --base-url"),
    ],
)
def test_command_line_mistakes_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    fragment: str,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "in.jsonl"
    write_input(path, 1, model=True)
    assert run(str(path), "-o", str(tmp_path / "out.jsonl"), *args) == 2
    assert fragment in capsys.readouterr().err


# -- runs -------------------------------------------------------------------------------


def test_fake_run_writes_one_record_per_line_and_a_second_run_skips_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(path, 12)
    assert run(str(path), "-o", str(out), "--fake", "--model", MODEL, "--concurrency", "4") == 0
    first = records(out)
    assert sorted(r["custom_id"] for r in first) == ids
    for record in first:
        assert record["ok"] is True
        assert record["error"] is None
        assert record["attempts"] == 1
        assert record["response"]["status"] == "completed"
        assert record["response"]["model"] == MODEL
        assert record["line"] == ids.index(record["custom_id"]) + 1
    summary = capsys.readouterr().out
    assert "batch finished" in summary
    assert "done" in summary

    assert run(str(path), "-o", str(out), "--fake", "--model", MODEL) == 0
    assert records(out) == first
    summary = capsys.readouterr().out
    assert "skipped (already in output)" in summary
    assert " 12 " in summary


def test_failures_are_recorded_by_type_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Against a fake the test controls, through --base-url (the real-API path)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    path, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(path, 3, model=True)
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(429, code="insufficient_quota"), Fault.status(503), None])
    with fake.serve() as base_url:
        status = run(str(path), "-o", str(out), "--base-url", base_url, "--concurrency", "1")
    assert status == 1
    by_id = {r["custom_id"]: r for r in records(out)}
    assert by_id["q000"]["ok"] is False
    assert by_id["q000"]["response"] is None
    assert by_id["q000"]["error"]["type"] == "RateLimitError"
    assert by_id["q000"]["error"]["status_code"] == 429
    assert by_id["q000"]["error"]["code"] == "insufficient_quota"
    assert by_id["q001"]["ok"] is True
    assert by_id["q001"]["attempts"] == 2
    assert all(r.headers["authorization"] == "<redacted>" for r in fake.requests)
    summary = capsys.readouterr().out
    assert "RateLimitError" in summary
    assert "HTTP requests sent" in summary

    # --retry-failed sends only the failed one again; the new record comes last.
    with fake.serve() as base_url:
        status = run(str(path), "-o", str(out), "--base-url", base_url, "--retry-failed")
    assert status == 0
    assert [r["custom_id"] for r in records(out)][-1] == "q000"
    assert records(out)[-1]["ok"] is True
    assert len(records(out)) == 4


def test_interrupted_in_process_run_resumes_without_repeating_a_custom_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A KeyboardInterrupt after 5 records: exit 130, the records are on disk; the next
    run sends only the rest."""
    path, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(path, 20)
    original = cli_batch._Writer.write
    written: list[str] = []

    def write_then_interrupt(self: Any, outcome: Any) -> None:
        original(self, outcome)
        written.append(outcome.custom_id)
        if len(written) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_batch._Writer, "write", write_then_interrupt)
    assert run(str(path), "-o", str(out), "--fake", "--model", MODEL, "--concurrency", "3") == 130
    assert "batch interrupted" in capsys.readouterr().out
    first = [r["custom_id"] for r in records(out)]
    assert first == written
    # The 5th write raised; calls that had finished by then are still written (<= 3).
    assert 5 <= len(first) <= 5 + 3

    monkeypatch.setattr(cli_batch._Writer, "write", original)
    assert run(str(path), "-o", str(out), "--fake", "--model", MODEL) == 0
    all_ids = [r["custom_id"] for r in records(out)]
    assert Counter(all_ids) == Counter(ids)  # each exactly once
    assert all_ids[: len(first)] == first


def _spawn(path: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "resilient_responses",
            "batch",
            str(path),
            "-o",
            str(out),
            "--fake",
            "--model",
            MODEL,
            "--no-progress",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"},
    )


def _wait_for_lines(out: Path, proc: subprocess.Popen[str], n: int) -> int:
    deadline = time.monotonic() + 60
    while True:
        count = len(records(out)) if out.exists() else 0
        if count >= n:
            return count
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"only {count} records after 60 s"
        time.sleep(0.02)


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_a_killed_run_resumes_and_completes_without_repeating_a_custom_id(
    tmp_path: Path, how: str
) -> None:
    """The acceptance: a real process stopped half-way (SIGKILL: no cleanup at all; SIGINT:
    Ctrl-C) loses no finished record, and the next run completes the file."""
    path, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(path, 40)
    proc = _spawn(path, out, "--fake-latency", "0.05", "--concurrency", "2")
    try:
        _wait_for_lines(out, proc, 10)
        proc.send_signal(getattr(signal, how))
        stdout, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if how == "SIGINT":
        assert proc.returncode == 130
        assert "batch interrupted" in stdout
    else:
        assert proc.returncode == -signal.SIGKILL
    before = [r["custom_id"] for r in records(out)]
    assert 10 <= len(before) < 40
    assert len(set(before)) == len(before)

    proc = _spawn(path, out)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    after = [r["custom_id"] for r in records(out)]
    assert Counter(after) == Counter(ids)
    assert after[: len(before)] == before
    assert "batch finished" in stdout


def test_a_chaos_run_on_the_fake_completes_through_retries(tmp_path: Path) -> None:
    """--fake --chaos: every request ends ok, at the cost of extra HTTP requests (a third
    of them are 429s; 10 attempts each: a request fails only after 10 in a row, p < 2e-5)."""
    path, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(path, 20)
    args = ["--fake", "--model", MODEL, "--chaos", "rate_limited", "--seed", "3"]
    assert run(str(path), "-o", str(out), *args, "--concurrency", "5") == 0
    result = records(out)
    assert sorted(r["custom_id"] for r in result) == ids
    assert all(r["ok"] for r in result)
    assert sum(r["attempts"] for r in result) > 20
