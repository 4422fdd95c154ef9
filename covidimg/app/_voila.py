"""``python -m covidimg.app._voila NOTEBOOK [voila options]``: Voila with covidimg's additions.

The same as ``python -m voila`` plus three things a command-line option cannot give:

* :func:`covidimg.app.server.set_xsrf_cookie` as Voila's prelaunch hook (kernel shutdown);
* plotly.js (:func:`~covidimg.widgets.plotly_view.plotly_js_path`) served once, under
  ``covidimg/static/`` of the server's base URL,
  and that URL given to the kernels (:data:`~covidimg.widgets.plotly_view.PLOTLY_URL_ENV`),
  so the dashboard's figures (:class:`~covidimg.widgets.plotly_view.PlotlyView`) load it
  from there, once per page and from the browser's cache after that;
* responses gzip-compressed (``compress_response``): the cartesian plotly.js is 1.5 MB as
  it is, 0.5 MB compressed.

It starts ~1.5 s sooner by not importing ``rfc3987_syntax`` (:func:`_skip_slow_iri_checks`),
and leaves out plotly's JupyterLab extension (``jupyterlab-plotly``, a renderer for plotly
outputs that the dashboard does not use), which Voila would otherwise send to every page: its
own copy of plotly.js, 1.45 MB compressed.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import Any

import plotly

from covidimg.app.server import set_xsrf_cookie
from covidimg.widgets.plotly_view import PLOTLY_URL_ENV, plotly_js_path

#: Where, under the server's base URL, plotly.js is served.
PLOTLY_ROUTE = "covidimg/static/"
#: JupyterLab extensions the dashboard page does not load.
UNUSED_EXTENSIONS = ("jupyterlab-plotly",)


def _skip_slow_iri_checks() -> None:
    """Keep ``rfc3987_syntax`` out of the Voila process: importing it takes 1.3-2 s here.

    ``jsonschema`` (imported by ``jupyter_events``, which ``jupyter_server`` imports) uses it,
    when it is installed, for its optional ``iri`` and ``iri-reference`` format checks, and
    builds a full Lark grammar when imported. Nothing Voila validates uses those formats; when
    the module cannot be imported, ``jsonschema`` leaves the two checks out (and formats are
    annotations unless a caller asks for checks). Only this server process is affected.
    """
    if "jsonschema" not in sys.modules:    # afterwards it is too late, and harmless
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def _app_class() -> type:
    import tornado.web
    from jupyter_server.utils import url_path_join
    from voila.app import Voila

    class CovidimgVoila(Voila):  # type: ignore[misc]
        def init_settings(self) -> dict[str, Any]:
            settings = super().init_settings()
            settings["compress_response"] = True
            return settings

        def init_handlers(self) -> list[Any]:
            route = url_path_join(self.server_url, PLOTLY_ROUTE)
            library = plotly_js_path()
            # The version in the URL: a new plotly is a new URL, so a cached copy may be kept.
            os.environ[PLOTLY_URL_ENV] = url_path_join(
                route, f"{library.name}?v={plotly.__version__}")
            handler = (route + f"({re.escape(library.name)})", tornado.web.StaticFileHandler,
                       {"path": str(library.parent)})
            return [handler, *super().init_handlers()]

    return CovidimgVoila


def main(argv: Sequence[str] | None = None) -> None:
    """Start Voila with ``argv`` (default: this process's arguments) and covidimg's additions."""
    from traitlets.config import Config

    _skip_slow_iri_checks()
    config = Config()
    config.VoilaConfiguration.prelaunch_hook = set_xsrf_cookie
    config.VoilaConfiguration.extension_denylist = list(UNUSED_EXTENSIONS)
    _app_class().launch_instance(argv=None if argv is None else list(argv), config=config)


if __name__ == "__main__":
    main()
