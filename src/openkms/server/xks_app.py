"""The XKS proxy's ASGI application (``openkms xks-proxy``).

Routes (specification §API operations; ``{base}`` is ``[/<prefix>]/kms/xks/v1``):

* ``POST {base}/keys/<externalKeyId>/metadata|encrypt|decrypt`` and ``POST {base}/health``;
  another method on those URIs is ``405 Method Not Allowed`` (the specification's MUST),
  any other path ``404 InvalidUriPathException``;
* ``GET /ping``: a load balancer's health check (§Load balancer health checks), no
  authentication, no I/O.

Request path: route → body (at most :data:`MAX_BODY_BYTES`, else 501
UnsupportedOperationException) → SigV4 (service ``kms-xks-proxy``, ±5 minutes; any
failure is 401 AuthenticationFailedException) → ``requestMetadata`` and the body
(:mod:`openkms.wire.xks`) → :class:`~openkms.service.xks_proxy.XKSProxyService`. More
than ``max_in_flight`` requests at once are 429 ThrottlingException. A database that
cannot be reached is 503 DependencyTimeoutException; anything unexpected is logged and
answered 500 InternalException without details.

Every call that authenticated, or that named a credential the proxy knows, leaves an
audit record (:mod:`openkms.audit.xks_records`) that is durable before the answer is
sent, as KMS calls' are; a record that cannot be stored fails the call with
InternalException (no unaudited operation). As in the KMS app, a request whose reads are
all in the read cache is answered on the event loop, anything else on a request thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openkms.audit.event_ids import new_event_id
from openkms.audit.records import AuditedCall
from openkms.audit.xks_records import EVENT_SOURCE, INVOKED_BY, xks_record
from openkms.auth.sigv4 import SigV4Verifier
from openkms.crypto.keyring import KeyringUnavailableError
from openkms.domain import xks
from openkms.domain.principals import Principal
from openkms.errors import AWSError
from openkms.errors.xks import (
    XKSAuthenticationFailedException,
    XKSDependencyTimeoutException,
    XKSError,
    XKSInternalException,
    XKSInvalidUriPathException,
    XKSThrottlingException,
    XKSUnsupportedOperationException,
    XKSValidationException,
)
from openkms.server.app import Receive, Scope, Send, new_request_id, read_body
from openkms.server.audit_process import ProcessAuditWriter
from openkms.server.xks_runtime import XKSRuntime
from openkms.service.audit_trail import Entry
from openkms.storage.repository import DatabaseUnavailable, Offload, StorageError
from openkms.wire import xks as wire

log = logging.getLogger("openkms.xks")

SERVICE = "kms-xks-proxy"
#: Far above what the largest request the proxy takes needs (~40 KiB of JSON).
MAX_BODY_BYTES = 256 * 1024
PING_PATH = "/ping"
#: The operations of the key URIs and their audit event names.
_KEY_OPERATIONS = {"metadata": "GetKeyMetadata", "encrypt": "Encrypt", "decrypt": "Decrypt"}
_JSON = [(b"content-type", wire.CONTENT_TYPE)]
_TEXT = [(b"content-type", b"text/plain")]


class Route:
    """A request's API: ``api`` is ``health``, ``metadata``, ``encrypt`` or ``decrypt``."""

    __slots__ = ("api", "event_name", "key_id")

    def __init__(self, api: str, key_id: str | None) -> None:
        self.api = api
        self.key_id = key_id
        self.event_name = _KEY_OPERATIONS.get(api, "GetHealthStatus")


def router(uri_path: str) -> Any:
    """A function from a request path to its :class:`Route` (None: not an API URI)."""
    base = uri_path + "/"

    def route(path: str) -> Route | None:
        if not path.startswith(base):
            return None
        rest = path[len(base) :]
        if rest == "health":
            return Route("health", None)
        parts = rest.split("/")
        if len(parts) == 3 and parts[0] == "keys" and parts[2] in _KEY_OPERATIONS and parts[1]:
            return Route(parts[2], parts[1])
        return None

    return route


class XKSProxyApp:
    def __init__(self, runtime: XKSRuntime, uri_path: str, *, max_in_flight: int = 256) -> None:
        self.runtime = runtime
        self.route = router(uri_path)
        self.account = runtime.settings.account_id
        self.verifier = SigV4Verifier(
            runtime.credentials.secret,
            service=SERVICE,
            required_signed_headers=("host", "x-amz-date"),
        )
        self.executor = ThreadPoolExecutor(
            max_workers=runtime.settings.request_threads, thread_name_prefix="openkms-xks"
        )
        self.max_in_flight = max_in_flight
        self._in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1")
        route = self.route(path)
        body, too_large = await read_body(receive, MAX_BODY_BYTES)
        extra: list[tuple[bytes, bytes]] = []
        records: list[Entry] = []
        if route is None:
            if path == PING_PATH and scope["method"] in ("GET", "HEAD"):
                pong = b"" if scope["method"] == "HEAD" else b"pong from OpenKMS xks-proxy"
                await _send(send, 200, pong, _TEXT)
                return
            status, out = _error(XKSInvalidUriPathException(f"No XKS proxy API at {path}."))
        elif scope["method"] != "POST":
            extra = [(b"allow", b"POST")]
            status, out = (
                405,
                wire.encode_error(
                    XKSValidationException(f"{scope['method']} is not allowed: use POST.")
                ),
            )
        elif too_large:
            status, out = _error(
                XKSUnsupportedOperationException(
                    f"The request body exceeds the {MAX_BODY_BYTES} bytes this proxy takes."
                )
            )
        elif self._in_flight >= self.max_in_flight:
            status, out = _error(XKSThrottlingException("Too many requests at once; retry."))
        else:
            self._in_flight += 1
            try:
                status, out, records = await self._answer(scope, route, raw_path, body)
            finally:
                self._in_flight -= 1
        await _send(send, status, out, [*_JSON, *extra])

    async def _answer(
        self, scope: Scope, route: Route, raw_path: bytes, body: bytes
    ) -> tuple[int, bytes, list[Entry]]:
        request_id = new_request_id()
        store = self.runtime.store
        answer = None
        try:
            with store.in_memory_only():
                answer = self.handle(scope, route, raw_path, body, request_id)
        except Offload:
            answer = await asyncio.get_running_loop().run_in_executor(
                self.executor, self.handle, scope, route, raw_path, body, request_id
            )
        status, out, records = answer
        if records:
            try:
                await self._stored(records)
            except Exception:
                log.exception("audit records of XKS request %s were not stored", request_id)
                status, out = _error(XKSInternalException("The call could not be audited."))
        return status, out, records

    def handle(
        self, scope: Scope, route: Route, raw_path: bytes, body: bytes, request_id: str
    ) -> tuple[int, bytes, list[Entry]]:
        """Answer one API request; with its audit records (none for a caller that
        named no known credential)."""
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        began = time.time()
        access_key_id: str | None = None
        region = ""
        request: dict[str, Any] = {}
        if route.key_id is not None:
            request["externalKeyId"] = route.key_id
        response: dict[str, Any] | None = None
        error: XKSError | None = None
        try:
            try:
                identity = self.verifier.verify(
                    "POST", raw_path.decode("latin-1"), "", headers, body
                )
            except AWSError as exc:
                access_key_id, region = self._known(headers)
                raise XKSAuthenticationFailedException(exc.message) from None
            access_key_id, region = identity.access_key_id, identity.region
            decoded = wire.decode_body(body)
            metadata = _metadata(wire.request_metadata(route.api, decoded))
            request["requestMetadata"] = metadata.as_record()
            status, out, response = self._dispatch(route, decoded, metadata, request)
        except Exception as exc:
            error = _as_xks_error(exc, request_id)
            status, out = _error(error)
        if access_key_id is None:
            return status, out, []
        record = xks_record(
            event_id=new_event_id(),
            event_time=began,
            event_name=route.event_name,
            account=self.account,
            region=region,
            access_key_id=access_key_id,
            source_ip=(scope.get("client") or ("", 0))[0] or "",
            user_agent=headers.get("user-agent", ""),
            request_id=request_id,
            request=request,
            response=response,
            error_code=None if error is None else error.error_name,
            error_message=None if error is None else error.wire_message,
        )
        return status, out, [self._entry(record, access_key_id, began, request_id, route)]

    def _dispatch(
        self,
        route: Route,
        body: Mapping[str, Any],
        metadata: xks.RequestMetadata,
        request: dict[str, Any],
    ) -> tuple[int, bytes, dict[str, Any] | None]:
        service = self.runtime.service
        if route.api == "health":
            found = service.health()
            return 200, wire.encode(found), found
        key_id = route.key_id or ""
        if not xks.is_key_id(key_id):
            raise XKSValidationException(
                "externalKeyId must be 1-128 characters from A-Z, a-z, 0-9, '.', '_' and '-'."
            )
        if route.api == "metadata":
            found = service.key_metadata(key_id, metadata)
            return 200, wire.encode(found), found
        request["encryptionAlgorithm"] = wire.ALGORITHM
        if route.api == "encrypt":
            given = wire.encrypt_input(body)
            if given.cdiv:
                request["ciphertextDataIntegrityValueAlgorithm"] = wire.CDIV_ALGORITHM
            ciphertext, ctm, iv, tag, cdiv = service.encrypt(
                key_id, metadata, given.plaintext, given.aad, integrity=given.cdiv
            )
            return 200, wire.encrypt_output(ciphertext, ctm, iv, tag, cdiv), None
        opened = wire.decrypt_input(body)
        plaintext = service.decrypt(
            key_id,
            metadata,
            ciphertext=opened.ciphertext,
            ciphertext_metadata=opened.ciphertext_metadata,
            aad=opened.aad,
            iv=opened.iv,
            tag=opened.tag,
        )
        return 200, wire.decrypt_output(plaintext), None

    def _known(self, headers: Mapping[str, str]) -> tuple[str | None, str]:
        """The access key id (and scope region) a request that failed authentication
        names, if the proxy knows the key: its failure is recorded (an unknown key's
        is not, so that anyone's noise does not fill the trail)."""
        try:
            parsed = self.verifier.parse(headers)
        except AWSError:
            return None, ""
        if self.runtime.credentials.secret(parsed.access_key_id) is None:
            return None, ""
        return parsed.access_key_id, parsed.region

    def _entry(
        self,
        record: dict[str, Any],
        access_key_id: str,
        began: float,
        request_id: str,
        route: Route,
    ) -> Entry:
        call = AuditedCall(
            request_id=request_id,
            event_id=record["eventID"],
            event_time=began,
            event_source=EVENT_SOURCE,
            event_name=route.event_name,
            region=record["awsRegion"],
            source_ip=record["sourceIPAddress"],
            user_agent=record["userAgent"],
            # The call's carrier only: the record above is given ready-made.
            principal=Principal(self.account, INVOKED_BY, access_key_id),
            request={},
            response=None,
        )
        return Entry(record, call, self.account)

    def _stored(self, records: list[Entry]) -> Awaitable[None]:
        writer = self.runtime.audit
        if isinstance(writer, ProcessAuditWriter):
            return writer.submit_async(records)
        return asyncio.wrap_future(writer.submit(records))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.runtime.audit.start()
                self.runtime.store.watch_generation()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.executor.shutdown(wait=True)
                audit = self.runtime.audit
                if isinstance(audit, ProcessAuditWriter):
                    await audit.aclose()
                else:
                    audit.close()
                self.runtime.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _metadata(found: dict[str, str]) -> xks.RequestMetadata:
    return xks.RequestMetadata(
        kms_operation=found["kmsOperation"],
        kms_request_id=found["kmsRequestId"],
        aws_principal_arn=found.get("awsPrincipalArn"),
        kms_key_arn=found.get("kmsKeyArn"),
        kms_via_service=found.get("kmsViaService"),
        aws_source_vpc=found.get("awsSourceVpc"),
        aws_source_vpce=found.get("awsSourceVpce"),
    )


def _as_xks_error(exc: Exception, request_id: str) -> XKSError:
    """The one boundary where failures become the specification's errors: a database
    that cannot be reached is DependencyTimeoutException, other storage or root-of-trust
    faults and our own bugs InternalException (logged, no details to the caller)."""
    if isinstance(exc, XKSError):
        return exc
    if isinstance(exc, DatabaseUnavailable):
        return XKSDependencyTimeoutException(f"The key store is not reachable: {exc}")
    if isinstance(exc, StorageError | KeyringUnavailableError):
        log.error("XKS request %s failed: %s", request_id, exc)
        return XKSInternalException("The key store failed to answer.")
    log.error("internal error handling XKS request %s", request_id, exc_info=exc)
    return XKSInternalException(f"An internal error occurred. Request ID: {request_id}")


def _error(error: XKSError) -> tuple[int, bytes]:
    return error.status, wire.encode_error(error)


async def _send(send: Send, status: int, out: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(out)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": out})
