"""Admin writes to the client registry (the CLI's): register a client.

Request paths never write here; they read clients through ``clients.ClientStore``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from emulator.models import Client
from emulator.oauth.clients import find_client
from emulator.oauth.clients import hash_secret
from emulator.oauth.grants import GRANTS
from emulator.oauth.scopes import validate_scope
from emulator.oauth.text import validate_plain_text


def register_client(
    session: Session,
    client_id: str,
    *,
    secret: str | None,
    scope: str | None = None,
    grant_types: str | None = None,
    redirect_uri: str = "",
    user_id: str | None = None,
    now: datetime,
) -> Client:
    """Register a client; ``secret=None`` makes a public client. Raises ValueError on bad input."""
    for what, text in (
        ("client_id", client_id),
        ("The secret", secret),
        ("user_id", user_id),
        ("redirect_uri", redirect_uri),
    ):
        if text is not None:
            validate_plain_text(text, what)
    if not client_id or len(client_id) > 80 or client_id != client_id.strip():
        raise ValueError("client_id must be 1 to 80 characters without leading or trailing spaces.")
    if find_client(session, client_id) is not None:
        raise ValueError(f"A client {client_id!r} already exists.")
    if secret is not None and secret == "":
        raise ValueError("An empty secret is not a secret; use --public for a public client.")
    if scope is not None:
        validate_scope(scope)
    if grant_types is not None:
        grant_types = normalize_grant_types(grant_types)
    client = Client(
        client_id=client_id,
        secret_hash=None if secret is None else hash_secret(secret),
        scope=scope or None,
        grant_types=grant_types,
        redirect_uri=redirect_uri,
        user_id=user_id,
        created_at=now,
    )
    session.add(client)
    return client


def normalize_grant_types(grant_types: str) -> str:
    """Grant types as stored: known names, single spaces ("" = none). Raises ValueError."""
    names = grant_types.split()
    unknown = [name for name in names if name not in GRANTS]
    if unknown:
        raise ValueError(f"Unknown grant type(s): {' '.join(unknown)}. Known: {' '.join(GRANTS)}.")
    return " ".join(names)
