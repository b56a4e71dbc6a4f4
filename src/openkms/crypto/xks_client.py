"""A client of an XKS proxy, as AWS KMS calls one (External Key Store Proxy API 1.0.x,
https://github.com/aws/aws-kms-xksproxy-api-spec): the four POST APIs under
``<XksProxyUriEndpoint><XksProxyUriPath>``, JSON bodies with ``requestMetadata``, SigV4
signatures for the service ``kms-xks-proxy`` in the store's Region (botocore's signer),
and a 250 ms time limit on each call ("If KMS does not receive a response from the XKS
proxy for any API call within 250ms, KMS will time out", §GetHealthStatus).

Every failure is one :class:`XKSCallError`, of one :class:`Failure` kind (the network,
the time limit, TLS, an answer we cannot read, or an error the proxy answered, with its
``errorName``); the proxy's ``errorMessage`` is only logged, never shown to KMS callers,
as AWS does. What each failure means for each KMS operation is decided above, in
:mod:`openkms.crypto.xks_store`. Answers are checked before use: Base64 fields decode,
the ciphertext is as long as the plaintext, the IV has 12 or 16 bytes, the tag 16, the
ciphertextMetadata at most 20, and the Ciphertext Data Integrity Value we ask for
matches (Appendix C).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import ssl
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from openkms.domain import xks
from openkms.domain.xks_ciphertext import ProxyCiphertext

log = logging.getLogger("openkms.xks_client")

#: AWS KMS's time limit for one XKS proxy call, in seconds.
TIMEOUT = 0.25
SERVICE = "kms-xks-proxy"
#: Answers larger than this are not read (a proxy's largest is a 4 KiB plaintext).
MAX_ANSWER = 64 * 1024


class Failure(StrEnum):
    NOT_REACHABLE = "NOT_REACHABLE"  # no TCP connection
    TIMED_OUT = "TIMED_OUT"  # no answer within TIMEOUT
    TLS = "TLS"  # no TLS session (handshake, certificate)
    INVALID_RESPONSE = "INVALID_RESPONSE"  # an answer that is not the API's
    PROXY_ERROR = "PROXY_ERROR"  # the proxy answered {"errorName": ...}


class XKSCallError(Exception):
    """An XKS proxy call that failed; ``error_name`` is the proxy's (PROXY_ERROR only)."""

    def __init__(
        self, failure: Failure, detail: str, error_name: str | None = None, status: int = 0
    ) -> None:
        super().__init__(detail)
        self.failure = failure
        self.error_name = error_name
        self.status = status


@dataclass(frozen=True, slots=True)
class ProxyAddress:
    """Where a store's proxy answers and the credential KMS signs with."""

    endpoint: str  # XksProxyUriEndpoint: scheme and host (and, on loopback, a port)
    path: str  # XksProxyUriPath: ``[/prefix]/kms/xks/v1``
    access_key_id: str
    secret: str
    region: str

    def url(self, api: str) -> str:
        return f"{self.endpoint}{self.path}/{api}"


@dataclass(frozen=True, slots=True)
class KeyMetadata:
    """GetKeyMetadata's answer."""

    key_spec: str
    key_usage: frozenset[str]
    key_status: str


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _unb64(body: dict[str, Any], name: str, *, required: bool = True) -> bytes | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise XKSCallError(Failure.INVALID_RESPONSE, f"the answer has no {name}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise XKSCallError(Failure.INVALID_RESPONSE, f"{name} is not Base64") from None


class XKSClient:
    """Calls XKS proxies; one connection pool for every store of the process (it is
    thread-safe, and keeps connections to each proxy open between calls)."""

    def __init__(self, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout
        self._pool: Any = None
        self._lock = threading.Lock()

    def _pool_manager(self) -> Any:
        """The pool, made at the first call: urllib3 and botocore's signer are imported
        then, not at every server's start (50 ms of ``serve --dev``'s start-up)."""
        with self._lock:
            if self._pool is None:
                import urllib3

                self._pool = urllib3.PoolManager(
                    num_pools=64,
                    maxsize=16,
                    retries=False,
                    timeout=urllib3.Timeout(total=self.timeout),
                    # The system's trust store (SSL_CERT_FILE / SSL_CERT_DIR override it).
                    ssl_context=ssl.create_default_context(),
                )
            return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.clear()

    def health(self, address: ProxyAddress, metadata: xks.RequestMetadata) -> list[str]:
        """GetHealthStatus: the ``healthStatus`` of each external key manager."""
        body = self._call(address, "health", {"requestMetadata": metadata.as_record()})
        fleet = body.get("ekmFleetDetails")
        size = body.get("xksProxyFleetSize")
        if not isinstance(size, int) or size < 1 or not isinstance(fleet, list) or not fleet:
            raise XKSCallError(Failure.INVALID_RESPONSE, "the health answer is malformed")
        statuses = [entry.get("healthStatus") for entry in fleet if isinstance(entry, dict)]
        if len(statuses) != len(fleet) or not all(
            s in ("ACTIVE", "DEGRADED", "UNAVAILABLE") for s in statuses
        ):
            raise XKSCallError(Failure.INVALID_RESPONSE, "the health answer is malformed")
        return [str(s) for s in statuses]

    def key_metadata(
        self, address: ProxyAddress, key_id: str, metadata: xks.RequestMetadata
    ) -> KeyMetadata:
        body = self._call(
            address, f"keys/{key_id}/metadata", {"requestMetadata": metadata.as_record()}
        )
        spec, usage, status = body.get("keySpec"), body.get("keyUsage"), body.get("keyStatus")
        if (
            not isinstance(spec, str)
            or not isinstance(status, str)
            or not isinstance(usage, list)
            or not all(isinstance(u, str) for u in usage)
        ):
            raise XKSCallError(Failure.INVALID_RESPONSE, "the key metadata answer is malformed")
        return KeyMetadata(spec, frozenset(usage), status)

    def encrypt(
        self,
        address: ProxyAddress,
        key_id: str,
        metadata: xks.RequestMetadata,
        plaintext: bytes,
        aad: bytes,
    ) -> ProxyCiphertext:
        request = {
            "requestMetadata": metadata.as_record(),
            "plaintext": _b64(plaintext),
            "encryptionAlgorithm": "AES_GCM",
            "additionalAuthenticatedData": _b64(aad),
            "ciphertextDataIntegrityValueAlgorithm": "SHA_256",
        }
        body = self._call(address, f"keys/{key_id}/encrypt", request)
        ciphertext = _unb64(body, "ciphertext")
        iv = _unb64(body, "initializationVector")
        tag = _unb64(body, "authenticationTag")
        ctm = _unb64(body, "ciphertextMetadata", required=False)
        cdiv = _unb64(body, "ciphertextDataIntegrityValue")
        assert ciphertext is not None and iv is not None and tag is not None and cdiv is not None
        if (
            len(ciphertext) != len(plaintext)
            or len(iv) not in xks.IV_LENGTHS
            or len(tag) != xks.TAG_LEN
            or (ctm is not None and len(ctm) > xks.MAX_CIPHERTEXT_METADATA)
        ):
            raise XKSCallError(Failure.INVALID_RESPONSE, "the encrypt answer is malformed")
        expected = xks.integrity_value(aad, ctm, iv, ciphertext, tag)
        if not hmac.compare_digest(cdiv, expected):
            raise XKSCallError(
                Failure.INVALID_RESPONSE, "the ciphertextDataIntegrityValue does not match"
            )
        return ProxyCiphertext(ciphertext, iv, tag, ctm or None)

    def decrypt(
        self,
        address: ProxyAddress,
        key_id: str,
        metadata: xks.RequestMetadata,
        sealed: ProxyCiphertext,
        aad: bytes,
    ) -> bytes:
        request = {
            "requestMetadata": metadata.as_record(),
            "ciphertext": _b64(sealed.ciphertext),
            "encryptionAlgorithm": "AES_GCM",
            "initializationVector": _b64(sealed.iv),
            "authenticationTag": _b64(sealed.tag),
            "additionalAuthenticatedData": _b64(aad),
        }
        if sealed.metadata is not None:
            request["ciphertextMetadata"] = _b64(sealed.metadata)
        body = self._call(address, f"keys/{key_id}/decrypt", request)
        plaintext = _unb64(body, "plaintext")
        assert plaintext is not None
        if len(plaintext) != len(sealed.ciphertext):
            raise XKSCallError(Failure.INVALID_RESPONSE, "the decrypt answer is malformed")
        return plaintext

    def _call(self, address: ProxyAddress, api: str, body: dict[str, Any]) -> dict[str, Any]:
        import urllib3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        pool = self._pool_manager()
        url = address.url(api)
        data = json.dumps(body).encode()
        request = AWSRequest("POST", url, data=data, headers={"Content-Type": "application/json"})
        credentials = Credentials(address.access_key_id, address.secret)
        SigV4Auth(credentials, SERVICE, address.region).add_auth(request)
        try:
            answer = pool.request(
                "POST",
                url,
                body=data,
                headers=dict(request.headers.items()),
                redirect=False,
                preload_content=False,
            )
            try:
                raw = answer.read(MAX_ANSWER + 1)
            finally:
                answer.release_conn()
        except urllib3.exceptions.NewConnectionError as exc:
            raise XKSCallError(Failure.NOT_REACHABLE, f"{url}: {exc}") from None
        except urllib3.exceptions.TimeoutError:
            raise XKSCallError(
                Failure.TIMED_OUT, f"{url} did not answer within {self.timeout * 1000:.0f} ms"
            ) from None
        except urllib3.exceptions.SSLError as exc:
            raise XKSCallError(Failure.TLS, f"{url}: {exc}") from None
        except urllib3.exceptions.HTTPError as exc:  # refused, reset, a protocol error
            raise XKSCallError(Failure.NOT_REACHABLE, f"{url}: {exc}") from None
        return _answer(url, answer.status, raw)


def _answer(url: str, status: int, raw: bytes) -> dict[str, Any]:
    """The answer's JSON object; an error answer raised as PROXY_ERROR with its name."""
    try:
        parsed = json.loads(raw) if len(raw) <= MAX_ANSWER else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise XKSCallError(
            Failure.INVALID_RESPONSE, f"{url} answered {status} without a JSON object", None, status
        )
    if status == 200:
        return parsed
    name = parsed.get("errorName")
    if not isinstance(name, str):
        raise XKSCallError(
            Failure.INVALID_RESPONSE, f"{url} answered {status} without an errorName", None, status
        )
    message = parsed.get("errorMessage")
    log.info("XKS proxy %s answered %s %s: %s", url, status, name, message)
    raise XKSCallError(Failure.PROXY_ERROR, f"{url} answered {status} {name}", name, status)
