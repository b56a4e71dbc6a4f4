"""EXTERNAL_KEY_STORE custom key stores on a real server (``openkms serve``) that uses a
real XKS proxy (``openkms xks-proxy``) on loopback, SQLite and PostgreSQL, through boto3:
the store operations and their errors, keys whose data is encrypted twice (the key's
own material, then the external key at the proxy) so that neither side alone reads it,
the requestMetadata the proxy receives, CloudTrail's additionalEventData, and a
deliberately broken proxy (wrong credential, bad JSON, slow answers, a disabled key,
an unknown URI path) for every error path AWS documents.

One consumer and one proxy per backend for the module; the tests run in order and build
on each other's state (the store made by the first is used by the next)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from servers import PostgresCluster, ServerProcess, free_port
from xks import ACCESS_KEY as XKS_ACCESS_KEY
from xks import SECRET_KEY as XKS_SECRET_KEY
from xks import XKSClient, metadata, openkms, start_proxy

from conftest import ACCESS_KEY, ACCOUNT, SECRET_KEY, make_client
from openkms.crypto import contexts, symmetric
from openkms.domain import ciphertext
from openkms.domain.xks_ciphertext import parse_envelope
from openkms.errors import InvalidCiphertextException
from openkms.server.bootstrap import open_state
from openkms.server.settings import Settings
from openkms.storage.keys import repository as key_records

PREFIX = "tenant/a"
PATH = "/tenant/a/kms/xks/v1"
CREDENTIAL = {"AccessKeyId": XKS_ACCESS_KEY, "RawSecretAccessKey": XKS_SECRET_KEY}


@dataclass
class Setup:
    server: ServerProcess
    proxy: ServerProcess
    proxy_dir: str
    proxy_database: str | None
    kms: Any
    endpoint: str  # the proxy's XksProxyUriEndpoint
    made: dict[str, str] = field(default_factory=dict)

    def proxy_admin(self, *args: str) -> int:
        state = ["--data-dir", self.proxy_dir]
        if self.proxy_database:
            state += ["--database", self.proxy_database]
        return openkms("admin", *args, *state)[0]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    base: Path = tmp_path_factory.mktemp(f"xks-consumer-{request.param}")
    proxy_dir, data_dir = base / "proxy", base / "data"
    proxy_dir.mkdir(mode=0o700)
    data_dir.mkdir(mode=0o700)
    proxy_database = database = None
    if request.param == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        proxy_database = cluster.create_database("xks_consumer_proxy")
        database = cluster.create_database("xks_consumer_kms")
    for key, usage in (
        ("ext-1", "encrypt-decrypt"),
        ("ext-2", "encrypt-decrypt"),
        ("ext-3", "encrypt-decrypt"),
        ("encrypt-only", "encrypt-only"),
    ):
        status, _, err = openkms(
            "admin", "xks-key", "create", key, "--usage", usage, "--data-dir", str(proxy_dir),
            *(["--database", proxy_database] if proxy_database else []),
        )  # fmt: skip
        assert status == 0, err
    proxy = start_proxy(data_dir=str(proxy_dir), database=proxy_database, prefix=PREFIX)
    try:
        server = ServerProcess.start(
            data_dir=str(data_dir),
            database=database,
            account=ACCOUNT,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            extra_args=["--maintenance-interval", "0"],
        )
    except BaseException:
        proxy.stop()
        raise
    try:
        yield Setup(
            server,
            proxy,
            str(proxy_dir),
            proxy_database,
            make_client(server.endpoint),
            f"http://127.0.0.1:{proxy.port}",
        )
    finally:
        server.stop()
        proxy.stop()


def code_of(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return str(caught.value.response["Error"]["Code"])


def create_store(kms: Any, name: str, endpoint: str, path: str = PATH, **more: Any) -> str:
    found: str = kms.create_custom_key_store(
        CustomKeyStoreName=name,
        CustomKeyStoreType="EXTERNAL_KEY_STORE",
        XksProxyUriEndpoint=endpoint,
        XksProxyUriPath=path,
        XksProxyAuthenticationCredential=more.pop("credential", CREDENTIAL),
        XksProxyConnectivity=more.pop("connectivity", "PUBLIC_ENDPOINT"),
        **more,
    )["CustomKeyStoreId"]
    return found


def describe(kms: Any, store_id: str) -> dict[str, Any]:
    found: dict[str, Any] = kms.describe_custom_key_stores(CustomKeyStoreId=store_id)[
        "CustomKeyStores"
    ][0]
    return found


def test_store_operations_and_their_errors(setup: Setup) -> None:
    kms, endpoint = setup.kms, setup.endpoint

    def refused(name: str, where: str, path: str = PATH, **more: Any) -> str:
        return code_of(create_store, kms=kms, name=name, endpoint=where, path=path, **more)

    # What AWS's model and documentation refuse before any proxy is asked.
    assert refused("s", "https://xks.example.com:8443") == "ValidationException"  # a port
    assert refused("s", "http://xks.example.com") == "ValidationException"  # not https
    assert refused("s", "http://10.0.0.1:80") == "ValidationException"  # http off loopback
    assert refused("s", endpoint, path="/kms/xks/v2x") == "ValidationException"
    assert (
        refused(
            "s",
            endpoint,
            credential={"AccessKeyId": "lowercase" * 3, "RawSecretAccessKey": "x" * 43},
        )
        == "ValidationException"
    )
    no_proxy = code_of(
        kms.create_custom_key_store, CustomKeyStoreName="s", CustomKeyStoreType="EXTERNAL_KEY_STORE"
    )
    assert no_proxy == "ValidationException"
    vpc = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
    assert (
        refused(
            "s",
            "https://xks.example.com",
            connectivity="VPC_ENDPOINT_SERVICE",
            XksProxyVpcEndpointServiceName=vpc,
        )
        == "XksProxyVpcEndpointServiceNotFoundException"
    )
    assert (
        refused("s", endpoint, XksProxyVpcEndpointServiceName=vpc) == "ValidationException"
    )  # a VPC service name with a public endpoint
    assert (
        code_of(
            kms.create_custom_key_store,
            CustomKeyStoreName="s",
            CustomKeyStoreType="EXTERNAL_KEY_STORE",
            XksProxyUriEndpoint=endpoint,
            XksProxyUriPath=PATH,
            XksProxyAuthenticationCredential=CREDENTIAL,
            XksProxyConnectivity="PUBLIC_ENDPOINT",
            KeyStorePassword="kmsuser-pin",
        )
        == "ValidationException"
    )
    # What the proxy's health call says (the real proxy).
    wrong = {"AccessKeyId": XKS_ACCESS_KEY, "RawSecretAccessKey": "W" * 43}
    assert (
        refused("s", endpoint, credential=wrong)
        == "XksProxyIncorrectAuthenticationCredentialException"
    )
    assert (
        refused("s", endpoint, path="/tenant/b/kms/xks/v1")
        == "XksProxyInvalidConfigurationException"
    )
    closed = f"http://127.0.0.1:{free_port()}"
    assert refused("s", closed) == "XksProxyUriUnreachableException"

    store_id = create_store(kms, "vault", endpoint)
    setup.made["store"] = store_id
    entry = describe(kms, store_id)
    assert entry["CustomKeyStoreType"] == "EXTERNAL_KEY_STORE"
    assert entry["ConnectionState"] == "DISCONNECTED"
    assert entry["XksProxyConfiguration"] == {
        "Connectivity": "PUBLIC_ENDPOINT",
        "AccessKeyId": XKS_ACCESS_KEY,
        "UriEndpoint": endpoint,
        "UriPath": PATH,
    }
    assert XKS_SECRET_KEY not in json.dumps(entry, default=str)
    assert refused("other", endpoint) == "XksProxyUriInUseException"
    assert (
        refused("vault", endpoint, path="/tenant/c/kms/xks/v1")
        == "CustomKeyStoreNameInUseException"
    )
    assert (
        code_of(
            kms.create_key, Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId="ext-1"
        )
        == "CustomKeyStoreInvalidStateException"
    )
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert describe(kms, store_id)["ConnectionState"] == "CONNECTED"
    # Connected: the name, path and credential may change, not the endpoint.
    assert (
        code_of(kms.update_custom_key_store, CustomKeyStoreId=store_id, XksProxyUriEndpoint=closed)
        == "CustomKeyStoreInvalidStateException"
    )
    assert (
        code_of(
            kms.update_custom_key_store,
            CustomKeyStoreId=store_id,
            XksProxyAuthenticationCredential=wrong,
        )
        == "XksProxyIncorrectAuthenticationCredentialException"
    )
    assert (
        code_of(
            kms.update_custom_key_store, CustomKeyStoreId=store_id, KeyStorePassword="kmsuser-pin"
        )
        == "ValidationException"
    )
    kms.update_custom_key_store(
        CustomKeyStoreId=store_id,
        NewCustomKeyStoreName="vault-2",
        XksProxyAuthenticationCredential=CREDENTIAL,
    )
    assert describe(kms, store_id)["CustomKeyStoreName"] == "vault-2"
    assert (
        code_of(kms.delete_custom_key_store, CustomKeyStoreId=store_id)
        == "CustomKeyStoreInvalidStateException"
    )
    assert (
        code_of(kms.generate_random, NumberOfBytes=8, CustomKeyStoreId=store_id)
        == "UnsupportedOperationException"
    )


def test_keys_encrypt_twice(setup: Setup) -> None:
    kms, store_id = setup.kms, setup.made["store"]

    def create_key(**params: Any) -> dict[str, Any]:
        found: dict[str, Any] = kms.create_key(
            Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, **params
        )["KeyMetadata"]
        return found

    def refused(**params: Any) -> str:
        return code_of(kms.create_key, **params)

    assert refused(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id) == "ValidationException"
    assert refused(XksKeyId="ext-1") == "ValidationException"  # Origin AWS_KMS
    assert refused(Origin="EXTERNAL_KEY_STORE", XksKeyId="ext-1") == "ValidationException"
    for xks_key_id, code in (
        ("nope", "XksKeyNotFoundException"),
        ("encrypt-only", "XksKeyInvalidConfigurationException"),
    ):
        assert (
            refused(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId=xks_key_id)
            == code
        )
    assert (
        refused(
            Origin="EXTERNAL_KEY_STORE",
            CustomKeyStoreId=store_id,
            XksKeyId="ext-1",
            KeySpec="RSA_2048",
            KeyUsage="ENCRYPT_DECRYPT",
        )
        == "UnsupportedOperationException"
    )
    meta = create_key(XksKeyId="ext-1", Description="double")
    setup.made["key"] = key_id = meta["KeyId"]
    assert meta["Origin"] == "EXTERNAL_KEY_STORE" and meta["CustomKeyStoreId"] == store_id
    assert meta["XksKeyConfiguration"] == {"Id": "ext-1"}
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["XksKeyConfiguration"] == {"Id": "ext-1"}
    assert (
        refused(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId="ext-1")
        == "XksKeyAlreadyInUseException"
    )

    context = {"purpose": "xks"}
    sealed = kms.encrypt(KeyId=key_id, Plaintext=b"held twice", EncryptionContext=context)
    blob = sealed["CiphertextBlob"]
    setup.made["request_id"] = sealed["ResponseMetadata"]["RequestId"]
    opened = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert opened["Plaintext"] == b"held twice" and opened["KeyId"] == meta["Arn"]
    assert code_of(kms.decrypt, CiphertextBlob=blob) == "InvalidCiphertextException"
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert (
        kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    )
    bare = kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=16)
    assert len(kms.decrypt(CiphertextBlob=bare["CiphertextBlob"])["Plaintext"]) == 16
    software = kms.create_key()["KeyMetadata"]["KeyId"]
    moved = kms.re_encrypt(
        CiphertextBlob=blob, SourceEncryptionContext=context, DestinationKeyId=software
    )
    back = kms.re_encrypt(CiphertextBlob=moved["CiphertextBlob"], DestinationKeyId=key_id)
    assert kms.decrypt(CiphertextBlob=back["CiphertextBlob"])["Plaintext"] == b"held twice"
    # Another key of the same store (another external key) does not open it.
    other = create_key(XksKeyId="ext-2")["KeyId"]
    assert code_of(kms.decrypt, CiphertextBlob=blob, KeyId=other, EncryptionContext=context) == (
        "IncorrectKeyException"
    )
    # As AWS: no rotation, no data key pairs for keys in a custom key store.
    assert code_of(kms.enable_key_rotation, KeyId=key_id) == "UnsupportedOperationException"
    assert code_of(kms.rotate_key_on_demand, KeyId=key_id) == "UnsupportedOperationException"
    assert (
        code_of(kms.generate_data_key_pair, KeyId=key_id, KeyPairSpec="ECC_NIST_P256")
        == "UnsupportedOperationException"
    )

    # Neither side alone: the proxy opens only its own layer, which is the KMS-side
    # ciphertext (not the plaintext); the KMS-side material alone opens nothing.
    parsed = ciphertext.parse(blob)
    outer = parse_envelope(parsed.sealed)
    assert b"held twice" not in blob
    proxy = XKSClient(setup.proxy.port, PATH)
    answer = proxy.decrypt(
        "ext-1",
        {
            "ciphertext": base64.b64encode(outer.ciphertext).decode(),
            "initializationVector": base64.b64encode(outer.iv).decode(),
            "authenticationTag": base64.b64encode(outer.tag).decode(),
            **(
                {"ciphertextMetadata": base64.b64encode(outer.metadata).decode()}
                if outer.metadata
                else {}
            ),
        },
        aad=parsed.header,
    )
    assert answer.status == 200
    inner = base64.b64decode(answer.body["plaintext"])
    assert b"held twice" not in inner and len(inner) == len(b"held twice") + 16
    store, keyring = open_state(
        Settings(setup.server.data_dir, setup.server.database, ACCOUNT), create=False
    )
    try:
        with store.transaction() as tx:
            material = key_records.get_material(tx, key_id, 1)
        assert material is not None and material.wrapped is not None
        own = keyring.unwrap(material.wrapped, contexts.key_material(key_id, 1))
    finally:
        store.close()
    with pytest.raises(InvalidCiphertextException):
        symmetric.decrypt(own, parsed, context)  # the KMS-side material on the whole blob
    both = ciphertext.parse(parsed.header + inner)
    assert symmetric.decrypt(own, both, context) == b"held twice"  # the two layers together


def _audit_records(database: str | None, data_dir: str | None) -> list[dict[str, Any]]:
    from sqlalchemy import text

    from openkms.storage.engine import make_engine, sqlite_url

    assert data_dir is not None
    engine = make_engine(database or sqlite_url(data_dir))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT record FROM audit_events ORDER BY seq")).all()
    finally:
        engine.dispose()
    return [json.loads(row[0]) for row in rows]


def test_request_metadata_and_cloudtrail(setup: Setup) -> None:
    """The proxy got the request's metadata (the KMS request id is the CloudTrail
    record's), and the consumer's record names the store and the external key."""
    kms, key_id, request_id = setup.kms, setup.made["key"], setup.made["request_id"]
    arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    proxied = [
        r
        for r in _audit_records(setup.proxy_database, setup.proxy_dir)
        if r.get("eventSource") == "kms-xks-proxy"
        and (r["requestParameters"] or {}).get("requestMetadata", {}).get("kmsRequestId")
        == request_id
    ]
    assert len(proxied) == 1 and proxied[0]["eventName"] == "Encrypt"
    assert proxied[0]["requestParameters"]["externalKeyId"] == "ext-1"
    assert proxied[0]["requestParameters"]["requestMetadata"] == {
        "awsPrincipalArn": f"arn:aws:iam::{ACCOUNT}:root",
        "kmsKeyArn": arn,
        "kmsOperation": "Encrypt",
        "kmsRequestId": request_id,
    }
    deadline = time.monotonic() + 10
    while True:  # the record is durable before the answer; read it from the database
        mine = [
            r
            for r in _audit_records(setup.server.database, setup.server.data_dir)
            if r.get("requestID") == request_id
        ]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(mine) == 1 and mine[0]["eventName"] == "Encrypt"
    everything = json.dumps(_audit_records(setup.server.database, setup.server.data_dir))
    assert "CreateCustomKeyStore" in everything and XKS_SECRET_KEY not in everything
    assert mine[0]["additionalEventData"]["customKeyStoreId"] == setup.made["store"]
    assert mine[0]["additionalEventData"]["xksKeyId"] == "ext-1"

    # A service principal (an IAM user tagged openkms:via-service) is named as such.
    iam = make_client(setup.server.endpoint, service="iam")
    iam.create_user(UserName="ebs-sim")
    iam.tag_user(UserName="ebs-sim", Tags=[{"Key": "openkms:via-service", "Value": "ec2"}])
    allow = {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}
    iam.put_user_policy(
        UserName="ebs-sim",
        PolicyName="kms",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
    )
    created = iam.create_access_key(UserName="ebs-sim")["AccessKey"]
    ebs = make_client(
        setup.server.endpoint,
        access_key=created["AccessKeyId"],
        secret_key=created["SecretAccessKey"],
    )
    done = ebs.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_256")
    via = done["ResponseMetadata"]["RequestId"]
    sent = [
        r["requestParameters"]["requestMetadata"]
        for r in _audit_records(setup.proxy_database, setup.proxy_dir)
        if r.get("eventSource") == "kms-xks-proxy"
        and (r["requestParameters"] or {}).get("requestMetadata", {}).get("kmsRequestId") == via
    ]
    assert sent == [
        {
            "awsPrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/ebs-sim",
            "kmsKeyArn": arn,
            "kmsOperation": "GenerateDataKeyWithoutPlaintext",
            "kmsRequestId": via,
            "kmsViaService": "ec2",
        }
    ]


def test_a_disabled_external_key_and_a_disconnected_store(setup: Setup) -> None:
    kms, key_id, store_id = setup.kms, setup.made["key"], setup.made["store"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    assert setup.proxy_admin("xks-key", "disable", "ext-1") == 0
    deadline = time.monotonic() + 10  # the proxy sees the change within its cache bound
    while time.monotonic() < deadline:
        try:
            kms.encrypt(KeyId=key_id, Plaintext=b"x")
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "KMSInvalidStateException"
            assert "not enabled" in exc.response["Error"]["Message"]
            break
        time.sleep(0.1)
    else:
        pytest.fail("the disabled external key still encrypts")
    assert code_of(kms.decrypt, CiphertextBlob=blob) == "KMSInvalidStateException"
    # The KMS key itself is still Enabled: the external key's state is the proxy's.
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert setup.proxy_admin("xks-key", "enable", "ext-1") == 0
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Unavailable"
    assert code_of(kms.decrypt, CiphertextBlob=blob) == "KMSInvalidStateException"
    assert (
        code_of(
            kms.create_key, Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId="ext-3"
        )
        == "CustomKeyStoreInvalidStateException"
    )
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    deadline = time.monotonic() + 10
    while True:
        try:
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
            break
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    # Deleting the KMS key leaves the external key alone; the store then goes.
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert code_of(kms.encrypt, KeyId=key_id, Plaintext=b"x") == "KMSInvalidStateException"
    assert code_of(kms.delete_custom_key_store, CustomKeyStoreId=store_id) == (
        "CustomKeyStoreInvalidStateException"
    )
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert code_of(kms.delete_custom_key_store, CustomKeyStoreId=store_id) == (
        "CustomKeyStoreHasCMKsException"
    )
    found = XKSClient(setup.proxy.port, PATH).call(
        "keys/ext-1/metadata", {"requestMetadata": metadata("DescribeKey")}
    )
    assert found.status == 200 and found.body["keyStatus"] == "ENABLED"


class BrokenProxy:
    """An XKS proxy on 127.0.0.1 that answers as ``mode`` says: "ok" (a healthy fleet,
    an AES_256 key), "401", "403", "404" (InvalidUriPathException), "json" (not JSON),
    "slow" (after 1 s), "unavailable" (every key manager UNAVAILABLE), "disabled" (the
    key DISABLED, crypto InvalidStateException), "cdiv" (an encryption whose integrity
    value is wrong)."""

    def __init__(self) -> None:
        self.mode = "ok"
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, answer = outer.answer(self.path, body)
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        mode = self.mode
        errors = {
            "401": (401, "AuthenticationFailedException"),
            "403": (403, "AccessDeniedException"),
            "404": (404, "InvalidUriPathException"),
        }
        if mode in errors:
            status, name = errors[mode]
            return status, {"errorName": name, "errorMessage": "broken on purpose"}
        if mode == "json":
            return 200, b"<html>not json</html>"
        if mode == "slow":
            time.sleep(1)
        if path.endswith("/health"):
            health = "UNAVAILABLE" if mode == "unavailable" else "ACTIVE"
            return 200, {
                "xksProxyFleetSize": 1,
                "xksProxyVendor": "test",
                "xksProxyModel": "broken",
                "ekmVendor": "test",
                "ekmFleetDetails": [{"id": "a", "model": "b", "healthStatus": health}],
            }
        if path.endswith("/metadata"):
            key_status = "DISABLED" if mode == "disabled" else "ENABLED"
            return 200, {
                "keySpec": "AES_256",
                "keyUsage": ["ENCRYPT", "DECRYPT"],
                "keyStatus": key_status,
            }
        if mode == "disabled":
            return 400, {"errorName": "InvalidStateException"}
        plaintext = base64.b64decode(body.get("plaintext", ""))
        zero = base64.b64encode(bytes(16)).decode()
        return 200, {
            "ciphertext": base64.b64encode(plaintext).decode(),
            "initializationVector": base64.b64encode(bytes(12)).decode(),
            "authenticationTag": zero,
            "ciphertextDataIntegrityValue": base64.b64encode(bytes(32)).decode(),
        }

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture()
def broken() -> Iterator[BrokenProxy]:
    proxy = BrokenProxy()
    try:
        yield proxy
    finally:
        proxy.stop()


def test_a_broken_proxy(setup: Setup, broken: BrokenProxy) -> None:
    kms = setup.kms
    for mode, code in (
        ("401", "XksProxyIncorrectAuthenticationCredentialException"),
        ("403", "XksProxyIncorrectAuthenticationCredentialException"),
        ("404", "XksProxyInvalidConfigurationException"),
        ("json", "XksProxyInvalidResponseException"),
        ("slow", "XksProxyUriUnreachableException"),
        ("unavailable", "XksProxyUriUnreachableException"),
    ):
        broken.mode = mode
        assert code_of(create_store, kms=kms, name="broken", endpoint=broken.endpoint) == code, mode
    broken.mode = "ok"
    store_id = create_store(kms, "broken", broken.endpoint)
    # Connecting asks the health call; each failure has its ConnectionErrorCode.
    for mode, error_code in (
        ("401", "INVALID_CREDENTIALS"),
        ("403", "XKS_PROXY_ACCESS_DENIED"),
        ("404", "XKS_PROXY_INVALID_CONFIGURATION"),
        ("json", "XKS_PROXY_INVALID_RESPONSE"),
        ("slow", "XKS_PROXY_TIMED_OUT"),
        ("unavailable", "XKS_PROXY_NOT_REACHABLE"),
    ):
        broken.mode = mode
        kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        entry = describe(kms, store_id)
        assert (entry["ConnectionState"], entry.get("ConnectionErrorCode")) == (
            "FAILED",
            error_code,
        )
        assert code_of(kms.connect_custom_key_store, CustomKeyStoreId=store_id) == (
            "CustomKeyStoreInvalidStateException"
        )  # a FAILED store is disconnected first
        kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    broken.mode = "ok"
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert describe(kms, store_id)["ConnectionState"] == "CONNECTED"
    # CreateKey asks the key's metadata.
    for mode, code in (
        ("disabled", "XksKeyInvalidConfigurationException"),
        ("slow", "CustomKeyStoreInvalidStateException"),
        ("json", "CustomKeyStoreInvalidStateException"),
        ("401", "CustomKeyStoreInvalidStateException"),
        ("403", "KMSInvalidStateException"),
    ):
        broken.mode = mode
        assert (
            code_of(
                kms.create_key, Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId="k"
            )
            == code
        ), mode
    broken.mode = "ok"
    key_id = kms.create_key(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId="k")[
        "KeyMetadata"
    ]["KeyId"]
    # Cryptographic operations answer KMSInvalidStateException, whatever went wrong, with
    # a message that says what.
    for mode, words in (
        ("disabled", "not enabled"),
        ("slow", "250 ms"),
        ("json", "cannot interpret"),
        ("cdiv", "cannot interpret"),
        ("401", "could not authenticate"),
        ("403", "denied access"),
    ):
        broken.mode = mode
        with pytest.raises(ClientError) as caught:
            kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
        error = caught.value.response["Error"]
        assert error["Code"] == "KMSInvalidStateException", mode
        assert words in error["Message"], (mode, error["Message"])
    # Once gone, the proxy is unreachable: connecting says so.
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    broken.stop()
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert describe(kms, store_id).get("ConnectionErrorCode") == "XKS_PROXY_NOT_REACHABLE"
