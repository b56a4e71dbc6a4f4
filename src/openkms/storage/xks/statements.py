"""The statements of :mod:`openkms.storage.xks.repository`."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, insert, select, update

from openkms.storage.sql import Statement
from openkms.storage.xks.tables import xks_credentials, xks_keys

_k = xks_keys.c
_c = xks_credentials.c

xks_key_get = Statement(
    "xks_key_get", lambda: select(xks_keys).where(_k.key_id == bindparam("key_id"))
)
xks_key_list = Statement("xks_key_list", lambda: select(xks_keys).order_by(_k.key_id))
xks_key_insert = Statement(
    "xks_key_insert",
    lambda: insert(xks_keys).values({c.name: bindparam(c.name) for c in xks_keys.c}),
)
xks_key_set_status = Statement(
    "xks_key_set_status",
    lambda: (
        update(xks_keys).where(_k.key_id == bindparam("key_id")).values(status=bindparam("status"))
    ),
)
xks_key_delete = Statement(
    "xks_key_delete", lambda: delete(xks_keys).where(_k.key_id == bindparam("key_id"))
)
xks_credential_get = Statement(
    "xks_credential_get",
    lambda: select(_c.wrapped_secret).where(_c.access_key_id == bindparam("access_key_id")),
)
xks_credential_list = Statement(
    "xks_credential_list",
    lambda: select(_c.access_key_id, _c.created_at).order_by(_c.created_at, _c.access_key_id),
)
xks_credential_insert = Statement(
    "xks_credential_insert",
    lambda: insert(xks_credentials).values({c.name: bindparam(c.name) for c in xks_credentials.c}),
)
xks_credential_delete = Statement(
    "xks_credential_delete",
    lambda: delete(xks_credentials).where(_c.access_key_id == bindparam("access_key_id")),
)
