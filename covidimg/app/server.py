"""Run the dashboard notebook under Voila on the loopback interface, and stop it cleanly.

Each page load starts a kernel (~300 MB with a cohort). Two things free it again:

* the page's own request, sent when it is closed or reloaded (``/voila/api/shutdown/<id>``),
  which Voila refuses with "403: _xsrf argument missing" unless the page got an ``_xsrf``
  cookie (voila-dashboards/voila#1458): :func:`set_xsrf_cookie`, Voila's prelaunch hook, sets
  it, and ``python -m covidimg.app._voila`` starts Voila with that hook;
* kernel culling (jupyter_server's ``MappingKernelManager``) for pages that could not say
  goodbye (a crashed browser, a laptop put to sleep, a lost network): a kernel with no page
  connected and idle for ``cull_idle_timeout`` seconds is shut down, checked every
  ``cull_interval`` seconds (:data:`CULL_IDLE_TIMEOUT`, :data:`CULL_INTERVAL`).
"""

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
from typing import Any, Literal

from covidimg._validation import check_choice, choices
from covidimg.app import NOTEBOOK

__all__ = ["CULL_IDLE_TIMEOUT", "CULL_INTERVAL", "HOST", "THEMES", "Theme", "VoilaServer",
           "free_port", "jupyter_server_config", "port_is_free", "set_xsrf_cookie",
           "voila_command"]

#: Voila listens here only: the dashboard is a local, single-user app.
HOST = "127.0.0.1"
#: Voila themes offered by ``covidimg dashboard --theme``.
Theme = Literal["light", "dark"]
THEMES: tuple[str, ...] = choices(Theme)
#: Seconds a kernel whose page is gone (or, with ``cull_connected``, any kernel) may stay idle
#: before it is shut down: long enough to survive a laptop lid closed over a coffee break,
#: short enough that a workshop's abandoned tabs do not fill a 2 GB Binder.
CULL_IDLE_TIMEOUT = 300
#: Seconds between two looks for kernels to shut down.
CULL_INTERVAL = 60


def set_xsrf_cookie(handler: Any, notebook: Any = None, cwd: str | None = None) -> None:
    """Voila prelaunch hook: give the page its ``_xsrf`` cookie before the kernel starts.

    The page sends this cookie's value with the request that shuts its kernel down when it is
    closed or reloaded; without it Voila answers 403 and the kernel stays (voila#1458). Reading
    tornado's ``xsrf_token`` sets the cookie on the response. Returns ``None``: the notebook is
    not changed.
    """
    _ = handler.xsrf_token


def jupyter_server_config() -> str:
    """Python configuration for a Jupyter server that serves the dashboard through Voila's
    server extension (Binder, a workshop's JupyterHub): the same kernel culling and
    :func:`set_xsrf_cookie` hook as ``covidimg dashboard``.

    ``binder/postBuild`` appends it to ``jupyter_server_config.py`` in the Jupyter config
    folder. Culling there also applies to JupyterLab's notebooks: one closed without shutting
    its kernel down is shut down after :data:`CULL_IDLE_TIMEOUT` seconds idle.

    Examples
    --------
    >>> from covidimg.app.server import jupyter_server_config
    >>> print(jupyter_server_config())                       # doctest: +ELLIPSIS
    # covidimg dashboard: ...
    c.MappingKernelManager.cull_idle_timeout = 300
    ...
    """
    return ("# covidimg dashboard: kernel culling and the page's kernel shutdown "
            "(covidimg.app.server)\n"
            "from covidimg.app.server import set_xsrf_cookie\n"
            f"c.MappingKernelManager.cull_idle_timeout = {CULL_IDLE_TIMEOUT}\n"
            f"c.MappingKernelManager.cull_interval = {CULL_INTERVAL}\n"
            "c.VoilaConfiguration.prelaunch_hook = set_xsrf_cookie\n")


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
    """Whether a server could listen on ``host:port`` now.

    Asked as tornado binds (``SO_REUSEADDR`` on POSIX), so the connections of a dashboard just
    stopped on that port, waiting out TCP's TIME_WAIT for a minute, do not make it look taken.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if os.name != "nt":  # on Windows the option would let two servers share the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _accepts(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _check_seconds(value: int, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}={value!r}: expected a whole number of seconds >= {minimum}, "
                         f"e.g. {CULL_IDLE_TIMEOUT if 'timeout' in name else CULL_INTERVAL}")
    return value


def voila_command(port: int, *, notebook: str | os.PathLike[str] = NOTEBOOK,
                  theme: Theme = "light", log_level: str = "WARN",
                  cull_idle_timeout: int = CULL_IDLE_TIMEOUT,
                  cull_interval: int = CULL_INTERVAL,
                  cull_connected: bool = False) -> list[str]:
    """The Voila command line serving ``notebook`` on ``127.0.0.1:port``.

    No browser (the caller opens one), no other port tried if ``port`` is taken, sources
    stripped from the page, tracebacks shown (a local app: the user is the developer); Voila
    runs with :func:`set_xsrf_cookie` (``python -m covidimg.app._voila``) and kernel culling.

    Parameters
    ----------
    cull_idle_timeout
        Seconds a kernel with no page connected may stay idle before it is shut down
        (default :data:`CULL_IDLE_TIMEOUT`); 0 never culls.
    cull_interval
        Seconds between looks for such kernels (default :data:`CULL_INTERVAL`).
    cull_connected
        Also shut down kernels whose page is still open once idle that long (a shared server
        whose users leave tabs open); off by default, so an open dashboard keeps working.

    Examples
    --------
    >>> from covidimg.app.server import voila_command
    >>> command = voila_command(8866, cull_idle_timeout=120)
    >>> "--Voila.ip=127.0.0.1" in command
    True
    >>> "--MappingKernelManager.cull_idle_timeout=120" in command
    True
    """
    check_choice(theme, Theme, "theme")
    _check_seconds(cull_idle_timeout, "cull_idle_timeout", 0)
    _check_seconds(cull_interval, "cull_interval", 1)
    return [sys.executable, "-m", "covidimg.app._voila", os.fspath(notebook), "--no-browser",
            f"--port={port}", f"--Voila.ip={HOST}", "--Voila.port_retries=0",
            f"--theme={theme}", "--strip_sources=True", "--show_tracebacks=True",
            f"--Voila.log_level={log_level}",
            f"--MappingKernelManager.cull_idle_timeout={cull_idle_timeout}",
            f"--MappingKernelManager.cull_interval={cull_interval}",
            f"--MappingKernelManager.cull_connected={bool(cull_connected)}"]


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
    cull_idle_timeout, cull_interval, cull_connected
        Kernel culling (see :func:`voila_command`).

    Examples
    --------
    >>> from covidimg.app.server import VoilaServer, free_port
    >>> with VoilaServer(free_port()) as server:             # doctest: +SKIP
    ...     print(server.url)
    """

    def __init__(self, port: int, *, env: Mapping[str, str] | None = None,
                 theme: Theme = "light", log_level: str = "WARN",
                 notebook: str | os.PathLike[str] = NOTEBOOK,
                 cull_idle_timeout: int = CULL_IDLE_TIMEOUT,
                 cull_interval: int = CULL_INTERVAL, cull_connected: bool = False) -> None:
        self.port = int(port)
        self.url = f"http://{HOST}:{self.port}/"
        self.command = voila_command(self.port, notebook=notebook, theme=theme,
                                     log_level=log_level, cull_idle_timeout=cull_idle_timeout,
                                     cull_interval=cull_interval, cull_connected=cull_connected)
        self.notebook = Path(notebook)
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> str:
        """Start Voila and return its URL once it accepts connections.

        The same as :meth:`launch` then :meth:`wait_until_listening`.

        Raises
        ------
        RuntimeError
            If Voila exits before listening, or does not listen within ``timeout`` seconds.
        """
        self.launch()
        return self.wait_until_listening(timeout)

    def launch(self) -> None:
        """Start Voila's process without waiting for it to listen (a caller may work meanwhile).

        Raises
        ------
        RuntimeError
            If the dashboard notebook is missing.
        """
        if not self.notebook.is_file():
            raise RuntimeError(f"the dashboard notebook {self.notebook} is missing; "
                               "reinstall covidimg")
        # Own process group: Ctrl-C reaches this process only, which then stops Voila and
        # its kernels in order instead of racing them.
        group = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined]
                 if os.name == "nt" else {"start_new_session": True})
        self.process = subprocess.Popen(self.command, env=self.env, **group)

    def wait_until_listening(self, timeout: float = 120.0) -> str:
        """Return the URL once the launched Voila accepts connections.

        Raises
        ------
        RuntimeError
            If Voila exits before listening, or does not listen within ``timeout`` seconds.
        """
        assert self.process is not None, "launch() the server first"
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
            time.sleep(0.1)
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
