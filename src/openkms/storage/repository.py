"""Repositories over SQLAlchemy Core, used through one unit of work per request.

``Store.transaction(write=...)`` yields a :class:`Tx` bound to one database
transaction: everything a request changes commits together or not at all.
Rows are converted to frozen domain values here; nothing above this module sees a row.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from openkms.domain.aliases import Alias
from openkms.domain.keys import Key, KeyManager, KeyMaterial, KeySpec, KeyState, KeyUsage, Origin
from openkms.storage import tables as t


class DuplicateError(Exception):
    """A row with the same primary key exists already."""


class StoredAccessKey:
    __slots__ = ("access_key_id", "account_id", "principal_arn", "wrapped_secret", "status")

    def __init__(self, row: Any) -> None:
        self.access_key_id: str = row.access_key_id
        self.account_id: str = row.account_id
        self.principal_arn: str = row.principal_arn
        self.wrapped_secret: bytes = bytes(row.wrapped_secret)
        self.status: str = row.status


def _key_from_row(row: Any) -> Key:
    return Key(
        key_id=row.key_id,
        account=row.account_id,
        region=row.region,
        spec=KeySpec(row.key_spec),
        usage=KeyUsage(row.key_usage),
        origin=Origin(row.origin),
        manager=KeyManager(row.key_manager),
        state=KeyState(row.key_state),
        description=row.description,
        policy=row.policy,
        created_at=row.created_at,
        current_version=row.current_version,
        deletion_date=row.deletion_date,
        pending_window_days=row.pending_window_days,
        multi_region=bool(row.multi_region),
    )


def _key_values(key: Key) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "account_id": key.account,
        "region": key.region,
        "key_spec": key.spec.value,
        "key_usage": key.usage.value,
        "origin": key.origin.value,
        "key_manager": key.manager.value,
        "key_state": key.state.value,
        "description": key.description,
        "policy": key.policy,
        "created_at": key.created_at,
        "current_version": key.current_version,
        "deletion_date": key.deletion_date,
        "pending_window_days": key.pending_window_days,
        "multi_region": key.multi_region,
    }


def _alias_from_row(row: Any) -> Alias:
    return Alias(
        account=row.account_id,
        region=row.region,
        name=row.name,
        target_key_id=row.target_key_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class Tx:
    """Data access inside one transaction."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # keys -----------------------------------------------------------------
    def get_key(self, key_id: str, *, for_update: bool = False) -> Key | None:
        stmt = select(t.keys).where(t.keys.c.key_id == key_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = self.conn.execute(stmt).first()
        return None if row is None else _key_from_row(row)

    def insert_key(self, key: Key, material: KeyMaterial, tags: Mapping[str, str]) -> None:
        self.conn.execute(insert(t.keys).values(**_key_values(key)))
        self.insert_material(material)
        self.replace_tags(key.key_id, tags)

    def update_key(self, key: Key) -> None:
        values = _key_values(key)
        del values["key_id"]
        self.conn.execute(update(t.keys).where(t.keys.c.key_id == key.key_id).values(**values))

    def list_keys(self, account: str, region: str, after: str | None, limit: int) -> list[Key]:
        cond = and_(t.keys.c.account_id == account, t.keys.c.region == region)
        if after is not None:
            cond = and_(cond, t.keys.c.key_id > after)
        stmt = select(t.keys).where(cond).order_by(t.keys.c.key_id).limit(limit)
        return [_key_from_row(r) for r in self.conn.execute(stmt)]

    # key material ---------------------------------------------------------
    def insert_material(self, material: KeyMaterial) -> None:
        self.conn.execute(
            insert(t.key_materials).values(
                key_id=material.key_id,
                version=material.version,
                material_id=material.material_id,
                wrapped_material=material.wrapped,
                created_at=material.created_at,
            )
        )

    def get_material(self, key_id: str, version: int) -> KeyMaterial | None:
        c = t.key_materials.c
        row = self.conn.execute(
            select(t.key_materials).where(and_(c.key_id == key_id, c.version == version))
        ).first()
        if row is None:
            return None
        return KeyMaterial(
            key_id=row.key_id,
            version=row.version,
            material_id=row.material_id,
            wrapped=bytes(row.wrapped_material),
            created_at=row.created_at,
        )

    # aliases --------------------------------------------------------------
    def get_alias(self, account: str, region: str, name: str) -> Alias | None:
        c = t.aliases.c
        row = self.conn.execute(
            select(t.aliases).where(
                and_(c.account_id == account, c.region == region, c.name == name)
            )
        ).first()
        return None if row is None else _alias_from_row(row)

    def insert_alias(self, alias: Alias) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    insert(t.aliases).values(
                        account_id=alias.account,
                        region=alias.region,
                        name=alias.name,
                        target_key_id=alias.target_key_id,
                        created_at=alias.created_at,
                        updated_at=alias.updated_at,
                    )
                )
        except IntegrityError:
            raise DuplicateError(alias.name) from None

    def update_alias(self, alias: Alias) -> None:
        c = t.aliases.c
        self.conn.execute(
            update(t.aliases)
            .where(
                and_(c.account_id == alias.account, c.region == alias.region, c.name == alias.name)
            )
            .values(target_key_id=alias.target_key_id, updated_at=alias.updated_at)
        )

    def delete_alias(self, alias: Alias) -> None:
        c = t.aliases.c
        self.conn.execute(
            delete(t.aliases).where(
                and_(c.account_id == alias.account, c.region == alias.region, c.name == alias.name)
            )
        )

    def list_aliases(
        self, account: str, region: str, key_id: str | None, after: str | None, limit: int
    ) -> list[Alias]:
        c = t.aliases.c
        cond = and_(c.account_id == account, c.region == region)
        if key_id is not None:
            cond = and_(cond, c.target_key_id == key_id)
        if after is not None:
            cond = and_(cond, c.name > after)
        stmt = select(t.aliases).where(cond).order_by(c.name).limit(limit)
        return [_alias_from_row(r) for r in self.conn.execute(stmt)]

    # tags -----------------------------------------------------------------
    def get_tags(self, key_id: str) -> dict[str, str]:
        c = t.tags.c
        rows = self.conn.execute(
            select(c.tag_key, c.tag_value).where(c.key_id == key_id).order_by(c.tag_key)
        )
        return {r.tag_key: r.tag_value for r in rows}

    def replace_tags(self, key_id: str, tags: Mapping[str, str]) -> None:
        self.conn.execute(delete(t.tags).where(t.tags.c.key_id == key_id))
        if tags:
            self.conn.execute(
                insert(t.tags),
                [{"key_id": key_id, "tag_key": k, "tag_value": v} for k, v in tags.items()],
            )

    # access keys and settings --------------------------------------------
    def get_access_key(self, access_key_id: str) -> StoredAccessKey | None:
        row = self.conn.execute(
            select(t.access_keys).where(t.access_keys.c.access_key_id == access_key_id)
        ).first()
        return None if row is None else StoredAccessKey(row)

    def put_access_key(
        self,
        access_key_id: str,
        account: str,
        principal_arn: str,
        wrapped_secret: bytes,
        now: float,
    ) -> None:
        self.conn.execute(
            delete(t.access_keys).where(t.access_keys.c.access_key_id == access_key_id)
        )
        self.conn.execute(
            insert(t.access_keys).values(
                access_key_id=access_key_id,
                account_id=account,
                principal_arn=principal_arn,
                wrapped_secret=wrapped_secret,
                status="Active",
                created_at=now,
            )
        )

    def root_access_key_ids(self, account: str) -> list[str]:
        c = t.access_keys.c
        rows = self.conn.execute(
            select(c.access_key_id).where(
                and_(c.account_id == account, c.principal_arn == f"arn:aws:iam::{account}:root")
            )
        )
        return [r.access_key_id for r in rows]

    def get_meta(self, name: str) -> bytes | None:
        row = self.conn.execute(select(t.meta.c.value).where(t.meta.c.name == name)).first()
        return None if row is None else bytes(row.value)

    def set_meta(self, name: str, value: bytes) -> None:
        self.conn.execute(delete(t.meta).where(t.meta.c.name == name))
        self.conn.execute(insert(t.meta).values(name=name, value=value))

    def wipe_kms_state(self) -> None:
        """Delete every key, alias, tag and material (dev-mode reset)."""
        for table in (t.tags, t.aliases, t.key_materials, t.keys):
            self.conn.execute(delete(table))


class Store:
    """Opens units of work on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Tx]:
        with self.engine.connect() as conn:
            conn.info["write"] = write
            with conn.begin():
                yield Tx(conn)

    def close(self) -> None:
        self.engine.dispose()
