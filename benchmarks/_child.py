"""A benchmark script serving the fake Responses API from a child process on a free
loopback port: ``ChildServer(script, args)``, then :meth:`~ChildServer.wait` for its base
URL, and :meth:`~ChildServer.stop`. The script takes ``--serve PORT`` plus *args*."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    """A loopback port nobody listens on (now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def answers(base_url: str) -> bool:
    """Whether an HTTP server answers at *base_url* (any status)."""
    try:
        urllib.request.urlopen(f"{base_url}/responses/ping", timeout=0.5)
    except urllib.error.HTTPError:
        return True  # 404: it is up
    except OSError:
        return False
    return True


class ChildServer:
    """``python SCRIPT --serve PORT *args`` in a child process, started at once."""

    def __init__(self, script: Path, args: list[str]) -> None:
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}/v1"
        cmd = [sys.executable, str(script), "--serve", str(self.port), *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self, timeout: float = 60.0) -> str:
        """Block until the server answers; return its base URL."""
        deadline = time.monotonic() + timeout
        while not answers(self.base_url):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"the fake server exited: {err[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the fake server did not answer within {timeout:g} s")
            time.sleep(0.05)
        return self.base_url

    def stop(self) -> None:
        """Terminate the child (kill it if it does not stop) and reap it."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
