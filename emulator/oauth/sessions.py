"""Site users' browser sessions: a login on a page a dialect serves (e.g. a consent page).

The browser holds a random id; the database holds only its SHA-256 (``hash_token``), so a
copy of the database holds no usable session. A session counts only while it is live and
its user exists, is not blocked and has no two-factor authentication on: blocking or
deleting a user ends its sessions at once, in every worker (they are read per request).
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select

from emulator.oauth.text import has_control_characters
from emulator.oauth.tokens import generate_token
from emulator.oauth.tokens import hash_token
from emulator.oauth.users import UserRecord
from emulator.oauth.users import get_user
from emulator.storage.models import SiteUser
from emulator.storage.models import SiteUserSession
from emulator.storage.schema import DbHandle

_SESSIONS = SiteUserSession.__table__
_USERS = SiteUser.__table__
# The longest cookie value looked up (ours are 40 hex); anything longer is no session.
MAX_SESSION_ID = 128


def start_user_session(db: DbHandle, user_id: int, *, lifetime: int, now: datetime) -> str:
    """Store a new session of the user, live ``lifetime`` seconds; return its raw id (for the
    cookie; stored only by hash). The user's expired sessions go at the same time. The
    caller commits."""
    raw = generate_token()
    db.execute(
        delete(_SESSIONS).where(_SESSIONS.c.user_id == user_id, _SESSIONS.c.expires_at <= now)
    )
    db.execute(
        insert(_SESSIONS).values(
            session_hash=hash_token(raw),
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime),
        )
    )
    return raw


def session_user(db: DbHandle, raw: object, *, now: datetime) -> UserRecord | None:
    """The user a session id belongs to, while the session is live and the user may log in;
    None for anything else (no id, an unknown or expired one, a blocked user)."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_SESSION_ID:
        return None
    if has_control_characters(raw):
        return None
    row = db.execute(
        select(_SESSIONS.c.user_id)
        .join(_USERS, _USERS.c.id == _SESSIONS.c.user_id)
        .where(
            _SESSIONS.c.session_hash == hash_token(raw),
            _SESSIONS.c.expires_at > now,
            _USERS.c.blocked.is_(False),
            _USERS.c.two_factor.is_(False),
        )
    ).first()
    return None if row is None else get_user(db, row.user_id)


def end_user_session(db: DbHandle, raw: object) -> None:
    """Delete the session with this id, if there is one (a logout). The caller commits."""
    if isinstance(raw, str) and raw and len(raw) <= MAX_SESSION_ID:
        db.execute(delete(_SESSIONS).where(_SESSIONS.c.session_hash == hash_token(raw)))


def end_user_sessions(db: DbHandle, user_id: int) -> int:
    """Delete every session of the user; return how many there were. The caller commits."""
    return db.execute(delete(_SESSIONS).where(_SESSIONS.c.user_id == user_id)).rowcount
