"""What the engine tests share: a fixed clock and the client store a request path reads."""

from __future__ import annotations

from datetime import datetime

from emulator import oauth

NOW = datetime(2026, 1, 15, 12, 0, 0)
# The engine's client store as a worker without caching has it (every read goes to the
# database; verified secrets are remembered, as in every worker).
CLIENTS = oauth.ClientStore(max_age=0)
