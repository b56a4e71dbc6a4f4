"""AWS_CLOUDHSM custom key stores on a real server, SQLite and PostgreSQL, with SoftHSM2
tokens registered as clusters (``openkms admin hsm-cluster``): the store operations and
every error AWS documents for them, keys whose backing key is made and used inside the
token (and destroyed with the key), Unavailable keys while the store is disconnected,
GenerateRandom from the HSM, and many threads encrypting through one token.

One server per backend for the whole module; the tests run in order and build on each
other's state (the store made by the first is used by the next)."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from servers import PostgresCluster, ServerProcess
from softhsm import SoftHSM

from conftest import ACCESS_KEY, ACCOUNT, SECRET_KEY, make_client

CLUSTER_A, CLUSTER_B, CLUSTER_C = (
    "cluster-openkmsaaaaa",
    "cluster-openkmsbbbbb",
    "cluster-openkmsccccc",
)
#: The tokens' user PIN: a KeyStorePassword has 7 to 32 characters.
TOKEN_PIN = "12345678"


def certificate(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Setup:
    server: ServerProcess
    hsm: SoftHSM
    anchor: str
    other_anchor: str
    kms: Any

    def openkms(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        where = ["--data-dir", str(self.server.data_dir)]
        if self.server.database:
            where += ["--database", self.server.database]
        base = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
        done = subprocess.run(
            [sys.executable, "-m", "openkms", *args, *where],
            env={**base, "SOFTHSM2_CONF": self.hsm.conf, **env},
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert "Traceback" not in done.stderr + done.stdout, done.stderr
        return done

    def token_keys(self, token: str) -> dict[str, tuple[bool, bool]]:
        """Label -> (extractable, sensitive) of every secret key in a token, read in a
        process of its own (this one never loads the module)."""
        script = (
            "import json,sys,pkcs11\n"
            "lib=pkcs11.lib(sys.argv[1]); t=lib.get_token(token_label=sys.argv[2])\n"
            "A=pkcs11.Attribute\n"
            "with t.open(user_pin=sys.argv[3]) as s:\n"
            " print(json.dumps({k[A.LABEL]:[bool(k[A.EXTRACTABLE]),bool(k[A.SENSITIVE])]"
            " for k in s.get_objects({A.CLASS:pkcs11.ObjectClass.SECRET_KEY})}))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script, self.hsm.module, token, TOKEN_PIN],
            env={**os.environ, "SOFTHSM2_CONF": self.hsm.conf},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return {label: (e, s) for label, (e, s) in json.loads(done.stdout).items()}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    base: Path = tmp_path_factory.mktemp(f"cloudhsm-{request.param}")
    hsm = SoftHSM.create(str(base / "softhsm"))
    for token in ("store-a", "store-b", "store-c"):
        hsm.init_token(token, TOKEN_PIN)
    data_dir = base / "data"
    data_dir.mkdir(mode=0o700)
    database = None
    if request.param == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        database = cluster.create_database(f"cloudhsm_{os.getpid()}")
    anchor, other_anchor = certificate("anchor"), certificate("other")
    (base / "anchor.pem").write_text(anchor)
    server = ServerProcess.start(
        data_dir=str(data_dir),
        database=database,
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_args=["--request-threads", "8", "--maintenance-interval", "0"],
        extra_env={"SOFTHSM2_CONF": hsm.conf},
    )
    made = Setup(server, hsm, anchor, other_anchor, make_client(server.endpoint))
    try:
        # A and B share their trust anchor (related clusters); C has none registered.
        for cluster_id, token, pem in (
            (CLUSTER_A, "store-a", str(base / "anchor.pem")),
            (CLUSTER_B, "store-b", str(base / "anchor.pem")),
            (CLUSTER_C, "store-c", None),
        ):
            extra = ["--trust-anchor", pem] if pem else []
            args = ["--id", cluster_id, "--module", hsm.module, "--token", token, *extra]
            done = made.openkms("admin", "hsm-cluster", "add", *args)
            assert done.returncode == 0, done.stderr
        yield made
    finally:
        made.server.stop()  # the last test restarts it with another root of trust


def code_of(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return str(caught.value.response["Error"]["Code"])


def describe(kms: Any, store_id: str) -> dict[str, Any]:
    found: dict[str, Any] = kms.describe_custom_key_stores(CustomKeyStoreId=store_id)[
        "CustomKeyStores"
    ][0]
    return found


def test_registering_clusters(setup: Setup) -> None:
    listed = json.loads(setup.openkms("admin", "hsm-cluster", "list").stdout)
    assert [c["CloudHsmClusterId"] for c in listed] == [CLUSTER_A, CLUSTER_B, CLUSTER_C]
    assert listed[0]["Token"] == "store-a" and listed[2]["TrustAnchorCertificate"] is None
    if setup.server.database is not None:
        return  # the refusals below do not depend on the database: once is enough
    bad_id = setup.openkms(
        "admin", "hsm-cluster", "add", "--id", "cluster-1234abcd", "--module",
        setup.hsm.module, "--token", "store-a",
    )  # fmt: skip
    assert bad_id.returncode == 2 and "not a CloudHSM cluster id" in bad_id.stderr
    no_token = setup.openkms(
        "admin", "hsm-cluster", "add", "--id", "cluster-openkmsddddd", "--module",
        setup.hsm.module, "--token", "absent",
    )  # fmt: skip
    assert no_token.returncode == 6 and "no PKCS#11 token labelled 'absent'" in no_token.stderr
    again = setup.openkms(
        "admin", "hsm-cluster", "add", "--id", CLUSTER_A, "--module", setup.hsm.module,
        "--token", "store-a",
    )  # fmt: skip
    assert again.returncode == 1 and "is already cluster" in again.stderr


def test_store_operations_and_their_errors(setup: Setup) -> None:
    kms, anchor = setup.kms, setup.anchor
    create = kms.create_custom_key_store
    base = {"TrustAnchorCertificate": anchor, "KeyStorePassword": "12341234"}  # wrong
    assert (
        code_of(create, CustomKeyStoreName="x", CloudHsmClusterId="cluster-openkmszzzzz", **base)
        == "CloudHsmClusterNotFoundException"
    )
    wrong_anchor = {**base, "TrustAnchorCertificate": setup.other_anchor}
    assert (
        code_of(create, CustomKeyStoreName="x", CloudHsmClusterId=CLUSTER_A, **wrong_anchor)
        == "IncorrectTrustAnchorException"
    )
    not_pem = {**base, "TrustAnchorCertificate": "not a certificate"}
    assert (
        code_of(create, CustomKeyStoreName="x", CloudHsmClusterId=CLUSTER_C, **not_pem)
        == "IncorrectTrustAnchorException"
    )
    assert code_of(create, CustomKeyStoreName="x", CloudHsmClusterId=CLUSTER_A) == (
        "ValidationException"
    )
    store_a = create(
        CustomKeyStoreName="vault-a",
        CloudHsmClusterId=CLUSTER_A,
        TrustAnchorCertificate=anchor,
        KeyStorePassword=TOKEN_PIN,
    )["CustomKeyStoreId"]
    assert store_a.startswith("cks-")
    entry = describe(kms, store_a)
    assert entry["ConnectionState"] == "DISCONNECTED" and "ConnectionErrorCode" not in entry
    assert entry["CloudHsmClusterId"] == CLUSTER_A and entry["CustomKeyStoreType"] == "AWS_CLOUDHSM"
    assert entry["TrustAnchorCertificate"] == anchor and entry["CustomKeyStoreName"] == "vault-a"
    assert (
        code_of(create, CustomKeyStoreName="vault-a", CloudHsmClusterId=CLUSTER_C, **base)
        == "CustomKeyStoreNameInUseException"
    )
    assert (
        code_of(create, CustomKeyStoreName="other", CloudHsmClusterId=CLUSTER_A, **base)
        == "CloudHsmClusterInUseException"
    )
    assert (
        code_of(kms.describe_custom_key_stores, CustomKeyStoreId="cks-0000000000000000a")
        == "CustomKeyStoreNotFoundException"
    )
    assert (
        code_of(kms.describe_custom_key_stores, CustomKeyStoreName="nope")
        == "CustomKeyStoreNotFoundException"
    )
    assert (
        code_of(kms.disconnect_custom_key_store, CustomKeyStoreId=store_a)
        == "CustomKeyStoreInvalidStateException"
    )
    assert (
        code_of(kms.create_key, Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_a)
        == "CustomKeyStoreInvalidStateException"
    )
    # A wrong PIN: FAILED with INVALID_CREDENTIALS; connecting again needs a disconnect.
    store_c = create(CustomKeyStoreName="vault-c", CloudHsmClusterId=CLUSTER_C, **base)[
        "CustomKeyStoreId"
    ]
    assert "TrustAnchorCertificate" in describe(kms, store_c)  # kept from the request
    kms.connect_custom_key_store(CustomKeyStoreId=store_c)
    entry = describe(kms, store_c)
    assert entry["ConnectionState"] == "FAILED"
    assert entry["ConnectionErrorCode"] == "INVALID_CREDENTIALS"
    assert (
        code_of(kms.connect_custom_key_store, CustomKeyStoreId=store_c)
        == "CustomKeyStoreInvalidStateException"
    )
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_c)
    # Update: CONNECTED stores may only change their name; a cluster must be related.
    update = kms.update_custom_key_store
    assert (
        code_of(update, CustomKeyStoreId=store_a, CloudHsmClusterId=CLUSTER_C)
        == "CloudHsmClusterNotRelatedException"
    )
    assert (
        code_of(update, CustomKeyStoreId=store_c, CloudHsmClusterId=CLUSTER_A)
        == "CloudHsmClusterInUseException"
    )
    update(CustomKeyStoreId=store_a, CloudHsmClusterId=CLUSTER_B)  # related: same anchor
    assert describe(kms, store_a)["CloudHsmClusterId"] == CLUSTER_B
    update(CustomKeyStoreId=store_a, CloudHsmClusterId=CLUSTER_A)
    assert (
        code_of(
            kms.update_custom_key_store,
            CustomKeyStoreId=store_c,
            NewCustomKeyStoreName="vault-a",
        )
        == "CustomKeyStoreNameInUseException"
    )
    kms.update_custom_key_store(CustomKeyStoreId=store_c, KeyStorePassword=TOKEN_PIN)
    kms.connect_custom_key_store(CustomKeyStoreId=store_c)
    assert describe(kms, store_c)["ConnectionState"] == "CONNECTED"
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_c)
    kms.delete_custom_key_store(CustomKeyStoreId=store_c)
    assert (
        code_of(kms.describe_custom_key_stores, CustomKeyStoreId=store_c)
        == "CustomKeyStoreNotFoundException"
    )
    kms.connect_custom_key_store(CustomKeyStoreId=store_a)
    assert describe(kms, store_a)["ConnectionState"] == "CONNECTED"
    kms.connect_custom_key_store(CustomKeyStoreId=store_a)  # already connected: fine
    assert (
        code_of(kms.update_custom_key_store, CustomKeyStoreId=store_a, KeyStorePassword="87654321")
        == "CustomKeyStoreInvalidStateException"
    )
    assert (
        code_of(kms.delete_custom_key_store, CustomKeyStoreId=store_a)
        == "CustomKeyStoreInvalidStateException"
    )
    kms.update_custom_key_store(CustomKeyStoreId=store_a, NewCustomKeyStoreName="vault")
    listed = kms.describe_custom_key_stores(Limit=1)
    assert listed["Truncated"] is False and listed["CustomKeyStores"][0]["CustomKeyStoreId"] == (
        store_a
    )
    assert listed["CustomKeyStores"][0]["CustomKeyStoreName"] == "vault"
    assert code_of(kms.describe_custom_key_stores, Marker="garbage") == "InvalidMarkerException"
    in_use = setup.openkms("admin", "hsm-cluster", "remove", "--id", CLUSTER_A)
    assert in_use.returncode == 1 and store_a in in_use.stderr
    # CloudTrail has the calls, never the password.
    trail = make_client(setup.server.endpoint, service="cloudtrail")
    events = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateCustomKeyStore"}]
    )["Events"]
    assert events and all(TOKEN_PIN not in e["CloudTrailEvent"] for e in events)
    record = json.loads(events[0]["CloudTrailEvent"])
    assert "keyStorePassword" not in json.dumps(record["requestParameters"])


def _store_id(kms: Any) -> str:
    found: str = kms.describe_custom_key_stores(CustomKeyStoreName="vault")["CustomKeyStores"][0][
        "CustomKeyStoreId"
    ]
    return found


def test_keys_live_and_work_inside_the_token(setup: Setup) -> None:
    kms = setup.kms
    store_id = _store_id(kms)
    meta = kms.create_key(
        Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id, Description="in the HSM"
    )["KeyMetadata"]
    key_id = meta["KeyId"]
    assert meta["Origin"] == "AWS_CLOUDHSM" and meta["CustomKeyStoreId"] == store_id
    assert meta["CloudHsmClusterId"] == CLUSTER_A and meta["KeyState"] == "Enabled"
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["CustomKeyStoreId"] == store_id and described["Enabled"] is True
    # The backing key was made in the token: labelled with the key id and version, and
    # it can never leave it.
    assert setup.token_keys("store-a")[f"{key_id}/1"] == (False, True)
    context = {"purpose": "test"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret", EncryptionContext=context)
    assert blob["KeyId"] == meta["Arn"]
    ciphertext = blob["CiphertextBlob"]
    opened = kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext=context)
    assert opened["Plaintext"] == b"secret" and opened["KeyId"] == meta["Arn"]
    assert code_of(kms.decrypt, CiphertextBlob=ciphertext) == "InvalidCiphertextException"
    tampered = ciphertext[:-1] + bytes([ciphertext[-1] ^ 1])
    assert (
        code_of(kms.decrypt, CiphertextBlob=tampered, EncryptionContext=context)
        == "InvalidCiphertextException"
    )
    software = kms.create_key()["KeyMetadata"]["KeyId"]
    moved = kms.re_encrypt(
        CiphertextBlob=ciphertext,
        SourceEncryptionContext=context,
        DestinationKeyId=software,
    )
    back = kms.re_encrypt(CiphertextBlob=moved["CiphertextBlob"], DestinationKeyId=key_id)
    assert kms.decrypt(CiphertextBlob=back["CiphertextBlob"])["Plaintext"] == b"secret"
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert (
        kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"]
        == (data_key["Plaintext"])
    )
    without = kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=16)
    assert len(kms.decrypt(CiphertextBlob=without["CiphertextBlob"])["Plaintext"]) == 16
    assert (
        code_of(kms.generate_data_key_pair, KeyId=key_id, KeyPairSpec="ECC_NIST_P256")
        == "UnsupportedOperationException"
    )  # not in custom key stores, as AWS
    random = kms.generate_random(NumberOfBytes=48, CustomKeyStoreId=store_id)["Plaintext"]
    assert len(random) == 48
    # Aliases, tags and policy work as for any key; rotation is refused, as AWS does.
    kms.create_alias(AliasName="alias/in-hsm", TargetKeyId=key_id)
    via_alias = kms.encrypt(KeyId="alias/in-hsm", Plaintext=b"x")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=via_alias)["Plaintext"] == b"x"
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "t", "TagValue": "v"}])
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "t", "TagValue": "v"}]
    iam = make_client(setup.server.endpoint, service="iam")
    user = iam.create_user(UserName="hsm-user")["User"]
    secret = iam.create_access_key(UserName="hsm-user")["AccessKey"]
    alice = make_client(
        setup.server.endpoint,
        access_key=secret["AccessKeyId"],
        secret_key=secret["SecretAccessKey"],
    )
    assert code_of(alice.encrypt, KeyId=key_id, Plaintext=b"x") == "AccessDeniedException"
    kms.create_grant(KeyId=key_id, GranteePrincipal=user["Arn"], Operations=["Encrypt"])
    granted = alice.encrypt(KeyId=key_id, Plaintext=b"by grant")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=granted)["Plaintext"] == b"by grant"
    assert code_of(alice.decrypt, CiphertextBlob=granted) == "AccessDeniedException"
    assert code_of(kms.enable_key_rotation, KeyId=key_id) == "UnsupportedOperationException"
    assert code_of(kms.rotate_key_on_demand, KeyId=key_id) == "UnsupportedOperationException"
    # CreateKey's own refusals.
    create = kms.create_key
    assert code_of(create, Origin="AWS_CLOUDHSM") == "ValidationException"
    assert code_of(create, CustomKeyStoreId=store_id) == "ValidationException"
    assert (
        code_of(
            create,
            Origin="AWS_CLOUDHSM",
            CustomKeyStoreId=store_id,
            KeySpec="RSA_2048",
            KeyUsage="ENCRYPT_DECRYPT",
        )
        == "UnsupportedOperationException"
    )
    assert (
        code_of(create, Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id, MultiRegion=True)
        == "UnsupportedOperationException"
    )
    assert (
        code_of(create, Origin="AWS_CLOUDHSM", CustomKeyStoreId="cks-00000000000000000")
        == "CustomKeyStoreNotFoundException"
    )

    # Disconnected: the key is Unavailable and refuses cryptography; nothing is lost.
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["KeyState"] == "Unavailable" and described["Enabled"] is False
    assert code_of(kms.encrypt, KeyId=key_id, Plaintext=b"x") == "KMSInvalidStateException"
    assert (
        code_of(kms.decrypt, CiphertextBlob=ciphertext, EncryptionContext=context)
        == "KMSInvalidStateException"
    )
    assert (
        code_of(kms.generate_random, NumberOfBytes=8, CustomKeyStoreId=store_id)
        == "CustomKeyStoreInvalidStateException"
    )
    assert (
        code_of(kms.delete_custom_key_store, CustomKeyStoreId=store_id)
        == "CustomKeyStoreHasCMKsException"
    )
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    again = kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext=context)
    assert again["Plaintext"] == b"secret"


def test_many_threads_encrypt_through_one_token(setup: Setup) -> None:
    kms = setup.kms
    key_id = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=_store_id(kms))["KeyMetadata"][
        "KeyId"
    ]
    failures: list[BaseException] = []

    def work(n: int) -> None:
        client = make_client(setup.server.endpoint)
        try:
            for i in range(15):
                plain = f"{n}-{i}".encode()
                blob = client.encrypt(KeyId=key_id, Plaintext=plain)["CiphertextBlob"]
                assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == plain
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert setup.server.proc.poll() is None  # the server (and its HSM module) is still up


def test_deleting_a_key_destroys_its_hsm_key(setup: Setup) -> None:
    kms = setup.kms
    store_id = _store_id(kms)
    keys = [
        k["KeyId"]
        for k in kms.list_keys()["Keys"]
        if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"].get("CustomKeyStoreId") == store_id
    ]
    assert len(keys) == 2
    for key_id in keys:
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=8)
    ran = setup.openkms("maintenance", "run", "--at", later.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert ran.returncode == 0, ran.stderr
    arns = [f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{k}" for k in keys]
    assert sorted(json.loads(ran.stdout)["Deleted"]) == sorted(arns)
    left = setup.token_keys("store-a")
    assert not any(label.split("/")[0] in keys for label in left), left
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    kms.delete_custom_key_store(CustomKeyStoreId=store_id)
    removed = setup.openkms("admin", "hsm-cluster", "remove", "--id", CLUSTER_A)
    assert removed.returncode == 0, removed.stderr


def test_both_halves_together_after_a_rewrap_to_an_hsm_root(setup: Setup) -> None:
    """The store's password, sealed by the software root, is re-sealed by the HSM root;
    the server then serves the store's keys with the root of trust in another token of
    the same module (each token logged in once by the process)."""
    if setup.server.database is not None:
        return  # the rewrap itself is tested on both databases in test_hsm_root.py
    kms = setup.kms
    store_id = kms.create_custom_key_store(
        CustomKeyStoreName="after-rewrap",
        CloudHsmClusterId=CLUSTER_B,
        TrustAnchorCertificate=setup.anchor,
        KeyStorePassword=TOKEN_PIN,
    )["CustomKeyStoreId"]
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    key_id = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)["KeyMetadata"][
        "KeyId"
    ]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
    setup.server.stop()
    setup.hsm.init_token("root", TOKEN_PIN)
    root = setup.hsm.args("root")[2:]
    moved = setup.openkms("admin", "rewrap", "--to", "pkcs11", *root, OPENKMS_PKCS11_PIN=TOKEN_PIN)
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["Resealed"] >= 2  # the root's access key, the password
    setup.server = ServerProcess.start(
        data_dir=setup.server.data_dir,
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_args=["--maintenance-interval", "0", *setup.hsm.args("root")],
        extra_env={"SOFTHSM2_CONF": setup.hsm.conf, "OPENKMS_PKCS11_PIN": TOKEN_PIN},
    )
    kms = make_client(setup.server.endpoint)
    assert describe(kms, store_id)["ConnectionState"] == "CONNECTED"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
    again = kms.encrypt(KeyId=key_id, Plaintext=b"new")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=again)["Plaintext"] == b"new"
