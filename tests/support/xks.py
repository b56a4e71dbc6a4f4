"""A SigV4-signing client of the XKS proxy API (botocore's signer, service
``kms-xks-proxy``), and the ``openkms xks-proxy`` process, for tests and the bench."""

from __future__ import annotations

import base64
import contextlib
import datetime
import http.client
import io
import json
import os
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from servers import ServerProcess, _spawn, free_port, wait_http

ACCESS_KEY = "BETWEEN2TENAND3TENCHARACTERS"
SECRET_KEY = "PleaseReplaceThisWithSomeSecretOfLength43To64"
PRINCIPAL = "arn:aws:iam::123456789012:user/Alice"
KMS_KEY_ARN = "arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def metadata(operation: str = "Encrypt", **extra: str) -> dict[str, str]:
    return {
        "awsPrincipalArn": PRINCIPAL,
        "kmsKeyArn": KMS_KEY_ARN,
        "kmsOperation": operation,
        "kmsRequestId": str(uuid.uuid4()),
        "kmsViaService": "ebs",
        **extra,
    }


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def error(self) -> str | None:
        return self.body.get("errorName")


@dataclass
class XKSClient:
    port: int
    base: str  # e.g. /tenant/a/kms/xks/v1
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = "us-east-1"
    service: str = "kms-xks-proxy"

    def signed_headers(
        self, path: str, body: bytes, *, at: datetime.datetime | None = None
    ) -> dict[str, str]:
        url = f"http://127.0.0.1:{self.port}{path}"
        request = AWSRequest("POST", url, data=body, headers={"Content-Type": "application/json"})
        signer = SigV4Auth(Credentials(self.access_key, self.secret_key), self.service, self.region)
        if at is None:
            signer.add_auth(request)
        else:
            real = botocore.auth.get_current_datetime
            botocore.auth.get_current_datetime = lambda: at
            try:
                signer.add_auth(request)
            finally:
                botocore.auth.get_current_datetime = real
        return dict(request.headers.items())

    def raw(
        self,
        path: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        method: str = "POST",
    ) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            found = {k.lower(): v for k, v in response.getheaders()}
        finally:
            conn.close()
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            parsed = {"_text": data.decode(errors="replace")}
        return Answer(response.status, parsed, found)

    def call(
        self,
        target: str,
        body: dict[str, Any] | bytes,
        *,
        at: datetime.datetime | None = None,
        base: str | None = None,
    ) -> Answer:
        path = (self.base if base is None else base) + "/" + target
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.raw(path, data, self.signed_headers(path, data, at=at))

    def encrypt(self, key: str, plaintext: bytes, aad: bytes | None = None, **more: Any) -> Answer:
        body: dict[str, Any] = {
            "requestMetadata": metadata("Encrypt"),
            "plaintext": b64(plaintext),
            "encryptionAlgorithm": "AES_GCM",
            **more,
        }
        if aad is not None:
            body["additionalAuthenticatedData"] = b64(aad)
        return self.call(f"keys/{key}/encrypt", body)

    def decrypt(
        self, key: str, sealed: dict[str, Any], aad: bytes | None = None, **more: Any
    ) -> Answer:
        body: dict[str, Any] = {
            "requestMetadata": metadata("Decrypt"),
            "encryptionAlgorithm": "AES_GCM",
            "ciphertext": sealed["ciphertext"],
            "initializationVector": sealed["initializationVector"],
            "authenticationTag": sealed["authenticationTag"],
            **more,
        }
        if "ciphertextMetadata" in sealed:
            body["ciphertextMetadata"] = sealed["ciphertextMetadata"]
        if aad is not None:
            body["additionalAuthenticatedData"] = b64(aad)
        return self.call(f"keys/{key}/decrypt", body)


def openkms(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``openkms ARGS`` run in this process (the real entry point); status, out, err.
    The process's umask, which the command sets, is put back afterwards."""
    from openkms.cli.main import main

    umask = os.umask(0o077)
    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(args))
            except SystemExit as exc:
                status = int(exc.code or 0)
    finally:
        os.umask(umask)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return status, out.getvalue(), err.getvalue()


def start_proxy(
    *,
    data_dir: str,
    database: str | None,
    prefix: str,
    extra_args: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> ServerProcess:
    port = free_port()
    args = [sys.executable, "-m", "openkms", "xks-proxy", "--port", str(port)]
    args += ["--data-dir", data_dir, "--uri-prefix", prefix]
    if database:
        args += ["--database", database]
    args += extra_args or []
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    env["OPENKMS_XKS_ACCESS_KEY_ID"] = ACCESS_KEY
    env["OPENKMS_XKS_SECRET_ACCESS_KEY"] = SECRET_KEY
    env.update(extra_env or {})
    log_path = os.path.join(data_dir, f"xks-proxy-{port}.log")
    proc = ServerProcess(_spawn(args, env, log_path), port, data_dir, database, env, args, log_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", proc.proc)
    except (RuntimeError, TimeoutError) as exc:
        proc.stop()
        raise RuntimeError(f"{exc}\n--- proxy log ---\n{proc.log()}") from None
    return proc
