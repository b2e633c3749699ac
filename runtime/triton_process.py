"""`segnet serve` as a child process: start it in its own session (the tritonserver it starts goes with it),
wait until its model is ready, stop it (SIGINT, as Ctrl+C) or kill it (SIGKILL: a server that goes away).
For tests and benchmarks that need a real server on this machine; loopback ports only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from segnet.errors import SegnetError
from segnet.lazy import require

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """One `python -m segnet serve MODEL` in the server environment's `python`, logging to `log`."""

    def __init__(self, python: str | Path, model: str | Path, name: str, log: str | Path,
                 grpc_port: int | None = None, http_port: int | None = None, extra: Sequence[str] = ()) -> None:
        self.python, self.model, self.name, self.log_path = Path(python), Path(model), name, Path(log)
        self.grpc_port = grpc_port or free_port()
        self.http_port = http_port or free_port()
        self.extra = list(extra)
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"grpc://127.0.0.1:{self.grpc_port}"

    def start(self, timeout_s: float = 120.0) -> Self:
        """Start the server and wait until the model is ready; SegnetError with the log's tail otherwise."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (kept open for the child's lifetime)
        argv = [str(self.python), "-m", "segnet", "serve", str(self.model), "--name", self.name, "--host", "127.0.0.1",
                "--port", str(self.grpc_port), "--http-port", str(self.http_port), *self.extra]
        self.process = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(timeout_s)
        return self

    def wait_ready(self, timeout_s: float) -> None:
        grpc = require("tritonclient.grpc", "talking to the Triton server")
        client = grpc.InferenceServerClient(f"127.0.0.1:{self.grpc_port}")
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise SegnetError(f"segnet serve exited with {self.process.returncode}: {self.tail()}")
                try:
                    if client.is_model_ready(self.name):
                        return
                except Exception:  # noqa: BLE001, S110 (not up yet: connection refused)
                    pass
                time.sleep(0.25)
        finally:
            client.close()
        self.kill()
        raise SegnetError(f"segnet serve was not ready within {timeout_s:g} s: {self.tail()}")

    def tail(self, lines: int = 5) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def _signal_group(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ctrl+C for the server's session (it unloads the model and exits); SIGKILL if it lingers."""
        self._signal_group(signal.SIGINT)
        self._wait(timeout_s)

    def kill(self) -> None:
        """The server goes away at once: SIGKILL to its whole session (segnet serve and tritonserver)."""
        self._signal_group(signal.SIGKILL)
        self._wait(10.0)

    def _wait(self, timeout_s: float) -> None:
        if self.process is not None:
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait(10.0)
        if self.process is not None:
            try:  # tritonserver and the stubs may outlive segnet serve by a moment
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
