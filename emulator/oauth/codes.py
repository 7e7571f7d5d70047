"""Authorization codes (RFC 6749 §4.1): issue, find, import.

A code is stored only as its SHA-256, as tokens are (``tokens.hash_token``): it is random
and lives seconds, so a fast hash is enough, and a stolen database holds no usable code.
It is used up by the token request that redeems it, in the same write that issues the
tokens (``tokens.issue_tokens``, ``consume_code``): of concurrent uses exactly one wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Row
from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.orm import Session

from emulator.oauth.clients import ClientRecord
from emulator.oauth.scopes import validate_scope
from emulator.oauth.text import validate_plain_text
from emulator.oauth.tokens import generate_token
from emulator.oauth.tokens import hash_token
from emulator.storage.models import AuthorizationCode
from emulator.storage.prepared import Prepared
from emulator.storage.schema import DbHandle

_CODES = AuthorizationCode.__table__
_FIND_CODE = Prepared(
    select(
        _CODES.c.code_hash,
        _CODES.c.client_id,
        _CODES.c.user_id,
        _CODES.c.redirect_uri,
        _CODES.c.scope,
        _CODES.c.expires_at,
    ).where(_CODES.c.code_hash == bindparam("code_hash"))
)
# The longest redirect URI a code keeps (the column's size, as a client's).
MAX_REDIRECT_URI = _CODES.c.redirect_uri.type.length


@dataclass(frozen=True)
class IssuedCode:
    """A new authorization code: its value (stored only by hash) and its expiry."""

    code: str
    expires_at: datetime


def issue_code(
    db: DbHandle,
    client: ClientRecord,
    *,
    user_id: str | None,
    redirect_uri: str | None,
    scope: str | None,
    lifetime: int,
    now: datetime,
    code_factory: Callable[[], str] = generate_token,
) -> IssuedCode:
    """Store a new code for ``client`` and ``user_id``, valid ``lifetime`` seconds.

    ``redirect_uri``: the one the authorization request named, which the token request
    must repeat (None: it named none); ``scope``: what was granted (None: the default
    scopes when the code is redeemed). The caller commits.
    """
    raw = code_factory()
    expires_at = now + timedelta(seconds=lifetime)
    db.execute(
        insert(_CODES).values(
            code_hash=hash_token(raw),
            client_id=client.id,
            user_id=user_id,
            redirect_uri=redirect_uri or None,
            scope=scope or None,
            issued_at=now,
            expires_at=expires_at,
        )
    )
    return IssuedCode(code=raw, expires_at=expires_at)


def find_code(db: DbHandle, raw: str) -> Row | None:
    """The stored code's row (hash, client, user, redirect URI, scope, expiry), or None."""
    return _FIND_CODE.first(db, {"code_hash": hash_token(raw)})


@dataclass(frozen=True)
class CodeImport:
    """A live code carried over from another server (stored only by hash)."""

    raw: str
    client_pk: int
    user_id: str | None
    redirect_uri: str | None
    scope: str | None
    expires_at: datetime


def check_code_import(code: CodeImport) -> None:
    """Raise ValueError unless the code can be stored: no control characters, a valid
    scope, a user id of at most 255 characters, a redirect URI the column holds."""
    for what, text in (
        ("The code", code.raw),
        ("The scope", code.scope),
        ("user_id", code.user_id),
        ("The redirect URI", code.redirect_uri),
    ):
        if text is not None:
            validate_plain_text(text, what)
    if not code.raw:
        raise ValueError("The code is empty.")
    if code.scope:
        validate_scope(code.scope)
    if code.user_id is not None and len(code.user_id) > 255:
        raise ValueError("user_id must be at most 255 characters.")
    if code.redirect_uri is not None and len(code.redirect_uri) > MAX_REDIRECT_URI:
        raise ValueError(f"The redirect URI must be at most {MAX_REDIRECT_URI} characters.")


def import_code(session: Session, code: CodeImport, *, now: datetime) -> None:
    """Carry a live code over (by hash); raises ValueError if it is known or malformed."""
    check_code_import(code)
    code_hash = hash_token(code.raw)
    if session.get(AuthorizationCode, code_hash) is not None:
        raise ValueError("This code is already imported.")
    session.add(
        AuthorizationCode(
            code_hash=code_hash,
            client_id=code.client_pk,
            user_id=code.user_id,
            redirect_uri=code.redirect_uri or None,
            scope=code.scope or None,
            issued_at=now,
            expires_at=code.expires_at,
        )
    )
