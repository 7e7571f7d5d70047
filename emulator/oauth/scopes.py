"""Space-delimited scopes (RFC 6749 §3.3): the one place scope strings are parsed.

Two rules, each spelled once here:
- ``split_scope``: a scope as a request carries it, with bshaffer's splitting (trim the
  ends, then every single space), so "a  b" holds an empty element that matches nothing
  (compat/redcore.md). Scopes compare case-sensitively and exactly.
- ``scope_names``: a stored list, an admin's input, and the intersect rule's request:
  any run of whitespace separates, order is kept.
A scope is printable ASCII (RFC 6749 §3.3): a requested scope holding a control character
is never held and never exists, whatever trim() would have left of it.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from emulator.oauth.text import has_control_characters
from emulator.storage.models import Client
from emulator.storage.models import Scope
from emulator.storage.schema import DbHandle

# Scopes that always exist, whatever the scopes table says (bshaffer Scope::getReservedScopes).
RESERVED_SCOPES = frozenset({"openid", "offline_access"})

# The characters PHP's trim() strips.
_PHP_TRIM = " \t\n\r\0\x0b"


def split_scope(scope: str) -> list[str]:
    """Split a scope string the way the legacy library did: trim, then every single space."""
    return scope.strip(_PHP_TRIM).split(" ")


def scope_names(scope: str | None) -> list[str]:
    """The names of a whitespace-separated list, in order (None: none)."""
    return (scope or "").split()


def check_scope(required: str, available: str) -> bool:
    """Return whether every scope in ``required`` is in ``available`` (order free)."""
    if has_control_characters(required):
        return False
    return set(split_scope(required)) <= set(split_scope(available))


def check_scope_any(required: str, available: str) -> bool:
    """Return whether at least one scope in ``required`` is in ``available``."""
    if has_control_characters(required):
        return False
    return bool(set(split_scope(required)) & set(split_scope(available)))


def intersect_scope(requested: str, allowed: str | None) -> str:
    """The requested scopes that are allowed, in requested order, space-joined (may be "")."""
    allowed_set = set(scope_names(allowed))
    return " ".join(dict.fromkeys(name for name in scope_names(requested) if name in allowed_set))


def scopes_exist(db: DbHandle, scope: str) -> bool:
    """Return whether each requested scope is reserved or in the scopes table.

    The legacy check counted matching rows against the number of requested scopes, so a
    repeated scope ("a a") does not pass; that is kept.
    """
    if has_control_characters(scope):  # and PostgreSQL refuses NUL in a query
        return False
    wanted = [s for s in split_scope(scope) if s not in RESERVED_SCOPES]
    if not wanted:
        return True
    if len(set(wanted)) != len(wanted):
        return False
    found = db.scalars(select(Scope.scope).where(Scope.scope.in_(wanted))).all()
    return set(found) == set(wanted)


_DEFAULT_SCOPES = (
    select(Scope.__table__.c.scope)
    .where(Scope.__table__.c.is_default)
    .order_by(Scope.__table__.c.id)
)


def default_scope(db: DbHandle) -> str | None:
    """Return the default scopes joined by spaces (table order), or None when there are none."""
    names = db.scalars(_DEFAULT_SCOPES).all()
    return " ".join(names) or None


def known_scopes(db: DbHandle) -> list[str]:
    """Every scope in the scopes table, in table order."""
    return list(db.scalars(select(Scope.scope).order_by(Scope.id)))


def scope_ids(db: DbHandle) -> dict[str, int]:
    """Every scope's row id, by name (for a plugin's table that refers to scopes)."""
    return {row.scope: row.id for row in db.execute(select(Scope.scope, Scope.id))}


def scope_defaults(db: DbHandle) -> dict[str, bool]:
    """Every scope in the scopes table (table order) and whether it is a default one."""
    return {
        row.scope: row.is_default
        for row in db.execute(select(Scope.scope, Scope.is_default).order_by(Scope.id))
    }


def remove_scope(session: Session, name: str) -> None:
    """Remove a scope from the scopes table (clients and tokens naming it keep their scope)."""
    session.execute(delete(Scope).where(Scope.scope == name))


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


def validate_scope(scope: str) -> None:
    """Raise ValueError unless ``scope`` is valid names separated by single spaces (as stored).

    Checked with the wire rule, so that what is stored reads back the same on the wire.
    """
    names = split_scope(scope)
    if " ".join(names) != scope:  # something around the names for trim() to remove
        names.append("")
    for name in names:
        validate_scope_name(name)


def normalize_scope(scope: str | None) -> str | None:
    """A whitespace-separated list as stored: each name checked, single spaces; None if empty."""
    names = scope_names(scope)
    for name in names:
        validate_scope_name(name)
    return " ".join(names) or None


# The scopes table's column (emulator/storage/models.py Scope.scope): longer is refused, never cut.
SCOPE_NAME_MAX = 255


def validate_scope_name(name: str) -> None:
    """Raise ValueError unless ``name`` is a valid RFC 6749 §3.3 scope token."""
    if not name or not all(0x21 <= ord(c) <= 0x7E and c not in '"\\' for c in name):
        raise ValueError(
            f"Invalid scope {name!r}: a scope is printable ASCII "
            "without spaces, quotes or backslashes."
        )
    if len(name) > SCOPE_NAME_MAX:
        raise ValueError(f"A scope name is at most {SCOPE_NAME_MAX} characters.")


def clients_using_scope(db: DbHandle, name: str, *, limit: int = 20) -> list[str]:
    """The client ids (in order) whose own scope names ``name``, at most ``limit`` of them."""
    table = Client.__table__
    # LIKE narrows the rows; the exact test is on the names (a LIKE would also find "read2").
    candidates = db.execute(
        select(table.c.client_id, table.c.scope)
        .where(table.c.scope.contains(name, autoescape=True))
        .order_by(table.c.client_id)
    )
    found = []
    for row in candidates:
        if name in scope_names(row.scope):
            found.append(row.client_id)
            if len(found) >= limit:
                break
    return found
