"""Statements compiled once per dialect and run on the DBAPI connection directly.

SQLAlchemy Core writes the SQL (one schema and one set of statements for SQLite and
PostgreSQL); executing through its Connection costs ~100 µs per statement, which
would dominate a KMS request. So each statement is compiled once for the engine's
dialect and then run through the raw DBAPI cursor (~8 µs on SQLite).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.sql.expression import ClauseElement


class CompiledStatement:
    """One statement for one dialect: its SQL text and how to lay out its parameters."""

    __slots__ = ("defaults", "names", "positional", "sql")

    def __init__(self, statement: ClauseElement, engine: Engine) -> None:
        compiled: Any = statement.compile(dialect=engine.dialect)  # an SQLCompiler
        self.sql: str = compiled.string
        self.positional: bool = bool(compiled.positional)
        self.names: Sequence[str] = tuple(compiled.positiontup or ()) if self.positional else ()
        # Parameters the compiler added itself, e.g. SQLite's "OFFSET ?" after a LIMIT.
        self.defaults: dict[str, Any] = {k: v for k, v in compiled.params.items() if v is not None}

    def params(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        if self.positional:
            if self.defaults:
                values = {**self.defaults, **values}
            return tuple(values[name] for name in self.names)
        return {**self.defaults, **values} if self.defaults else values


class StatementCache:
    """Compiles statements lazily, once per (engine, statement name)."""

    def __init__(self, engine: Engine, builders: Mapping[str, Any]) -> None:
        self._engine = engine
        self._builders = builders
        self._compiled: dict[str, CompiledStatement] = {}

    def __getitem__(self, name: str) -> CompiledStatement:
        found = self._compiled.get(name)
        if found is None:
            found = self._compiled[name] = CompiledStatement(self._builders[name](), self._engine)
        return found
