"""Multi-Region keys through boto3 against real servers (SQLite and PostgreSQL): CreateKey
``MultiRegion=true``, ReplicateKey (shared material, independent policy, description,
tags and aliases; its errors), the MultiRegionConfiguration every related key shows,
and ciphertexts, signatures and MACs of one related key accepted by the others in their
own Regions (and by no unrelated key).

One endpoint serves every Region: a client's Region is its SigV4 credential scope.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from servers import ServerProcess

from conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, make_client

OTHER = "eu-west-2"
THIRD = "ap-southeast-2"


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def kms_in(server: ServerProcess, region: str) -> Any:
    return make_client(server.endpoint, region=region)


def wait_state(kms: Any, key_id: str, state: str, timeout: float = 30) -> dict[str, Any]:
    """Poll DescribeKey until the key reaches ``state`` (a replica is ``Creating`` until
    the server's maintenance, woken by ReplicateKey, finishes it)."""
    deadline = time.monotonic() + timeout
    while True:
        meta: dict[str, Any] = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        if meta["KeyState"] == state or time.monotonic() > deadline:
            assert meta["KeyState"] == state
            return meta
        time.sleep(0.05)


def replicate(server: ServerProcess, key_id: str, region: str, **kwargs: Any) -> dict[str, Any]:
    """ReplicateKey from the primary's Region (REGION), then wait until the replica is Enabled."""
    result: dict[str, Any] = kms_in(server, REGION).replicate_key(
        KeyId=key_id, ReplicaRegion=region, **kwargs
    )
    wait_state(kms_in(server, region), key_id, "Enabled")
    return result


def test_create_multi_region_key_shapes_its_metadata(server: ServerProcess) -> None:
    kms = kms_in(server, REGION)
    meta = kms.create_key(MultiRegion=True, Description="primary")["KeyMetadata"]
    key_id = meta["KeyId"]
    assert key_id.startswith("mrk-") and len(key_id) == 36
    assert all(c in "0123456789abcdef" for c in key_id[4:])
    assert meta["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"
    assert meta["MultiRegion"] is True
    assert meta["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY",
        "PrimaryKey": {"Arn": meta["Arn"], "Region": REGION},
        "ReplicaKeys": [],
    }
    described = kms.describe_key(KeyId=meta["Arn"])["KeyMetadata"]
    assert described["MultiRegionConfiguration"] == meta["MultiRegionConfiguration"]
    single = kms.create_key()["KeyMetadata"]
    assert single["MultiRegion"] is False and "MultiRegionConfiguration" not in single


@pytest.mark.parametrize(
    "spec,usage",
    [
        ("RSA_2048", "ENCRYPT_DECRYPT"),
        ("ECC_NIST_P256", "SIGN_VERIFY"),
        ("HMAC_256", "GENERATE_VERIFY_MAC"),
    ],
)
def test_every_key_spec_can_be_multi_region(server: ServerProcess, spec: str, usage: str) -> None:
    meta = kms_in(server, REGION).create_key(MultiRegion=True, KeySpec=spec, KeyUsage=usage)[
        "KeyMetadata"
    ]
    assert meta["KeyId"].startswith("mrk-") and meta["KeySpec"] == spec
    replica = replicate(server, meta["KeyId"], OTHER)["ReplicaKeyMetadata"]
    assert (replica["KeySpec"], replica["KeyUsage"]) == (spec, usage)


def test_replicate_key_makes_a_related_key_in_the_other_region(server: ServerProcess) -> None:
    east, west = kms_in(server, REGION), kms_in(server, OTHER)
    primary = east.create_key(MultiRegion=True, Description="primary")["KeyMetadata"]
    key_id = primary["KeyId"]
    result = east.replicate_key(
        KeyId=key_id,
        ReplicaRegion=OTHER,
        Description="replica",
        Tags=[{"TagKey": "site", "TagValue": "west"}],
    )
    replica = result["ReplicaKeyMetadata"]
    replica_arn = f"arn:aws:kms:{OTHER}:{ACCOUNT}:key/{key_id}"
    assert replica["KeyId"] == key_id and replica["Arn"] == replica_arn
    assert replica["KeyState"] == "Creating" and replica["Enabled"] is False
    assert replica["Description"] == "replica"
    assert replica["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "REPLICA",
        "PrimaryKey": {"Arn": primary["Arn"], "Region": REGION},
        "ReplicaKeys": [{"Arn": replica_arn, "Region": OTHER}],
    }
    assert result["ReplicaTags"] == [{"TagKey": "site", "TagValue": "west"}]
    assert json.loads(result["ReplicaPolicy"])["Statement"]
    done = wait_state(west, key_id, "Enabled")
    assert done["Enabled"] is True
    assert done["CurrentKeyMaterialId"] == primary["CurrentKeyMaterialId"]
    # The primary lists its replica; description and tags stay each key's own.
    config = east.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
    assert config["ReplicaKeys"] == [{"Arn": replica_arn, "Region": OTHER}]
    assert east.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "primary"
    assert east.list_resource_tags(KeyId=key_id)["Tags"] == []
    assert west.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "site", "TagValue": "west"}]
    # Each Region lists its own key; an ARN of another Region does not resolve here.
    assert any(k["KeyArn"] == replica_arn for k in _all_keys(west))
    assert not any(k["KeyArn"] == replica_arn for k in _all_keys(east))
    with pytest.raises(ClientError) as exc:
        east.describe_key(KeyId=replica_arn)
    assert code_of(exc) == "NotFoundException"
    assert west.describe_key(KeyId=replica_arn)["KeyMetadata"]["Arn"] == replica_arn


def _all_keys(kms: Any) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    marker: str | None = None
    while True:
        page = kms.list_keys(Limit=1000, **({"Marker": marker} if marker else {}))
        out += page["Keys"]
        if not page["Truncated"]:
            return out
        marker = page["NextMarker"]


def test_list_keys_pages_through_multi_region_keys(server: ServerProcess) -> None:
    kms = kms_in(server, THIRD)
    made = {kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"] for _ in range(3)}
    made |= {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(2)}
    seen: list[str] = []
    marker: str | None = None
    while True:
        page = kms.list_keys(Limit=2, **({"Marker": marker} if marker else {}))
        seen += [k["KeyId"] for k in page["Keys"]]
        if not page["Truncated"]:
            break
        marker = page["NextMarker"]
    assert len(seen) == len(set(seen)) and made <= set(seen)


def test_related_keys_open_each_others_ciphertexts(server: ServerProcess) -> None:
    east, west = kms_in(server, REGION), kms_in(server, OTHER)
    key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    replicate(server, key_id, OTHER)
    context = {"purpose": "dr"}
    blob = east.encrypt(KeyId=key_id, Plaintext=b"secret", EncryptionContext=context)[
        "CiphertextBlob"
    ]
    opened = west.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert opened["Plaintext"] == b"secret"
    assert opened["KeyId"] == f"arn:aws:kms:{OTHER}:{ACCOUNT}:key/{key_id}"
    # The encryption context rules are unchanged.
    with pytest.raises(ClientError) as exc:
        west.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "other"})
    assert code_of(exc) == "InvalidCiphertextException"
    # And back: made in the replica's Region, opened in the primary's.
    back = west.encrypt(KeyId=key_id, Plaintext=b"reply")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=back, KeyId=key_id)["Plaintext"] == b"reply"
    # ReEncrypt in the replica's Region, from the related key to itself.
    again = west.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext=context,
        DestinationKeyId=key_id,
    )
    assert east.decrypt(CiphertextBlob=again["CiphertextBlob"])["Plaintext"] == b"secret"
    # Data keys too.
    data_key = east.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert (
        west.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"]
        == (data_key["Plaintext"])
    )


def test_an_unrelated_key_does_not_open_the_ciphertext(server: ServerProcess) -> None:
    east, west = kms_in(server, REGION), kms_in(server, OTHER)
    key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    blob = east.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    # No replica in the other Region: the blob names no key there.
    with pytest.raises(ClientError) as exc:
        west.decrypt(CiphertextBlob=blob)
    assert code_of(exc) == "InvalidCiphertextException"
    # Another multi-Region key (same id shape) with a replica there does not open it.
    other = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    replicate(server, other, OTHER)
    with pytest.raises(ClientError) as exc:
        west.decrypt(CiphertextBlob=blob, KeyId=other)
    assert code_of(exc) == "InvalidCiphertextException"
    # Once the blob's key has a replica there, naming the unrelated key is refused.
    replicate(server, key_id, OTHER)
    with pytest.raises(ClientError) as exc:
        west.decrypt(CiphertextBlob=blob, KeyId=other)
    assert code_of(exc) == "IncorrectKeyException"
    assert west.decrypt(CiphertextBlob=blob, KeyId=key_id)["Plaintext"] == b"secret"


def test_related_keys_verify_each_others_signatures_and_macs(server: ServerProcess) -> None:
    east, west = kms_in(server, REGION), kms_in(server, OTHER)
    signing = east.create_key(MultiRegion=True, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    sign_id = signing["KeyMetadata"]["KeyId"]
    mac = east.create_key(MultiRegion=True, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    mac_id = mac["KeyMetadata"]["KeyId"]
    replicate(server, sign_id, OTHER)
    replicate(server, mac_id, OTHER)
    signature = east.sign(
        KeyId=sign_id, Message=b"m", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256"
    )["Signature"]
    verified = west.verify(
        KeyId=sign_id,
        Message=b"m",
        MessageType="RAW",
        Signature=signature,
        SigningAlgorithm="ECDSA_SHA_256",
    )
    assert verified["SignatureValid"] is True
    assert (
        east.get_public_key(KeyId=sign_id)["PublicKey"]
        == (west.get_public_key(KeyId=sign_id)["PublicKey"])
    )
    tag = west.generate_mac(KeyId=mac_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    checked = east.verify_mac(KeyId=mac_id, Message=b"m", MacAlgorithm="HMAC_SHA_256", Mac=tag)
    assert checked["MacValid"] is True
    with pytest.raises(ClientError) as exc:
        east.verify_mac(KeyId=mac_id, Message=b"n", MacAlgorithm="HMAC_SHA_256", Mac=tag)
    assert code_of(exc) == "KMSInvalidMacException"


def test_rsa_ciphertext_opens_in_the_other_region(server: ServerProcess) -> None:
    east, west = kms_in(server, REGION), kms_in(server, OTHER)
    key_id = east.create_key(MultiRegion=True, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")[
        "KeyMetadata"
    ]["KeyId"]
    replicate(server, key_id, OTHER)
    blob = east.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")[
        "CiphertextBlob"
    ]
    opened = west.decrypt(
        CiphertextBlob=blob, KeyId=key_id, EncryptionAlgorithm="RSAES_OAEP_SHA_256"
    )
    assert opened["Plaintext"] == b"x"


def test_replica_keys_are_managed_on_their_own(server: ServerProcess) -> None:
    east, west = kms_in(server, REGION), kms_in(server, OTHER)
    key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    replicate(server, key_id, OTHER)
    east.create_alias(AliasName="alias/mrk-shared-name", TargetKeyId=key_id)
    west.create_alias(AliasName="alias/mrk-shared-name", TargetKeyId=key_id)
    aliases = west.list_aliases(KeyId=key_id)["Aliases"]
    assert [a["TargetKeyId"] for a in aliases] == [key_id]
    assert aliases[0]["AliasArn"].startswith(f"arn:aws:kms:{OTHER}:")
    west.disable_key(KeyId=key_id)
    assert east.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    blob = east.encrypt(KeyId="alias/mrk-shared-name", Plaintext=b"p")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        west.decrypt(CiphertextBlob=blob)
    assert code_of(exc) == "DisabledException"
    west.enable_key(KeyId=key_id)
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"
    west.update_key_description(KeyId=key_id, Description="changed in the west")
    assert east.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == ""
    grant = west.create_grant(
        KeyId=key_id,
        GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root",
        Operations=["Decrypt"],
    )
    assert [g["GrantId"] for g in west.list_grants(KeyId=key_id)["Grants"]] == [grant["GrantId"]]
    assert east.list_grants(KeyId=key_id)["Grants"] == []
    assert west.list_grants(KeyId=key_id)["Grants"][0]["KeyId"].startswith(f"arn:aws:kms:{OTHER}")


def test_replicate_key_errors(server: ServerProcess) -> None:
    east, west = kms_in(server, REGION), kms_in(server, OTHER)
    key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    replicate(server, key_id, OTHER)
    cases = [
        (east, key_id, OTHER, "AlreadyExistsException"),  # that Region has it
        (west, key_id, THIRD, "UnsupportedOperationException"),  # a replica as source
        (east, key_id, REGION, "ValidationException"),  # the source's own Region
    ]
    for client, source, region, code in cases:
        with pytest.raises(ClientError) as exc:
            client.replicate_key(KeyId=source, ReplicaRegion=region)
        assert code_of(exc) == code, (source, region)
    single = east.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        east.replicate_key(KeyId=single, ReplicaRegion=OTHER)
    assert code_of(exc) == "UnsupportedOperationException"
    with pytest.raises(ClientError) as exc:
        east.replicate_key(KeyId="alias/aws/whatever", ReplicaRegion=OTHER)
    assert code_of(exc) in ("NotFoundException", "InvalidArnException")
    disabled = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    east.disable_key(KeyId=disabled)
    with pytest.raises(ClientError) as exc:
        east.replicate_key(KeyId=disabled, ReplicaRegion=OTHER)
    assert code_of(exc) == "DisabledException"


def test_replicate_key_checks_the_replica_policy(server: ServerProcess) -> None:
    east = kms_in(server, REGION)
    key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    locked_out = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "kms:Encrypt",
                    "Resource": "*",
                }
            ],
        }
    )
    with pytest.raises(ClientError) as exc:
        east.replicate_key(KeyId=key_id, ReplicaRegion=OTHER, Policy=locked_out)
    assert code_of(exc) == "MalformedPolicyDocumentException"
    result = east.replicate_key(
        KeyId=key_id,
        ReplicaRegion=OTHER,
        Policy=locked_out,
        BypassPolicyLockoutSafetyCheck=True,
    )
    assert json.loads(result["ReplicaPolicy"]) == json.loads(locked_out)
    west = kms_in(server, OTHER)
    # The replica's own policy governs it in its Region; the primary's is untouched.
    with pytest.raises(ClientError) as exc:
        west.describe_key(KeyId=key_id)
    assert code_of(exc) == "AccessDeniedException"
    assert east.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_replicate_key_only_into_regions_served(tmp_path: Any) -> None:
    """With ``serve --regions``, a replica goes only into a Region the server serves."""
    served = ServerProcess.start(
        data_dir=str(tmp_path),
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_args=["--regions", f"{REGION},{OTHER}"],
    )
    try:
        east = kms_in(served, REGION)
        key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
        with pytest.raises(ClientError) as exc:
            east.replicate_key(KeyId=key_id, ReplicaRegion=THIRD)
        assert code_of(exc) == "UnsupportedOperationException"
        east.replicate_key(KeyId=key_id, ReplicaRegion=OTHER)
        wait_state(kms_in(served, OTHER), key_id, "Enabled")
    finally:
        served.stop()
