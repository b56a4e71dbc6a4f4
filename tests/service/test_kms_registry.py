"""The KMS operation registry: built from each handler module's explicit ``OPERATIONS``
list, per-operation condition keys declared with the operation, and handlers given narrow
dependencies rather than the service."""

from __future__ import annotations

import ast
import dataclasses
import time
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain.principals import Principal
from openkms.service.context import RequestContext
from openkms.service.kms.call import OperationCall
from openkms.service.kms.dispatch import KMSService
from openkms.service.kms.ops import (
    REGISTRY,
    aliases,
    asymmetric,
    crypto,
    custom_key_stores,
    grants,
    imports,
    keys,
    multi_region,
    policies,
    rotation,
    tags,
)
from openkms.service.kms.registry import Operation, operation, registry_of
from openkms.storage.engine import make_engine
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import Store

ACCOUNT = "111122223333"
MODULES = (
    aliases,
    asymmetric,
    crypto,
    custom_key_stores,
    grants,
    imports,
    keys,
    multi_region,
    policies,
    rotation,
    tags,
)


def ctx() -> RequestContext:
    return RequestContext("req", Principal.root(ACCOUNT, "AK"), "us-east-1", time.time())


def test_the_registry_is_exactly_the_modules_lists() -> None:
    listed = [op for module in MODULES for op in module.OPERATIONS]
    assert len(listed) == len(REGISTRY)
    assert all(REGISTRY[op.name] is op for op in listed)


def test_every_registered_operation_is_a_kms_api_operation() -> None:
    model = botocore.session.get_session().get_service_model("kms")
    assert set(REGISTRY) <= set(model.operation_names)


def _handler(call: OperationCall[object]) -> dict[str, Any]:
    return {}


def test_declaring_an_operation_registers_nothing() -> None:
    before = dict(REGISTRY)
    declared = operation("Encrypt", writes=True)(_handler)
    assert isinstance(declared, Operation) and declared.action == "kms:Encrypt"
    assert REGISTRY == before and REGISTRY["Encrypt"] is not declared


def test_an_operation_listed_twice_is_refused() -> None:
    first = operation("Example")(_handler)
    again = operation("Example", writes=True)(_handler)
    with pytest.raises(RuntimeError, match="Example registered twice"):
        registry_of((first,), (again,))


def test_re_encrypt_declares_whether_source_and_destination_are_the_same_key() -> None:
    service = KMSService(Store(make_engine("sqlite://")), SoftwareKeyring(new_root_key()))
    a = service.dispatch(ctx(), "CreateKey", {})["KeyMetadata"]["KeyId"]
    b = service.dispatch(ctx(), "CreateKey", {})["KeyMetadata"]["KeyId"]
    hook = REGISTRY["ReEncrypt"].condition_keys
    assert hook is not None
    with service.store.transaction() as tx:
        key_a, key_b = key_records.get_key(tx, a), key_records.get_key(tx, b)
    assert key_a is not None and key_b is not None
    assert hook([key_a, key_a]) == {"kms:ReEncryptOnSameKey": True}
    assert hook([key_a, key_b]) == {"kms:ReEncryptOnSameKey": False}
    others = [op.name for op in REGISTRY.values() if op.condition_keys is not None]
    assert others == ["ReEncrypt"]


def test_handlers_get_the_services_parts_not_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    service = KMSService(Store(make_engine("sqlite://")), SoftwareKeyring(new_root_key()))
    woken: list[bool] = []
    service.wake_maintenance = lambda: woken.append(True)
    seen: list[OperationCall[object]] = []

    def spy(call: OperationCall[object]) -> dict[str, Any]:
        seen.append(call)
        call.wake_maintenance()
        return {}

    monkeypatch.setitem(
        REGISTRY, "ListKeys", dataclasses.replace(REGISTRY["ListKeys"], handler=spy)
    )
    service.dispatch(ctx(), "ListKeys", {})
    (call,) = seen
    assert call.keyring is service.keyring
    assert call.materials is service.materials
    assert call.wrapping_keys is service.wrapping_keys
    assert woken == [True]
    assert "service" not in {field.name for field in dataclasses.fields(OperationCall)}


def test_no_handler_module_imports_another() -> None:
    """Helpers shared by handler families live in service/kms/ modules named for what
    they are, not in one family's handler module."""
    for module in MODULES:
        assert module.__file__ is not None
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {
            name for name in imported if name and name.startswith("openkms.service.kms.ops")
        }
