"""Run the dashboard notebook under Voila on the loopback interface, and stop it cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from covidimg._validation import check_choice, choices
from covidimg.app import NOTEBOOK

__all__ = ["HOST", "THEMES", "Theme", "VoilaServer", "free_port", "port_is_free", "voila_command"]

#: Voila listens here only: the dashboard is a local, single-user app.
HOST = "127.0.0.1"
#: Voila themes offered by ``covidimg dashboard --theme``.
Theme = Literal["light", "dark"]
THEMES: tuple[str, ...] = choices(Theme)


def free_port(host: str = HOST) -> int:
    """Return a TCP port on ``host`` that nothing listens on right now.

    Examples
    --------
    >>> from covidimg.app.server import free_port
    >>> 1024 <= free_port() <= 65535
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on ``host:port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _accepts(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def voila_command(port: int, *, notebook: str | os.PathLike[str] = NOTEBOOK,
                  theme: Theme = "light", log_level: str = "WARN") -> list[str]:
    """The Voila command line serving ``notebook`` on ``127.0.0.1:port``.

    No browser (the caller opens one), no other port tried if ``port`` is taken, sources
    stripped from the page, tracebacks shown (a local app: the user is the developer).

    Examples
    --------
    >>> from covidimg.app.server import voila_command
    >>> "--Voila.ip=127.0.0.1" in voila_command(8866)
    True
    """
    check_choice(theme, Theme, "theme")
    return [sys.executable, "-m", "voila", os.fspath(notebook), "--no-browser",
            f"--port={port}", f"--Voila.ip={HOST}", "--Voila.port_retries=0",
            f"--theme={theme}", "--strip_sources=True", "--show_tracebacks=True",
            f"--Voila.log_level={log_level}"]


class VoilaServer:
    """A Voila process serving the dashboard notebook, started and stopped as one unit.

    Parameters
    ----------
    port
        Port on 127.0.0.1 to listen on.
    env
        Extra environment variables for Voila and its kernels (which cohort to show).
    theme, log_level
        Passed to Voila.

    Examples
    --------
    >>> from covidimg.app.server import VoilaServer, free_port
    >>> with VoilaServer(free_port()) as server:             # doctest: +SKIP
    ...     print(server.url)
    """

    def __init__(self, port: int, *, env: Mapping[str, str] | None = None,
                 theme: Theme = "light", log_level: str = "WARN",
                 notebook: str | os.PathLike[str] = NOTEBOOK) -> None:
        self.port = int(port)
        self.url = f"http://{HOST}:{self.port}/"
        self.command = voila_command(self.port, notebook=notebook, theme=theme,
                                     log_level=log_level)
        self.notebook = Path(notebook)
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> str:
        """Start Voila and return its URL once it accepts connections.

        Raises
        ------
        RuntimeError
            If Voila exits before listening, or does not listen within ``timeout`` seconds.
        """
        if not self.notebook.is_file():
            raise RuntimeError(f"the dashboard notebook {self.notebook} is missing; "
                               "reinstall covidimg")
        # Own process group: Ctrl-C reaches this process only, which then stops Voila and
        # its kernels in order instead of racing them.
        group = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined]
                 if os.name == "nt" else {"start_new_session": True})
        self.process = subprocess.Popen(self.command, env=self.env, **group)
        deadline = time.monotonic() + timeout
        while not _accepts(self.port):
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(f"Voila exited with status {code} before serving on port "
                                   f"{self.port}; its messages are above")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Voila did not listen on port {self.port} within "
                                   f"{timeout:.0f} s; stopped it")
            time.sleep(0.2)
        return self.url

    def wait(self) -> int:
        """Block until Voila exits; return its exit status."""
        assert self.process is not None, "start() the server first"
        return self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask Voila to shut down (it stops its kernels), then force it after ``timeout`` s."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # Voila handles SIGTERM: stops the loop, shuts kernels down
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill_group(process)
            process.wait(timeout)

    @staticmethod
    def _kill_group(process: subprocess.Popen[bytes]) -> None:
        if os.name == "nt":  # pragma: no cover
            process.kill()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def __enter__(self) -> VoilaServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
