"""The ``resilient-responses`` command line: parsing, ``serve-fake``, ``--live`` refusal,
loopback-only addresses, and the benchmark smoke run."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

from resilient_responses.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_parser_defaults_and_validation() -> None:
    parser = build_parser()
    args = parser.parse_args(["demo"])
    assert (args.requests, args.concurrency, args.json, args.live) == (None, 20, False, False)
    args = parser.parse_args(["serve-fake", "--port", "0", "--chaos", "outage", "--seed", "3"])
    assert (args.host, args.port, args.chaos, args.seed) == ("127.0.0.1", 0, "outage", 3)
    for bad in (
        ["demo", "--requests", "0"],
        ["demo", "--concurrency", "x"],
        ["serve-fake", "--port", "70000"],
        ["serve-fake", "--chaos", "nope"],
        [],
    ):
        with pytest.raises(SystemExit) as exc:
            parser.parse_args(bad)
        assert exc.value.code == 2


def test_live_refuses_without_a_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--live`` never sends anything without OPENAI_API_KEY: it explains and exits 2."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["demo", "--live", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "OPENAI_API_KEY" in captured.err


def test_serve_fake_answers_a_plain_sdk_request() -> None:
    """``resilient-responses serve-fake`` serves the fake on loopback until terminated."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "resilient_responses", "serve-fake", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test", max_retries=0, timeout=5
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                response = client.responses.create(model="gpt-5-mini", input="hello")
                break
            except openai.APIConnectionError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "serve-fake did not answer in 30 s"
                time.sleep(0.1)
        assert response.status == "completed"
        assert response.output_text
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


# -- no address but loopback ----------------------------------------------------------------

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://([^/\s'\"`:]+|\[[0-9a-f:]+\])", re.IGNORECASE)
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")
_HOSTNAME = re.compile(r"\b(?:[a-z0-9-]+\.)+(?:com|net|org|io|ai|dev|test)\b", re.IGNORECASE)
_LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}


def _sources() -> list[Path]:
    files = sorted((ROOT / "src" / "resilient_responses" / "cli").rglob("*.py"))
    files += sorted((ROOT / "benchmarks").rglob("*.py"))
    return files


def test_demo_and_benchmarks_name_no_address_but_loopback() -> None:
    """The demo and the benchmarks only ever talk to 127.0.0.1; ``--live`` uses the SDK's
    default base URL and so names no address at all."""
    found: list[str] = []
    for path in _sources():
        text = path.read_text()
        found += [
            f"{path.name}: {match.group(0)}"
            for match in _URL.finditer(text)
            if match.group(1).lower() not in _LOOPBACK and "{" not in match.group(0)
        ]
        found += [f"{path.name}: {ip}" for ip in _IPV4.findall(text) if ip != "127.0.0.1"]
        found += [f"{path.name}: {host}" for host in _HOSTNAME.findall(text)]
    assert found == []
    assert len(_sources()) >= 3


def test_the_address_check_catches_addresses() -> None:
    """The patterns above do find what they must refuse."""
    sample = 'base_url="https://api.openai.com/v1"; host = "10.0.0.2"; "http://0.0.0.0:80"'
    assert _URL.findall(sample) == ["api.openai.com", "0.0.0.0"]
    assert "10.0.0.2" in _IPV4.findall(sample)
    assert _HOSTNAME.findall(sample) == ["api.openai.com"]


# -- benchmarks -----------------------------------------------------------------------------


def test_benchmarks_quick_run_exits_zero() -> None:
    """``benchmarks/run.py --quick`` (every section, small sizes; about 17 s on 2 cores)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    results = json.loads(proc.stdout)
    assert results["outage"]["raw_sdk"]["requests_per_call"] == 3.0
    assert results["goodput"]["lib_background"]["duplicated_text"] == 0


_BLOCK_RICH = """
import importlib.abc, sys
class _NoRich(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "rich" or name.startswith("rich."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, _NoRich())
import importlib.util
_real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "rich" else _real(name, *a)
from resilient_responses.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def test_demo_without_the_demo_extra_names_it_in_one_line_and_exits_2() -> None:
    """No rich: ``demo`` prints one line naming the extra to install, never a traceback."""
    proc = subprocess.run(
        [sys.executable, "-c", _BLOCK_RICH, "demo", "--requests", "5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "resilient-responses[demo]" in lines[0]
    assert "Traceback" not in proc.stderr


def test_demo_json_needs_no_rich() -> None:
    """``demo --json`` runs to the end without rich installed and prints valid JSON."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _BLOCK_RICH,
            "demo",
            "--requests",
            "6",
            "--concurrency",
            "3",
            "--outage-seconds",
            "0",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["config"]["requests"] == 6
    assert "Traceback" not in proc.stderr
