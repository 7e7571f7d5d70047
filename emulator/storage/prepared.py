"""Statements compiled once per dialect and run straight on the DBAPI cursor
(``Prepared`` for reads, ``PreparedWrites`` for the token path's writes)."""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Dialect
from sqlalchemy import Executable

from emulator.storage.schema import DbHandle


class Prepared:
    """A Core statement compiled once per dialect and run straight on the DBAPI cursor.

    ``Connection.execute`` costs about 0.1 ms a statement in SQLAlchemy itself (an
    execution context, parameter and result set-up), as much as SQLite's own work for a
    token insert; the token path's few statements are run this way instead: the SQL and
    the type conversions (``bind processors``, a timestamp as SQLite stores it) come from
    SQLAlchemy's compiler, once per dialect. Anything else goes through SQLAlchemy: an ORM
    session (the CLI), and a connection whose engine has event listeners (tests and
    instrumentation that watch statements still see every one). DBAPI errors are handled
    as SQLAlchemy handles them (wrapped; a lost connection is invalidated).

    On PostgreSQL (psycopg) a query run when no transaction is open runs in autocommit:
    psycopg would otherwise send a BEGIN first, one more round trip, and the connection's
    return to the pool a ROLLBACK, another. The query sees what was committed before it
    began, as any statement does under READ COMMITTED; a write that follows opens its
    transaction as before.
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[Dialect, _CompiledStatement] = {}

    def _for(self, dialect: Dialect) -> _CompiledStatement:
        compiled = self._compiled.get(dialect)
        if compiled is None:
            compiled = self._compiled[dialect] = _CompiledStatement(self.statement, dialect)
        return compiled

    def rowcount(self, handle: DbHandle, params: dict[str, Any]) -> int:
        """Run a write; return its row count (a DELETE's or UPDATE's; an INSERT's may be -1)."""
        if _direct(handle):
            compiled = self._for(handle.dialect)
            cursor = _begin_cursor(handle, alone=False)
            try:
                return compiled.execute(handle, cursor, compiled.args(params)).rowcount
            finally:
                _end_cursor(handle, cursor, alone=False)
        return handle.execute(self.statement, params).rowcount

    def first(self, handle: DbHandle, params: dict[str, Any]) -> Any:
        """Run a query; return its first row (attributes by column name), or None."""
        if _direct(handle):
            compiled = self._for(handle.dialect)
            alone = compiled.autocommits and not handle.in_transaction()
            cursor = _begin_cursor(handle, alone=alone)
            try:
                row = compiled.execute(handle, cursor, compiled.args(params)).fetchone()
            finally:
                _end_cursor(handle, cursor, alone=alone)
            return None if row is None else compiled.row(row)
        return handle.execute(self.statement, params).first()


def _direct(handle: DbHandle) -> bool:
    """Whether a statement may skip SQLAlchemy's execution: a Core connection, no listeners."""
    return (
        isinstance(handle, Connection) and not handle._has_events and not handle.engine._has_events
    )


def _begin_cursor(conn: Connection, *, alone: bool) -> Any:
    """A DBAPI cursor for statements of this connection's transaction (begun if need be),
    or, ``alone``, for a statement in autocommit (PostgreSQL, no transaction open)."""
    dbapi_connection = conn.connection.dbapi_connection
    if not alone and not conn.in_transaction():
        conn.begin()  # as Connection.execute would (autobegin): commit() commits it
    cursor = dbapi_connection.cursor()
    if alone:
        dbapi_connection.autocommit = True  # until _end_cursor, whatever happens between
    return cursor


def _end_cursor(conn: Connection, cursor: Any, *, alone: bool) -> None:
    dbapi_connection = cursor.connection
    try:
        cursor.close()
    finally:
        if alone and not dbapi_connection.closed:  # closed: a lost one, being replaced
            try:
                dbapi_connection.autocommit = False
            except Exception:
                # Still in autocommit, it must not go back to the pool: the next
                # transaction on it would commit statement by statement.
                conn.invalidate()
                raise


class _CompiledStatement:
    """One statement's SQL, parameter order and type conversions for one dialect."""

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.names = tuple(compiled.params)
        self.positions = tuple(compiled.positiontup or ()) if compiled.positional else None
        # Only the parameters that need one (SQLite's timestamps, as text); psycopg's need none.
        self.conversions = tuple(compiled._bind_processors.items())
        self.autocommits = _autocommits(dialect)
        columns = getattr(statement, "selected_columns", None)
        self.row_type = None
        self.results: tuple[Any, ...] = ()
        if columns is not None and len(columns):
            names = [column.key for column in columns]
            self.row_type = collections.namedtuple("PreparedRow", names)  # type: ignore[misc]
            self.results = tuple(c.type._cached_result_processor(dialect, None) for c in columns)

    def args(self, params: dict[str, Any]) -> Any:
        """The DBAPI's parameters: converted where a type says so, in the dialect's style."""
        if self.conversions:
            params = _converted(params, self.conversions)
        return self.ordered(params)

    def ordered(self, values: dict[str, Any]) -> Any:
        """Converted values in the dialect's style: the mapping, or a list in its order."""
        if self.positions is None:
            return values
        return [values[name] for name in self.positions]

    def execute(self, conn: Connection, cursor: Any, args: Any) -> Any:
        try:
            cursor.execute(self.sql, args)
        except Exception as error:
            conn._handle_dbapi_exception(error, self.sql, args, cursor, None)
        return cursor

    def row(self, row: Any) -> Any:
        assert self.row_type is not None
        return self.row_type._make(
            value if convert is None or value is None else convert(value)
            for convert, value in zip(self.results, row, strict=True)
        )


def _autocommits(dialect: Dialect) -> bool:
    """Whether a statement may run alone in autocommit at no cost: psycopg switches
    without a round trip (MySQL drivers send a SET for it; SQLite needs no switch, its
    queries open no transaction)."""
    return dialect.driver == "psycopg"


def _converted(params: dict[str, Any], conversions: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    values = dict(params)
    for name, convert in conversions:
        values[name] = convert(values[name])
    return values


class PreparedWrites:
    """Write statements run in turn as one unit, each compiled once per dialect.

    The unit takes one parameter mapping (each value converted once, whatever the number
    of statements using it) and runs on one cursor. A statement that changes no row ends
    the unit (a DELETE that found nothing: what follows must not be written); the unit's
    row count is its last statement's.

    ``combined`` is the same unit as one statement for PostgreSQL (a data-modifying CTE;
    its row count 0 when its DELETE found nothing): one round trip instead of one per
    statement. A unit of one statement there, when no transaction is open, is a transaction
    of its own: it runs in autocommit and is committed when it returns, without a BEGIN
    and a COMMIT round trip (``commit()`` then has nothing to do). Within an open
    transaction it is part of it. Through SQLAlchemy (an ORM session, an engine with
    listeners) the statements run one by one in the handle's transaction.
    """

    def __init__(self, *statements: Executable, combined: Executable | None = None) -> None:
        if not statements:
            raise ValueError("PreparedWrites needs at least one statement.")
        self.statements = statements
        self.combined = combined
        self._compiled: dict[Dialect, _CompiledWrites] = {}

    def _for(self, dialect: Dialect) -> _CompiledWrites:
        compiled = self._compiled.get(dialect)
        if compiled is None:
            compiled = self._compiled[dialect] = _CompiledWrites(self._statements(dialect), dialect)
        return compiled

    def _statements(self, dialect: Dialect) -> tuple[Executable, ...]:
        if self.combined is not None and dialect.name == "postgresql":
            return (self.combined,)
        return self.statements

    def rowcount(self, handle: DbHandle, params: dict[str, Any]) -> int:
        """Run the unit; return its last statement's row count (0: it stopped there)."""
        if not _direct(handle):
            return self._through_sqlalchemy(handle, params)
        compiled = self._for(handle.dialect)
        alone = compiled.autocommits and not handle.in_transaction()
        values = _converted(params, compiled.conversions) if compiled.conversions else params
        cursor = _begin_cursor(handle, alone=alone)
        try:
            for statement in compiled.statements:
                rowcount = statement.execute(handle, cursor, statement.ordered(values)).rowcount
                if rowcount == 0:
                    break
        finally:
            _end_cursor(handle, cursor, alone=alone)
        return rowcount

    def _through_sqlalchemy(self, handle: DbHandle, params: dict[str, Any]) -> int:
        dialect = handle.dialect if isinstance(handle, Connection) else handle.get_bind().dialect
        for statement, compiled in zip(
            self._statements(dialect), self._for(dialect).statements, strict=True
        ):
            # Only the statement's own parameters: an INSERT would take any other key that
            # names one of its table's columns as one more value.
            own = {name: params[name] for name in compiled.names}
            # An INSERT's row count is kept only when asked for (SQLAlchemy 2).
            options = {"preserve_rowcount": True}
            rowcount = handle.execute(statement, own, execution_options=options).rowcount
            if rowcount == 0:
                break
        return rowcount


class _CompiledWrites:
    """A unit's statements for one dialect, with the conversions of all their parameters."""

    def __init__(self, statements: Iterable[Executable], dialect: Dialect) -> None:
        self.statements = tuple(_CompiledStatement(s, dialect) for s in statements)
        conversions: dict[str, Any] = {}
        for statement in self.statements:
            conversions.update(statement.conversions)
        self.conversions = tuple(conversions.items())
        # Alone in autocommit only as one statement: two would be two transactions.
        self.autocommits = len(self.statements) == 1 and self.statements[0].autocommits
