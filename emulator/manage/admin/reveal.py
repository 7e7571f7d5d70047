"""A new client secret, kept for its one showing on the page a rotation redirects to.

The rotation's POST answers 303 to a GET page (POST/redirect/GET): a reload asks for the
GET again, which rotates nothing and does not show the secret twice. Between the two the
secret waits in two halves: the secret XOR a random pad as long as it in the database
(``admin_secret_displays``, keyed by the pad's SHA-256, on every worker), the pad in the
admin's session (a signed cookie its holder can read: a pad alone tells nothing). The GET
joins them and deletes the row, so a second GET, on any worker and with any copy of the
cookie, finds nothing. Unshown, a row is dead after SHOW_WITHIN and goes with the next
rotation.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from flask import session as browser_session
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from emulator.storage.models import AdminSecretDisplay

# The session key of the pad, with the client and the grace period the page tells of.
SESSION_KEY = "admin_secret_display"
# A browser follows the redirect at once; past this the secret is not shown at all.
SHOW_WITHIN = timedelta(minutes=2)
# The sealed half is hex in a 255-character column (the pages make 40-character secrets).
MAX_SECRET_BYTES = 127


@dataclass(frozen=True)
class Kept:
    """A secret taken for its showing, and the rotation's grace period (minutes)."""

    secret: str
    grace_minutes: int


def keep(
    session: Session, client_id: str, secret: str, *, grace_minutes: int, now: datetime
) -> None:
    """Keep ``secret`` for one showing to this browser session (the row in the caller's
    transaction, the pad in the session); the one kept before in this session is dropped."""
    raw = secret.encode("utf-8")
    if len(raw) > MAX_SECRET_BYTES:
        raise ValueError(f"A secret shown once is at most {MAX_SECRET_BYTES} bytes.")
    pad = secrets.token_bytes(len(raw))
    session.execute(delete(AdminSecretDisplay).where(AdminSecretDisplay.expires_at <= now))
    session.add(
        AdminSecretDisplay(
            pad_hash=_hash(pad), sealed=_xor(raw, pad).hex(), expires_at=now + SHOW_WITHIN
        )
    )
    browser_session[SESSION_KEY] = {
        "client_id": client_id,
        "pad": pad.hex(),
        "grace_minutes": grace_minutes,
    }


def take(session: Session, client_id: str, *, now: datetime) -> Kept | None:
    """The secret kept for this client in this browser session, once (its row deleted in the
    caller's transaction); None when it was shown already, is too late, or was never kept."""
    kept = browser_session.get(SESSION_KEY)
    if not isinstance(kept, dict) or kept.get("client_id") != client_id:
        return None
    browser_session.pop(SESSION_KEY)
    pad = bytes.fromhex(kept["pad"])
    pad_hash = _hash(pad)
    sealed = session.scalar(
        select(AdminSecretDisplay.sealed).where(
            AdminSecretDisplay.pad_hash == pad_hash, AdminSecretDisplay.expires_at > now
        )
    )
    if sealed is None:
        return None
    # Two reloads at once may both read the row: only the one that deletes it shows it.
    deleted = session.execute(
        delete(AdminSecretDisplay).where(AdminSecretDisplay.pad_hash == pad_hash)
    ).rowcount
    if deleted != 1:
        return None
    secret = _xor(bytes.fromhex(sealed), pad).decode("utf-8")
    return Kept(secret=secret, grace_minutes=int(kept["grace_minutes"]))


def _hash(pad: bytes) -> str:
    return hashlib.sha256(pad).hexdigest()


def _xor(data: bytes, pad: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, pad, strict=True))
