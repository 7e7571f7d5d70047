"""Space-delimited scopes (RFC 6749 §3.3), with bshaffer's splitting rules.

Scopes compare case-sensitively and exactly. Splitting is on single spaces after trimming
the ends, so "a  b" holds an empty element that matches nothing (compat/redcore.md).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from emulator.models import Scope

# Scopes that always exist, whatever the scopes table says (bshaffer Scope::getReservedScopes).
RESERVED_SCOPES = frozenset({"openid", "offline_access"})

# The characters PHP's trim() strips.
_PHP_TRIM = " \t\n\r\0\x0b"


def split_scope(scope: str) -> list[str]:
    """Split a scope string the way the legacy library did: trim, then every single space."""
    return scope.strip(_PHP_TRIM).split(" ")


def check_scope(required: str, available: str) -> bool:
    """Return whether every scope in ``required`` is in ``available`` (order free)."""
    return set(split_scope(required)) <= set(split_scope(available))


def check_scope_any(required: str, available: str) -> bool:
    """Return whether at least one scope in ``required`` is in ``available``."""
    return bool(set(split_scope(required)) & set(split_scope(available)))


def intersect_scope(requested: str, allowed: str | None) -> str:
    """The requested scopes that are allowed, in requested order, space-joined (may be "")."""
    allowed_set = set((allowed or "").split())
    kept: list[str] = []
    for name in requested.split():
        if name in allowed_set and name not in kept:
            kept.append(name)
    return " ".join(kept)


def scopes_exist(session: Session, scope: str) -> bool:
    """Return whether each requested scope is reserved or in the scopes table.

    The legacy check counted matching rows against the number of requested scopes, so a
    repeated scope ("a a") does not pass; that is kept.
    """
    wanted = [s for s in split_scope(scope) if s not in RESERVED_SCOPES]
    if not wanted:
        return True
    if len(set(wanted)) != len(wanted) or "\0" in scope:
        return False
    found = session.scalars(select(Scope.scope).where(Scope.scope.in_(wanted))).all()
    return set(found) == set(wanted)


def default_scope(session: Session) -> str | None:
    """Return the default scopes joined by spaces (table order), or None when there are none."""
    names = session.scalars(select(Scope.scope).where(Scope.is_default).order_by(Scope.id)).all()
    return " ".join(names) or None


def known_scopes(session: Session) -> list[str]:
    """Every scope in the scopes table, in table order."""
    return list(session.scalars(select(Scope.scope).order_by(Scope.id)))


def add_scope(session: Session, name: str, *, is_default: bool = False) -> Scope:
    """Add a scope (or update its default flag); a scope is one token without spaces."""
    validate_scope_name(name)
    row = session.scalar(select(Scope).where(Scope.scope == name))
    if row is None:
        row = Scope(scope=name, is_default=is_default)
        session.add(row)
    else:
        row.is_default = is_default
    return row


def set_default_scopes(session: Session, names: list[str]) -> None:
    """Make exactly ``names`` the default scopes; each must exist."""
    known = set(session.scalars(select(Scope.scope)).all())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"Unknown scope(s): {' '.join(unknown)}. Add them with `scopes add` first."
        )
    for row in session.scalars(select(Scope)):
        row.is_default = row.scope in names


def validate_scope_name(name: str) -> None:
    """Raise ValueError unless ``name`` is a valid RFC 6749 §3.3 scope token."""
    if not name or not all(0x21 <= ord(c) <= 0x7E and c not in '"\\' for c in name):
        raise ValueError(
            f"Invalid scope {name!r}: a scope is printable ASCII "
            "without spaces, quotes or backslashes."
        )
