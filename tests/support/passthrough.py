"""The passthrough plugin's tests: the faked legacy site's address and the client's secret."""

from __future__ import annotations

LEGACY = "http://legacy.test"
TOKEN_URL = "/index.php?option=token&api=oauth2"
SECRET = "Sh0p-Secret-201010425"  # the client's secret: must never be stored or logged
