"""Every statement the repositories run compiles on both dialects (no server needed).

The repositories compile each statement once per engine, lazily, the first time it runs
(:class:`openkms.storage.sql.StatementCache`); a statement that only breaks on PostgreSQL
would otherwise first fail on a request against a PostgreSQL node. Compiling them all
here against SQLAlchemy's sqlite and postgresql dialects catches that in the unit tests.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from openkms.storage import statements
from openkms.storage.sql import CompiledStatement

#: The dialects of the engines :func:`openkms.storage.engine.make_engine` makes
#: (PostgreSQL through psycopg 3, named parameters; SQLite positional).
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.psycopg.dialect()}


class _Engine:
    """What CompiledStatement reads from an engine: its dialect."""

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("name", sorted(statements.BUILDERS))
def test_statement_compiles(name: str, dialect: str) -> None:
    engine: Any = _Engine(DIALECTS[dialect])
    compiled = CompiledStatement(statements.BUILDERS[name](), engine)
    assert compiled.sql.strip()
    assert compiled.positional == (dialect == "sqlite")
    # Every positional slot has a name the repositories pass (or the compiler's default).
    assert all(isinstance(n, str) and n for n in compiled.names)
