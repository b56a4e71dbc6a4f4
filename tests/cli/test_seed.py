"""``openkms serve --seed FILE`` against real servers: what a seed file makes, that a
ciphertext made under fixed material and committed here keeps decrypting, that a reset
brings the seed back, that errors only the service can find still name the file, line
and field, and that a server with a data directory applies the seed once (not again on
restart) with the seeded access key verified by SigV4."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from servers import ServerProcess, free_port

from conftest import ACCESS_KEY, ACCOUNT, SECRET_KEY, make_client
from openkms.cli.exit_codes import Exit

ORDERS = "11111111-2222-3333-4444-555555555555"
MACS = "22222222-2222-3333-4444-555555555555"
SIGNER = "33333333-2222-3333-4444-555555555555"
SPARE = "44444444-2222-3333-4444-555555555555"
MADE = "55555555-2222-3333-4444-555555555555"
ORDERS_MATERIAL = bytes(range(32))
MAC_MATERIAL = bytes(range(100, 132))
USER_KEY, USER_SECRET = "AKIAOPENKMSSEEDAPP01", "app-secret-0123456789abcdef"
#: Encrypt(ORDERS, b"committed to the repository", {"purpose": "seed-test"}), made once by
#: a server seeded with ORDERS_MATERIAL: it must decrypt on every seeded server, forever.
COMMITTED = base64.b64decode(
    "TwERERERIiIzM0REVVVVVVVVAAAAAc1D8Iy1OVVe73QX9Iq1Gr+TrGfaIvfa6QzkkscZbojBL1KKPCvunAl6"
    "WmIm4+FRIKBfOUp/UeKZkOnSVYnEFlcdTU3mYG6y"
)
PLAINTEXT, CONTEXT = b"committed to the repository", {"purpose": "seed-test"}


def serve_failing(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``openkms serve`` that must stop on its own: its error line (the last on stderr,
    after the --dev warning), checked for exit status 6 and no traceback."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENKMS_", "AWS_"))}
    environment["HOME"] = str(tmp_path / "home")
    environment.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "openkms", "serve", "--port", str(free_port()), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in done.stderr and done.returncode == Exit.CONFIG, done.stderr
    return done.stderr.strip().splitlines()[-1]


def signer_pem() -> tuple[str, bytes]:
    """A P-256 private key (PKCS#8 PEM) and its public key (DER SubjectPublicKeyInfo)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, public


def dev_seed(pem: str) -> str:
    indented = textwrap.indent(pem, " " * 6)
    return f"""\
users:
  - name: app
    tags: {{team: payments}}
    policies:
      decrypt-only:
        Version: "2012-10-17"
        Statement: [{{Effect: Allow, Action: ["kms:Decrypt", "kms:DescribeKey"], Resource: "*"}}]
    access_keys:
      - {{id: {USER_KEY}, secret: {USER_SECRET}}}
keys:
  - id: {ORDERS}
    description: orders
    material: {base64.b64encode(ORDERS_MATERIAL).decode()}
    aliases: [alias/orders, alias/orders-previous]
    tags: {{env: test}}
    grants:
      - name: app-decrypts
        grantee: arn:aws:iam::{ACCOUNT}:user/app
        operations: [Decrypt]
        constraints:
          encryption_context_equals: {{purpose: seed-test}}
    policy:
      Version: "2012-10-17"
      Statement:
        - Sid: root
          Effect: Allow
          Principal: {{AWS: "arn:aws:iam::{ACCOUNT}:root"}}
          Action: "kms:*"
          Resource: "*"
  - id: {MACS}
    spec: HMAC_256
    material: {base64.b64encode(MAC_MATERIAL).decode()}
  - id: {SIGNER}
    spec: ECC_NIST_P256
    usage: SIGN_VERIFY
    material: |
{indented}
  - id: {SPARE}
    enabled: false
  - id: {MADE}
"""


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, bytes]]:
    pem, public = signer_pem()
    path = tmp_path_factory.mktemp("seed") / "seed.yaml"
    path.write_text(dev_seed(pem))
    server = ServerProcess.start(data_dir=None, dev=True, extra_args=["--seed", str(path)])
    try:
        yield server, public
    finally:
        server.stop()


def reset(server: ServerProcess) -> None:
    request = urllib.request.Request(server.endpoint + "/_openkms/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert json.loads(answer.read()) == {"reset": True}


def assert_seeded(server: ServerProcess, public: bytes) -> None:
    kms = make_client(server.endpoint)
    ids = sorted(k["KeyId"] for k in kms.list_keys()["Keys"])
    assert ids == [ORDERS, MACS, SIGNER, SPARE, MADE]
    orders = kms.describe_key(KeyId="alias/orders")["KeyMetadata"]
    assert (orders["KeyId"], orders["Description"], orders["KeyState"]) == (
        ORDERS,
        "orders",
        "Enabled",
    )
    aliases = {a["AliasName"] for a in kms.list_aliases(KeyId=ORDERS)["Aliases"]}
    assert aliases == {"alias/orders", "alias/orders-previous"}
    assert kms.list_resource_tags(KeyId=ORDERS)["Tags"] == [{"TagKey": "env", "TagValue": "test"}]
    policy = json.loads(kms.get_key_policy(KeyId=ORDERS, PolicyName="default")["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["root"]
    (grant,) = kms.list_grants(KeyId=ORDERS)["Grants"]
    assert grant["Name"] == "app-decrypts" and grant["Operations"] == ["Decrypt"]
    assert grant["Constraints"] == {"EncryptionContextEquals": {"purpose": "seed-test"}}
    assert kms.describe_key(KeyId=SPARE)["KeyMetadata"]["KeyState"] == "Disabled"
    # The committed ciphertext, and MACs and a public key from the seeded material.
    answer = kms.decrypt(CiphertextBlob=COMMITTED, EncryptionContext=CONTEXT)
    assert (answer["KeyId"].endswith(ORDERS), answer["Plaintext"]) == (True, PLAINTEXT)
    mac = kms.generate_mac(KeyId=MACS, Message=b"hello", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert mac == hmac.new(MAC_MATERIAL, b"hello", hashlib.sha256).digest()
    assert kms.get_public_key(KeyId=SIGNER)["PublicKey"] == public


def test_the_seed_is_there_at_start(seeded: tuple[ServerProcess, bytes]) -> None:
    server, public = seeded
    assert_seeded(server, public)
    # The seeded user: its key is known (its inline policy applies), its tags are set.
    app = make_client(server.endpoint, access_key=USER_KEY, secret_key=USER_SECRET)
    assert (
        app.decrypt(CiphertextBlob=COMMITTED, EncryptionContext=CONTEXT)["Plaintext"] == PLAINTEXT
    )
    with pytest.raises(ClientError) as denied:
        app.encrypt(KeyId=ORDERS, Plaintext=b"x")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    iam = make_client(server.endpoint, service="iam")
    user = iam.get_user(UserName="app")["User"]
    assert user["Tags"] == [{"Key": "team", "Value": "payments"}]
    assert iam.list_user_policies(UserName="app")["PolicyNames"] == ["decrypt-only"]


def test_a_reset_brings_the_seed_back(seeded: tuple[ServerProcess, bytes]) -> None:
    server, public = seeded
    kms = make_client(server.endpoint)
    extra = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.delete_alias(AliasName="alias/orders")
    kms.tag_resource(KeyId=ORDERS, Tags=[{"TagKey": "env", "TagValue": "changed"}])
    kms.disable_key(KeyId=MACS)
    # Material the server made for a seeded key stays the same over resets.
    made = kms.encrypt(KeyId=MADE, Plaintext=b"before the reset")["CiphertextBlob"]
    iam = make_client(server.endpoint, service="iam")
    iam.create_user(UserName="made-by-a-test")
    iam.delete_user_policy(UserName="app", PolicyName="decrypt-only")
    reset(server)
    assert extra not in {k["KeyId"] for k in kms.list_keys()["Keys"]}
    assert_seeded(server, public)
    assert kms.decrypt(CiphertextBlob=made)["Plaintext"] == b"before the reset"
    # IAM state is wiped too, and the seeded user comes back with its key and policy.
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["app"]
    assert iam.list_user_policies(UserName="app")["PolicyNames"] == ["decrypt-only"]
    app = make_client(server.endpoint, access_key=USER_KEY, secret_key=USER_SECRET)
    assert (
        app.decrypt(CiphertextBlob=COMMITTED, EncryptionContext=CONTEXT)["Plaintext"] == PLAINTEXT
    )
    with pytest.raises(ClientError) as denied:  # still the user, not the dev-mode root
        app.encrypt(KeyId=ORDERS, Plaintext=b"x")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    reset(server)
    assert_seeded(server, public)
    assert [
        k["AccessKeyId"] for k in iam.list_access_keys(UserName="app")["AccessKeyMetadata"]
    ] == [USER_KEY]


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        (
            f"keys:\n  - id: {ORDERS}\n    aliases: [alias/aws/mine]\n",
            3,
            "keys[0].aliases[0]: InvalidAliasNameException",
        ),
        (
            f"keys:\n  - id: {ORDERS}\n    policy: {{Version: '2012-10-17', Statement: 7}}\n",
            3,
            "keys[0].policy: MalformedPolicyDocumentException",
        ),
        (
            f"keys:\n  - id: {ORDERS}\n    grants:\n      - grantee: arn:aws:iam::{ACCOUNT}:root\n"
            "        operations: [Fly]\n",
            4,
            "keys[0].grants[0]: ValidationException",
        ),
        ("users:\n  - name: app\n  - name: not a user name\n", 3, "users[1]: ValidationError"),
    ],
)
def test_errors_the_service_finds_name_the_line_and_field(
    tmp_path: Path, body: str, line: int, needle: str
) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(body)
    error = serve_failing(tmp_path, "--dev", "--seed", str(path))
    assert error.startswith(f"openkms: error: {path}:{line}: {needle}: "), error


def test_key_material_is_refused_without_dev(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(f"keys:\n  - id: {ORDERS}\n    material: {'A' * 43}=\n")
    data_dir = tmp_path / "data"
    error = serve_failing(tmp_path, "--data-dir", str(data_dir), "--seed", str(path))
    assert error.startswith(
        f"openkms: error: {path}:3: keys[0].material: key material in a seed file is refused "
        "without --dev"
    ), error
    assert not data_dir.exists()  # checked before anything was made


PERSISTENT_SEED = f"""\
users:
  - name: deployer
    policies:
      all: {{Version: "2012-10-17", Statement: [{{Effect: Allow, Action: "kms:*", Resource: "*"}}]}}
    access_keys:
      - {{id: {USER_KEY}, secret: {USER_SECRET}}}
keys:
  - id: {ORDERS}
    aliases: [alias/orders]
    grants:
      - grantee: arn:aws:iam::{ACCOUNT}:user/deployer
        operations: [Encrypt, Decrypt]
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_with_a_data_directory_the_seed_is_applied_once(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(PERSISTENT_SEED)
    (tmp_path / "data").mkdir()
    database = None
    if backend == "postgres":
        database = request.getfixturevalue("postgres").create_database(f"seed_{free_port()}")
    server = ServerProcess.start(
        data_dir=str(tmp_path / "data"),
        database=database,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_args=["--seed", str(path), "--audit-writer", "thread"],
    )
    try:
        # Not --dev: the seeded user's requests are signed with the seeded secret.
        deployer = make_client(server.endpoint, access_key=USER_KEY, secret_key=USER_SECRET)
        blob = deployer.encrypt(KeyId="alias/orders", Plaintext=b"kept")["CiphertextBlob"]
        kms = make_client(server.endpoint)
        kms.update_key_description(KeyId=ORDERS, Description="changed since")
        server.restart()
        assert deployer.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
        assert [k["KeyId"] for k in kms.list_keys()["Keys"]] == [ORDERS]
        assert len(kms.list_grants(KeyId=ORDERS)["Grants"]) == 1
        assert kms.describe_key(KeyId=ORDERS)["KeyMetadata"]["Description"] == "changed since"
        wrong = make_client(server.endpoint, access_key=USER_KEY, secret_key="x" * 40)
        with pytest.raises(ClientError) as refused:
            wrong.list_keys()
        assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"
    finally:
        server.stop()


def test_an_access_key_someone_else_holds_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(
        f"users:\n  - name: app\n    access_keys:\n      - {{id: {ACCESS_KEY}, secret: {USER_SECRET}}}\n"
    )
    env = {"OPENKMS_ROOT_ACCESS_KEY_ID": ACCESS_KEY, "OPENKMS_ROOT_SECRET_ACCESS_KEY": SECRET_KEY}
    error = serve_failing(
        tmp_path, "--data-dir", str(tmp_path / "data"), "--seed", str(path), env=env
    )
    assert error == (
        f"openkms: error: {path}:4: users[0].access_keys[0]: access key {ACCESS_KEY} "
        f"belongs to arn:aws:iam::{ACCOUNT}:root, not to user app"
    )
