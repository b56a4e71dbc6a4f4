"""HTTPS transport (issue 10, "Transport").

Decrypt and GenerateDataKey answers carry plaintext, so a production server speaks
HTTPS: ``openkms serve --tls-cert FILE --tls-key FILE``. Each test makes its own
certificate authority and a server certificate for 127.0.0.1 with pyca/cryptography,
and drives the server with boto3's ``verify=`` (the CA bundle a client trusts).
The refusal of plain HTTP on other addresses is tested in tests/cli/test_serve.py.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import SSLError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from servers import free_port

from conftest import ACCESS_KEY, REGION, SECRET_KEY


@dataclass(frozen=True)
class Authority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    def issue(self, host: str) -> tuple[bytes, bytes]:
        """A server certificate for the IP address ``host``: (cert PEM, key PEM)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem

    def write(self, path: Path) -> str:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return str(path)


@dataclass
class TLSServer:
    proc: subprocess.Popen[bytes]
    port: int
    ca_bundle: str
    log: Path

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def _wait_https(server: TLSServer, timeout: float = 30) -> None:
    context = ssl.create_default_context(cafile=server.ca_bundle)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited: {server.log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(
                server.endpoint + "/_openkms/health", timeout=1, context=context
            ):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.05)
    raise TimeoutError(server.log.read_text(errors="replace"))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer]:
    base = tmp_path_factory.mktemp("tls")
    ca = Authority.create("OpenKMS test CA")
    cert_pem, key_pem = ca.issue("127.0.0.1")
    (base / "server.crt").write_bytes(cert_pem)
    (base / "server.key").write_bytes(key_pem)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    env["OPENKMS_ROOT_ACCESS_KEY_ID"] = ACCESS_KEY
    env["OPENKMS_ROOT_SECRET_ACCESS_KEY"] = SECRET_KEY
    log = base / "server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "openkms",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(base / "data"),
                "--tls-cert",
                str(base / "server.crt"),
                "--tls-key",
                str(base / "server.key"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = TLSServer(proc, port, ca.write(base / "ca.pem"), log)
    try:
        _wait_https(server)
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _client(endpoint: str, verify: str | bool) -> Any:
    return boto3.client(
        "kms",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        verify=verify,
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
    )


def test_encrypt_and_decrypt_over_https(tls_server: TLSServer) -> None:
    kms = _client(tls_server.endpoint, tls_server.ca_bundle)
    key_id = kms.create_key(Description="over TLS")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"in transit")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"in transit"
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert len(data_key["Plaintext"]) == 32
    assert "listening on https://127.0.0.1" in tls_server.log.read_text()


def test_a_client_trusting_another_ca_refuses_the_server(
    tls_server: TLSServer, tmp_path: Path
) -> None:
    other = Authority.create("Somebody else's CA").write(tmp_path / "other.pem")
    with pytest.raises(SSLError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        _client(tls_server.endpoint, other).list_keys()


def test_plain_http_is_not_answered_on_the_tls_port(tls_server: TLSServer) -> None:
    plain = f"http://127.0.0.1:{tls_server.port}/_openkms/health"
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(plain, timeout=5).read()
