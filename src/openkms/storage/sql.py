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


class CompiledStatement:
    """One statement for one dialect: its SQL text and how to lay out its parameters."""

    __slots__ = ("_ordered", "defaults", "names", "positional", "sql")

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

    def params(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        if self.positional:
            if self.defaults:
                values = {**self.defaults, **values}
            return self._ordered(values)
        return {**self.defaults, **values} if self.defaults else values


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

    def __getitem__(self, statement: Statement) -> CompiledStatement:
        found = self._compiled.get(statement)
        if found is None:
            found = CompiledStatement(statement.build(), self._engine)
            self._compiled[statement] = found
        return found
