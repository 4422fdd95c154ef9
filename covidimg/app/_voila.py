"""``python -m covidimg.app._voila NOTEBOOK [voila options]``: Voila with covidimg's kernel hook.

The same as ``python -m voila`` but with :func:`covidimg.app.server.set_xsrf_cookie` as Voila's
prelaunch hook, which a hook can only be given as Python configuration, not on the command line.
"""

from __future__ import annotations

from collections.abc import Sequence

from covidimg.app.server import set_xsrf_cookie


def main(argv: Sequence[str] | None = None) -> None:
    """Start Voila with ``argv`` (default: this process's arguments) and the prelaunch hook."""
    from traitlets.config import Config
    from voila.app import Voila

    config = Config()
    config.VoilaConfiguration.prelaunch_hook = set_xsrf_cookie
    Voila.launch_instance(argv=None if argv is None else list(argv), config=config)


if __name__ == "__main__":
    main()
