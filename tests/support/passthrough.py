"""The passthrough plugin's tests: the faked legacy site's address and the client's secret;
the app itself behind a real server, for a legacy_url that leads back to it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import make_server

LEGACY = "http://legacy.test"
TOKEN_URL = "/index.php?option=token&api=oauth2"
SECRET = "Sh0p-Secret-201010425"  # the client's secret: must never be stored or logged


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """The app behind a real HTTP server in a thread (the test's own app and database)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
