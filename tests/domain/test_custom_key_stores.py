"""Custom key store connection states and the refusals AWS documents for each
(openkms.domain.custom_key_stores)."""

from __future__ import annotations

import re

import pytest

from openkms.domain import custom_key_stores as stores
from openkms.domain.custom_key_stores import (
    ConnectionErrorCode,
    ConnectionState,
    CustomKeyStore,
    CustomKeyStoreType,
)
from openkms.domain.keys import Key, KeyManager, KeySpec, KeyState, KeyUsage, Origin
from openkms.errors import CustomKeyStoreInvalidStateException


def store(state: ConnectionState) -> CustomKeyStore:
    return CustomKeyStore(
        "cks-1234567890abcdef0",
        "111122223333",
        "us-east-1",
        "vault",
        CustomKeyStoreType.AWS_CLOUDHSM,
        state,
        0.0,
    )


def key(state: KeyState) -> Key:
    return Key(
        "k",
        "111122223333",
        "us-east-1",
        KeySpec.SYMMETRIC_DEFAULT,
        KeyUsage.ENCRYPT_DECRYPT,
        Origin.AWS_CLOUDHSM,
        KeyManager.CUSTOMER,
        state,
        "",
        "{}",
        0.0,
        1,
        custom_key_store_id="cks-1234567890abcdef0",
    )


def test_connect_and_disconnect_follow_aws_rules() -> None:
    for state in (ConnectionState.DISCONNECTING, ConnectionState.FAILED):
        with pytest.raises(CustomKeyStoreInvalidStateException, match="ConnectCustomKeyStore"):
            stores.require_connectable(store(state))
    stores.require_connectable(store(ConnectionState.CONNECTED))
    failed = stores.failed(store(ConnectionState.CONNECTING), ConnectionErrorCode.USER_LOCKED_OUT)
    assert failed.connection_error is ConnectionErrorCode.USER_LOCKED_OUT
    back = stores.disconnected(failed)
    assert back.connection_state is ConnectionState.DISCONNECTED
    assert back.connection_error is None
    for state in (ConnectionState.DISCONNECTED, ConnectionState.DISCONNECTING):
        with pytest.raises(CustomKeyStoreInvalidStateException):
            stores.disconnected(store(state))
    assert stores.connected(failed).connected
    with pytest.raises(CustomKeyStoreInvalidStateException, match="DeleteCustomKeyStore"):
        stores.require_disconnected(store(ConnectionState.CONNECTED), "DeleteCustomKeyStore")
    with pytest.raises(CustomKeyStoreInvalidStateException, match="CreateKey"):
        stores.require_connected(store(ConnectionState.FAILED), "CreateKey")


def test_keys_of_a_store_not_connected_are_unavailable() -> None:
    down = store(ConnectionState.DISCONNECTED)
    up = store(ConnectionState.CONNECTED)
    assert stores.effective_state(key(KeyState.ENABLED), down) is KeyState.UNAVAILABLE
    assert stores.effective_state(key(KeyState.DISABLED), down) is KeyState.UNAVAILABLE
    assert stores.effective_state(key(KeyState.PENDING_DELETION), down) is (
        KeyState.PENDING_DELETION
    )
    assert stores.effective_state(key(KeyState.DISABLED), up) is KeyState.DISABLED
    assert stores.effective_state(key(KeyState.ENABLED), None) is KeyState.ENABLED


def test_identifiers() -> None:
    assert re.fullmatch(r"cks-[0-9a-f]{17}", stores.new_store_id())
    assert stores.CLUSTER_ID_PATTERN.fullmatch("cluster-jxyqf5mkphq")
    for bad in ("cluster-1234abcd", "cluster-short", "cks-jxyqf5mkphqaa"):
        assert not stores.CLUSTER_ID_PATTERN.fullmatch(bad)
    assert stores.hsm_key_label("k", 3) == "k/3"
