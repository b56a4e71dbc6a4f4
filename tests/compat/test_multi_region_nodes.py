"""Two server nodes on one PostgreSQL database and multi-Region keys: a replica made
through one node serves the other; a rotation of the primary carried out by one node is
seen by the replica's Decrypt on the other (within the cross-process bound, polled here).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from servers import PostgresCluster, ServerProcess
from test_multi_region_keys import OTHER, wait_state
from test_multi_region_sync import eventually

from conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, make_client


@pytest.fixture(scope="module")
def nodes(postgres: PostgresCluster) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    database = postgres.create_database("openkms_mrk_nodes")
    root = {"OPENKMS_ROOT_KEY": base64.b64encode(os.urandom(32)).decode()}
    started: list[ServerProcess] = []
    try:
        for _ in range(2):
            started.append(
                ServerProcess.start(
                    data_dir=None,
                    database=database,
                    account=ACCOUNT,
                    access_key=ACCESS_KEY,
                    secret_key=SECRET_KEY,
                    extra_env=root,
                )
            )
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


def test_rotation_on_one_node_reaches_the_replica_on_the_other(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = nodes
    east = make_client(first.endpoint, region=REGION)
    west = make_client(second.endpoint, region=OTHER)
    key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    east.replicate_key(KeyId=key_id, ReplicaRegion=OTHER)
    wait_state(west, key_id, "Enabled")
    old = east.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    before = east.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]

    east.rotate_key_on_demand(KeyId=key_id)  # carried out by the first node's maintenance

    def rotated_on_first() -> str:
        current = east.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
        assert current != before
        return str(current)

    current = eventually(rotated_on_first)
    blob = east.encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]

    def opened_on_second() -> None:
        try:
            opened = west.decrypt(CiphertextBlob=blob)
        except ClientError as exc:  # the second node's cache may not know the version yet
            raise AssertionError(exc.response["Error"]["Code"]) from None
        assert opened["Plaintext"] == b"after" and opened["KeyMaterialId"] == current

    eventually(opened_on_second)
    assert west.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    # A change on the second node (the replica disabled) is seen by the first.
    west.disable_key(KeyId=key_id)
    east_west = make_client(first.endpoint, region=OTHER)

    def disabled_on_first() -> None:
        try:
            east_west.decrypt(CiphertextBlob=blob)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "DisabledException"
        else:
            raise AssertionError("the replica still decrypts on the first node")

    eventually(disabled_on_first)
