"""Every statement the repositories run compiles on both dialects (no server needed).

The repositories compile each statement once per engine, lazily, the first time it runs
(:class:`openkms.storage.sql.StatementCache`); a statement that only breaks on PostgreSQL
would otherwise first fail on a request against a PostgreSQL node. Compiling them all
here against SQLAlchemy's sqlite and postgresql dialects catches that in the unit tests.
The statements are found by walking the storage package: each record family declares
its own as module-level :class:`~openkms.storage.sql.Statement` values (or dicts of them).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite

import openkms.storage
from openkms.storage.sql import CompiledStatement, Statement

#: The dialects of the engines :func:`openkms.storage.engine.make_engine` makes
#: (PostgreSQL through psycopg 3, named parameters; SQLite positional).
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.psycopg.dialect()}


def _all_statements() -> dict[str, Statement]:
    found: dict[int, tuple[str, Statement]] = {}
    for info in pkgutil.walk_packages(openkms.storage.__path__, "openkms.storage."):
        if ".migrations" in info.name:
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            candidates = value.values() if isinstance(value, dict) else (value,)
            for candidate in candidates:
                if isinstance(candidate, Statement):
                    found[id(candidate)] = (f"{info.name}:{candidate.name}", candidate)
    return dict(found.values())


STATEMENTS = _all_statements()


def test_every_family_declares_statements() -> None:
    families = {name.split(":")[0] for name in STATEMENTS}
    for module in (
        "openkms.storage.statements",
        "openkms.storage.keys.statements",
        "openkms.storage.grants.statements",
        "openkms.storage.identity.statements",
        "openkms.storage.audit.statements",
        "openkms.storage.audit.usage",
    ):
        assert module in families


def test_statement_names_are_unique() -> None:
    names = [s.name for s in STATEMENTS.values()]
    assert len(names) == len(set(names))


class _Engine:
    """What CompiledStatement reads from an engine: its dialect."""

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_statement_compiles(name: str, dialect: str) -> None:
    engine: Any = _Engine(DIALECTS[dialect])
    compiled = CompiledStatement(STATEMENTS[name].build(), engine)
    assert compiled.sql.strip()
    assert compiled.positional == (dialect == "sqlite")
    # Every positional slot has a name the repositories pass (or the compiler's default).
    assert all(isinstance(n, str) and n for n in compiled.names)


def test_rows_decoded_by_name_share_their_layout() -> None:
    """The key rows are decoded with the column map of one statement; every statement
    whose rows go through the same decoder returns the same columns."""
    from openkms.storage.keys import rows
    from openkms.storage.keys import statements as key_statements
    from openkms.storage.sql import columns

    assert columns(key_statements.keys_list) == rows.KEY
    assert columns(key_statements.keys_list_after) == rows.KEY
    assert columns(key_statements.key_get_for_update) == rows.KEY
    assert columns(key_statements.materials_list) == rows.MATERIAL
    for statement in key_statements.aliases_list.values():
        assert columns(statement) == rows.ALIAS


def test_grant_rows_share_their_layout() -> None:
    from openkms.storage.grants import repository
    from openkms.storage.grants import statements as grant_statements
    from openkms.storage.sql import columns

    for statement in (
        grant_statements.grants_all_for_key,
        grant_statements.grants_for_grantee,
        grant_statements.grants_by_name,
        grant_statements.grants_retirable,
        grant_statements.grants_retirable_after,
        *grant_statements.grants_list.values(),
    ):
        assert columns(statement) == repository._GRANT


def test_identity_rows_share_their_layout() -> None:
    from openkms.storage.identity import repository
    from openkms.storage.identity import statements as identity_statements
    from openkms.storage.sql import columns

    for statement in (
        identity_statements.iam_user_get_for_update,
        identity_statements.iam_user_by_id,
        identity_statements.iam_users_list,
    ):
        assert columns(statement) == repository._USER
    for statement in (
        identity_statements.iam_role_get_for_update,
        identity_statements.iam_role_by_id,
        identity_statements.iam_roles_list,
    ):
        assert columns(statement) == repository._ROLE
