"""Several server nodes on one PostgreSQL database, and several worker processes on one
SQLite file: a state change made through one holds in every other within the documented
bound (:data:`openkms.storage.read_cache.CROSS_PROCESS_BOUND`), and at once in the process
that made it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from servers import PostgresCluster, ServerProcess

from conftest import ACCESS_KEY, ACCOUNT, SECRET_KEY, make_client
from openkms.storage.read_cache import CROSS_PROCESS_BOUND

ROOT_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # 32 bytes, shared by the nodes


@pytest.fixture()
def nodes(postgres: PostgresCluster, tmp_path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    database = postgres.create_database("openkms_multinode")
    started = []
    try:
        for name in ("a", "b"):
            data_dir = tmp_path / name
            data_dir.mkdir()
            started.append(
                ServerProcess.start(
                    data_dir=str(data_dir),
                    database=database,
                    account=ACCOUNT,
                    access_key=ACCESS_KEY,
                    secret_key=SECRET_KEY,
                    extra_env={"OPENKMS_ROOT_KEY": ROOT_KEY},
                )
            )
        yield started[0], started[1]
    finally:
        for node in started:
            node.stop()


def test_disable_on_one_node_stops_decrypt_on_the_other(nodes) -> None:
    a, b = (make_client(n.endpoint) for n in nodes)
    key = a.create_key()["KeyMetadata"]["Arn"]
    blob = a.encrypt(KeyId=key, Plaintext=b"shared")["CiphertextBlob"]
    assert b.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"  # b caches the material
    a.disable_key(KeyId=key)
    with pytest.raises(ClientError) as exc:
        a.decrypt(CiphertextBlob=blob)  # at once on the node that made the change
    assert exc.value.response["Error"]["Code"] == "DisabledException"
    time.sleep(CROSS_PROCESS_BOUND)
    with pytest.raises(ClientError) as exc:
        b.decrypt(CiphertextBlob=blob)
    assert exc.value.response["Error"]["Code"] == "DisabledException"
    b.enable_key(KeyId=key)
    time.sleep(CROSS_PROCESS_BOUND)
    assert a.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"
    b.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    time.sleep(CROSS_PROCESS_BOUND)
    with pytest.raises(ClientError) as exc:
        a.encrypt(KeyId=key, Plaintext=b"x")
    assert exc.value.response["Error"]["Code"] == "KMSInvalidStateException"


def test_alias_moves_are_seen_by_every_node(nodes) -> None:
    a, b = (make_client(n.endpoint) for n in nodes)
    first = a.create_key()["KeyMetadata"]["KeyId"]
    second = a.create_key()["KeyMetadata"]["KeyId"]
    name = "alias/multinode-" + os.urandom(4).hex()
    a.create_alias(AliasName=name, TargetKeyId=first)
    time.sleep(CROSS_PROCESS_BOUND)
    assert b.encrypt(KeyId=name, Plaintext=b"x")["KeyId"].endswith(first)
    a.update_alias(AliasName=name, TargetKeyId=second)
    time.sleep(CROSS_PROCESS_BOUND)
    assert b.encrypt(KeyId=name, Plaintext=b"x")["KeyId"].endswith(second)


def test_concurrent_alias_creation_has_one_winner(nodes) -> None:
    from concurrent.futures import ThreadPoolExecutor

    clients = [make_client(n.endpoint) for n in nodes]
    key = clients[0].create_key()["KeyMetadata"]["KeyId"]
    name = "alias/race-" + os.urandom(4).hex()

    def attempt(i: int) -> str:
        try:
            clients[i % 2].create_alias(AliasName=name, TargetKeyId=key)
            return "ok"
        except ClientError as err:
            return err.response["Error"]["Code"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(8)))
    assert results.count("ok") == 1
    assert set(results) - {"ok"} == {"AlreadyExistsException"}


def test_worker_processes_share_sqlite_state(tmp_path) -> None:
    """`serve --workers 2` on SQLite: a disable through one process holds in every process."""
    server = ServerProcess.start(
        data_dir=str(tmp_path),
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_args=["--workers", "2"],
    )
    try:
        kms = make_client(server.endpoint)
        key = kms.create_key()["KeyMetadata"]["Arn"]
        blobs = [kms.encrypt(KeyId=key, Plaintext=b"w")["CiphertextBlob"] for _ in range(20)]
        assert all(kms.decrypt(CiphertextBlob=b)["Plaintext"] == b"w" for b in blobs)
        kms.disable_key(KeyId=key)
        time.sleep(CROSS_PROCESS_BOUND)
        codes = set()
        for blob in blobs:  # new connections spread over both processes
            fresh = make_client(server.endpoint)
            with pytest.raises(ClientError) as exc:
                fresh.decrypt(CiphertextBlob=blob)
            codes.add(exc.value.response["Error"]["Code"])
        assert codes == {"DisabledException"}
    finally:
        server.stop()


def _error(call, *args: object, **kwargs: object) -> str:
    with pytest.raises(ClientError) as exc:
        call(*args, **kwargs)
    return str(exc.value.response["Error"]["Code"])


def test_lifecycle_changes_on_one_node_hold_on_the_other(nodes) -> None:
    """Rotation done by node a's maintenance, imported material deleted through node a, and a
    deletion done by `maintenance run`: node b, whose cache holds the material, follows
    within the bound."""
    import json
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from servers import maintenance_run

    a, b = (make_client(n.endpoint) for n in nodes)
    key = a.create_key()["KeyMetadata"]["KeyId"]
    old = a.encrypt(KeyId=key, Plaintext=b"v1")["CiphertextBlob"]
    assert b.decrypt(CiphertextBlob=old)["Plaintext"] == b"v1"
    a.rotate_key_on_demand(KeyId=key)
    deadline = time.monotonic() + 15
    while not b.list_key_rotations(KeyId=key)["Rotations"]:
        assert time.monotonic() < deadline, "the rotation did not complete"
        time.sleep(0.05)
    time.sleep(CROSS_PROCESS_BOUND)
    new_material = b.list_key_rotations(KeyId=key)["Rotations"][0]["KeyMaterialId"]
    fresh = b.generate_data_key(KeyId=key, KeySpec="AES_256")
    assert fresh["KeyMaterialId"] == new_material
    assert a.decrypt(CiphertextBlob=fresh["CiphertextBlob"])["KeyMaterialId"] == new_material
    assert a.decrypt(CiphertextBlob=old)["Plaintext"] == b"v1"

    external = a.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = b.get_parameters_for_import(
        KeyId=external, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    public = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    a.import_key_material(  # the token was issued by node b
        KeyId=external,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=public.encrypt(os.urandom(32), oaep),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    sealed = a.encrypt(KeyId=external, Plaintext=b"byok")["CiphertextBlob"]
    assert b.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"byok"  # b caches it
    a.delete_imported_key_material(KeyId=external)
    time.sleep(CROSS_PROCESS_BOUND)
    assert _error(b.decrypt, CiphertextBlob=sealed) == "KMSInvalidStateException"

    b.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    later = (datetime.now(UTC) + timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = json.loads(maintenance_run(nodes[0], at=later).stdout)
    assert [arn.rsplit("/", 1)[-1] for arn in report["Deleted"]] == [key]
    time.sleep(CROSS_PROCESS_BOUND)
    for client in (a, b):
        assert _error(client.describe_key, KeyId=key) == "NotFoundException"
        assert _error(client.decrypt, CiphertextBlob=old) != ""
