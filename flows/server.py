"""A Prefect server on loopback, run as a child process for `persona-mining serve`.

Schedules only fire on a real Prefect server (the temporary server a lone flow run starts
never schedules anything). When PREFECT_API_URL names no server, `serve` starts one here:
`prefect server start --host 127.0.0.1 --port <free port>`, its database under the project's
Prefect home, waited for until healthy, and stopped with SIGTERM (its whole process group)
when `serve` ends, Ctrl-C included. While it runs, its address is written in `server.url` of
that home, so that a `persona-mining run` from another shell uses it (`running_server_url`)
instead of starting a temporary server of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from persona_mining.environment import use_offline_environment
from persona_mining.errors import OrchestrationError

LOOPBACK = "127.0.0.1"
#: The file in a Prefect home that names the API of the server `serve` runs there.
URL_FILE = "server.url"


def running_server_url(home: Path) -> str | None:
    """The API URL of the server `serve` runs with its database under `home`, if it answers."""
    try:
        api_url = (home / URL_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return api_url if api_url and is_healthy(api_url, timeout=1.0) else None


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def profile_api_url() -> str:
    """PREFECT_API_URL of the active Prefect profile, if one sets it."""
    from prefect.settings import get_current_settings

    return str(get_current_settings().api.url or "")


def is_healthy(api_url: str, *, timeout: float = 2.0) -> bool:
    """Whether the Prefect API at `api_url` (ending in /api) answers its health check."""
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def choose_server(*, home: Path, port: int | None = None) -> tuple[str, LocalPrefectServer | None]:
    """The server to serve against: the one PREFECT_API_URL (or the profile) names, else one to start.

    Returns:
        (api_url, None) for a named server that answers, or ("", server) for a server on
        loopback that the caller starts (`server.start()` returns its URL) and stops.

    Raises:
        OrchestrationError: PREFECT_API_URL names a server that does not answer.
    """
    api_url = os.environ.get("PREFECT_API_URL", "") or profile_api_url()
    if not api_url:
        return "", LocalPrefectServer(home=home, port=port)
    if not is_healthy(api_url, timeout=5.0):
        raise OrchestrationError(
            f"PREFECT_API_URL={api_url}: no Prefect server answers there; start it "
            "(`prefect server start`), or unset PREFECT_API_URL to let serve start one"
        )
    return api_url, None


class LocalPrefectServer:
    """`prefect server start` on loopback as a child process; a context manager.

    Args:
        home: the Prefect home of the server (PREFECT_HOME): its SQLite database and log.
        port: the port to listen on; None picks a free one.
        startup_timeout: seconds to wait for the health check before giving up.
    """

    def __init__(self, *, home: Path, port: int | None = None, startup_timeout: float = 120.0):
        self.home = home.resolve()
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.api_url = f"http://{LOOPBACK}:{self.port}/api"
        self.log_path = self.home / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start the server and wait until it is healthy; return its API URL.

        Raises:
            OrchestrationError: the server exited or did not get healthy in time (the
                message ends with the tail of its log).
        """
        self.home.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.pop("PREFECT_API_URL", None)
        use_offline_environment(env)
        env["PREFECT_HOME"] = str(self.home)
        command = [sys.executable, "-m", "prefect", "server", "start"]
        command += ["--host", LOOPBACK, "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            # A session of its own: Ctrl-C in the terminal reaches `serve` first, which then
            # stops the server in order, after the runner has stopped.
            self._process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise OrchestrationError(
                    f"prefect server on port {self.port} exited with status "
                    f"{self._process.returncode}; its log {self.log_path} ends with:\n{self._tail()}"
                )
            if is_healthy(self.api_url, timeout=1.0):
                (self.home / URL_FILE).write_text(self.api_url + "\n", encoding="utf-8")
                return self.api_url
            time.sleep(0.25)
        self.stop()
        raise OrchestrationError(
            f"prefect server on port {self.port} was not healthy after {self.startup_timeout:.0f}s; "
            f"its log {self.log_path} ends with:\n{self._tail()}"
        )

    def stop(self, *, timeout: float = 20.0) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left after `timeout`."""
        process, self._process = self._process, None
        url_file = self.home / URL_FILE
        with contextlib.suppress(OSError):
            if url_file.read_text(encoding="utf-8").strip() == self.api_url:
                url_file.unlink()
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            return
        with contextlib.suppress(ProcessLookupError):  # what it left behind in its group
            os.killpg(process.pid, signal.SIGTERM)

    def _tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> LocalPrefectServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
