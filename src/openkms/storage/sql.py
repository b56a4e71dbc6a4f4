"""Statements compiled once per dialect and run on the DBAPI connection directly.

SQLAlchemy Core writes the SQL (one schema and one set of statements for SQLite and
PostgreSQL); executing through its Connection costs ~100 µs per statement, which
would dominate a KMS request. So each statement is compiled once for the engine's
dialect and then run through the raw DBAPI cursor (~8 µs on SQLite).

Each record family declares its statements as module-level :class:`Statement` values in
its own ``statements`` module; repositories pass them to the
:class:`~openkms.storage.repository.Tx` (no global registry, no names built from strings).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.sql.expression import ClauseElement


class Statement:
    """One statement: ``build`` makes its SQLAlchemy Core form, compiled on first use
    per engine. Compared by identity; ``name`` is for reading (tests, errors)."""

    __slots__ = ("build", "name")

    def __init__(self, name: str, build: Callable[[], Any]) -> None:
        self.name = name
        self.build = build

    def __repr__(self) -> str:
        return f"Statement({self.name!r})"


def columns(statement: Statement) -> dict[str, int]:
    """Column name -> position in the rows ``statement`` returns (read once, at import,
    by the modules that decode its rows)."""
    built: Any = statement.build()
    return {name: i for i, name in enumerate(built.selected_columns.keys())}


#: ``INSERT ... VALUES (%(a)s, %(b)s::BIGINT, ...)`` as PostgreSQL's dialect compiles it.
_SINGLE_ROW_INSERT = re.compile(r"(INSERT INTO .+ VALUES )(\((?:[^()]|\([^()]*\))*\))", re.S)
_NAMED = re.compile(r"%\((\w+)\)s")
#: Rows per multi-row INSERT (PostgreSQL takes at most 65,535 parameters per statement).
MULTI_ROW_CHUNK = 1000


class CompiledStatement:
    """One statement for one dialect: its SQL text and how to lay out its parameters."""

    __slots__ = (
        "_multi",
        "_ordered",
        "_row",
        "_row_names",
        "defaults",
        "names",
        "positional",
        "sql",
    )

    def __init__(self, statement: ClauseElement, engine: Engine) -> None:
        compiled: Any = statement.compile(dialect=engine.dialect)  # an SQLCompiler
        self.sql: str = compiled.string
        self.positional: bool = bool(compiled.positional)
        self.names: Sequence[str] = tuple(compiled.positiontup or ()) if self.positional else ()
        # Parameters the compiler added itself, e.g. SQLite's "OFFSET ?" after a LIMIT.
        self.defaults: dict[str, Any] = {k: v for k, v in compiled.params.items() if v is not None}
        # One C call lays out a row's parameters (batched inserts call this per row).
        self._ordered: Callable[[Mapping[str, Any]], tuple[Any, ...]] = (
            operator.itemgetter(*self.names) if len(self.names) > 1 else _one_or_none(self.names)
        )
        # A plain one-row INSERT with named parameters (PostgreSQL's form): the row
        # template that :meth:`many_rows` repeats.
        self._row: tuple[str, str] | None = None
        self._row_names: Callable[[Mapping[str, Any]], tuple[Any, ...]] = _one_or_none(())
        self._multi: dict[int, str] = {}
        found = _SINGLE_ROW_INSERT.fullmatch(self.sql)
        if not self.positional and found is not None:
            row_names = _NAMED.findall(found.group(2))
            if row_names and not self.defaults:
                self._row = (found.group(1), _NAMED.sub("%s", found.group(2)))
                self._row_names = (
                    operator.itemgetter(*row_names)
                    if len(row_names) > 1
                    else _one_or_none(row_names)
                )

    def params(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        if self.positional:
            if self.defaults:
                values = {**self.defaults, **values}
            return self._ordered(values)
        return {**self.defaults, **values} if self.defaults else values

    def many_rows(self, rows: Sequence[Mapping[str, Any]]) -> tuple[str, list[Any]] | None:
        """This INSERT of every row in ``rows`` (at most :data:`MULTI_ROW_CHUNK`) as one
        multi-row statement and its positional parameters; None when this statement is
        not a plain one-row INSERT with named parameters (PostgreSQL's dialect)."""
        if self._row is None:
            return None
        sql = self._multi.get(len(rows))
        if sql is None:
            head, row = self._row
            sql = self._multi[len(rows)] = head + ", ".join([row] * len(rows))
        params: list[Any] = []
        for values in rows:
            params += self._row_names(values)
        return sql, params


def _one_or_none(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """Parameters of a statement with at most one (``itemgetter`` of one name returns
    the value itself, not a tuple)."""
    if not names:
        return lambda values: ()
    name = names[0]
    return lambda values: (values[name],)


class StatementCache:
    """Compiles statements lazily, once per (engine, statement)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._compiled: dict[Statement, CompiledStatement] = {}
        #: Batched inserts go as multi-row statements (PostgreSQL; see Tx.execute_many).
        self.multi_row_inserts = engine.dialect.name == "postgresql"

    def __getitem__(self, statement: Statement) -> CompiledStatement:
        found = self._compiled.get(statement)
        if found is None:
            found = CompiledStatement(statement.build(), self._engine)
            self._compiled[statement] = found
        return found
