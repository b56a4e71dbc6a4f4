"""The ASGI application: one request in, one AWS JSON 1.1 answer out.

Request path (one direction): read body → authenticate (SigV4) → find the operation
(``X-Amz-Target``) → decode and validate against botocore's model → dispatch → encode.
IAM and STS requests (no ``X-Amz-Target``; credential scope ``iam``/``sts``) go to
:mod:`openkms.server.identity_api` instead and are answered in XML (query protocol).
Every response carries ``x-amzn-RequestId``. Unexpected faults are logged with the
request id and answered as ``KMSInternalException``; their details never reach the
caller. A request whose header section exceeds :data:`MAX_HEADER_BYTES` (so any single
header too) is refused before anything else, as AWS front ends do (400
``RequestHeaderSectionTooLarge``, S3's documented error), and leaves no audit record.

Requests are answered on worker threads, never on the event loop, and the health check
on the loop itself (readiness, ``/_openkms/ready``: openkms.server.readiness, from a
one-second cache or a thread). Operations the registry marks ``slow`` (RSA key generation: an
RSA-4096 CreateKey spends 0.1-2 s finding primes, with the GIL released) have threads of
their own (``bootstrap.SLOW_REQUEST_THREADS``), so a burst of them holds up nobody else; the
others share ``--request-threads`` threads (default 2: more threads contend for the GIL
and cost throughput, measured with bench/compare_trees.py). In-memory dev state has one
database connection, which two threads must not share: there one thread answers every
request, and maintenance runs on it too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openkms.audit.bounds import UNKNOWN_OPERATION
from openkms.auth.sigv4 import SigV4Verifier
from openkms.crypto.randomness import random_bytes
from openkms.domain.identifiers import uuid_text
from openkms.domain.principals import Principal
from openkms.errors import (
    AWSError,
    KMSInternalException,
    RequestHeaderSectionTooLarge,
    SerializationException,
    UnknownOperationException,
)
from openkms.server.audit_process import ProcessAuditWriter
from openkms.server.authenticate import Authenticator, call_context
from openkms.server.bootstrap import SLOW_REQUEST_THREADS, Runtime
from openkms.server.cloudtrail_api import CloudTrailAPI, is_cloudtrail
from openkms.server.console_api import ConsoleAPI, is_console_api
from openkms.server.console_files import ConsoleFiles, is_console_path
from openkms.server.identity_api import IdentityAPI
from openkms.server.instruments import Instruments
from openkms.server.logs import REQUEST_ID
from openkms.server.maintenance_loop import MaintenanceLoop
from openkms.server.readiness import READY_PATH, Readiness
from openkms.server.seed import Seeder
from openkms.service.audit_trail import Entry, RequestTrail
from openkms.service.kms.ops import REGISTRY
from openkms.storage.identity.wipe import wipe_identity_state
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import Offload
from openkms.wire import codec
from openkms.wire.model import operation_names
from openkms.wire.validation import validate

log = logging.getLogger("openkms.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TARGET_PREFIX = "TrentService."
MAX_BODY_BYTES = 1 << 20
#: The whole header section (names, values, separators): twice S3's 8 KiB, and the
#: default limit of Node.js and of many proxies; SDK requests use under 2 KiB.
MAX_HEADER_BYTES = 16 * 1024
HEALTH_PATH = "/_openkms/health"
_JSON_HEADERS = [(b"content-type", codec.CONTENT_TYPE)]
_XML_HEADERS = [(b"content-type", b"text/xml")]


class OpenKMSApp:
    def __init__(self, runtime: Runtime, seeder: Seeder | None = None) -> None:
        self.runtime = runtime
        self.dev = runtime.settings.dev
        self.operations = operation_names()
        self.verifier = SigV4Verifier(
            runtime.credentials.secret,
            service="kms",
            required_signed_headers=("host", "x-amz-target"),
            regions=runtime.settings.regions,
        )
        #: The one authentication step, shared with the IAM/STS and CloudTrail paths.
        self.authenticator = Authenticator(runtime.settings, runtime.credentials)
        self.identity = IdentityAPI(runtime)  # IAM and STS (query protocol)
        self.cloudtrail = CloudTrailAPI(runtime)  # LookupEvents (AWS JSON 1.1)
        self.console_files = ConsoleFiles(runtime.settings.console)  # the web console
        self.console = ConsoleAPI(runtime) if runtime.settings.console else None
        settings = runtime.settings
        in_memory = settings.database is None and settings.data_dir is None
        self.executor = ThreadPoolExecutor(
            max_workers=1 if in_memory else settings.request_threads,
            thread_name_prefix="openkms-request",
        )
        self.slow_executor = self.executor
        if not in_memory:
            self.slow_executor = ThreadPoolExecutor(
                max_workers=SLOW_REQUEST_THREADS, thread_name_prefix="openkms-slow-request"
            )
        self._slow_targets = frozenset(
            (TARGET_PREFIX + name).encode() for name, op in REGISTRY.items() if op.slow
        )
        #: Operations tried on the event loop first (see ``answer_inline``).
        self._inline_targets = frozenset(
            (TARGET_PREFIX + name).encode() for name, op in REGISTRY.items() if op.inline
        )
        self._in_memory = in_memory
        #: Applied again after each reset (openkms.server.seed): the one ``serve`` applied at
        #: start, or (a worker process) the same file, checked at start, read again.
        self.seeder = seeder or Seeder.load(settings)
        #: ``/_openkms/ready`` (openkms.server.readiness); in-memory state's one
        #: connection belongs to the request thread.
        self.readiness = Readiness(
            runtime,
            (lambda check: asyncio.get_running_loop().run_in_executor(self.executor, check))
            if in_memory
            else asyncio.to_thread,
        )
        self.maintenance: MaintenanceLoop | None = None
        if runtime.maintenance is not None:
            self.maintenance = MaintenanceLoop(
                runtime.maintenance,
                settings.maintenance_interval,
                runtime.service.materials,
                executor=self.executor if in_memory else None,
                run_at_start=not in_memory,
            )
            runtime.service.wake_maintenance = self.maintenance.wake
        #: Request quotas and metrics (openkms.server.instruments).
        self.instruments = Instruments(self, in_memory=in_memory)
        self.metrics = self.instruments.recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self._startup, self._shutdown)
            return
        if scope["type"] != "http":
            return
        if header_section_size(scope["headers"]) > MAX_HEADER_BYTES:
            await _refuse_headers(send)
            return
        started = time.perf_counter()
        body, too_large = await read_body(receive)
        request_id = new_request_id()
        target = None
        if too_large:
            status, out = (
                413,
                codec.encode_error(
                    SerializationException("Request body exceeds the maximum size of 1 MiB.")
                ),
            )
        elif scope["path"] == HEALTH_PATH:
            status, out = self._admin(scope["method"], scope["path"])  # no I/O: on the loop
        elif scope["path"] == READY_PATH and scope["method"] in ("GET", "HEAD"):
            status, out = await self.readiness.answer()  # cached; its checks off the loop
        elif is_console_path(scope["path"]):
            await self.console_files.send(scope, send)  # static, from memory
            return
        else:
            executor, inline, target = self._executor_for(scope)
            answer = self.answer_inline(scope, body, request_id) if inline else None
            if answer is None:
                answer = await asyncio.get_running_loop().run_in_executor(
                    executor, self.handle, scope, body, request_id
                )
            status, out, records = answer
            audited = None
            if records:
                metrics = self.metrics
                if metrics is not None:
                    metrics.audit_waiting += 1
                audited = time.perf_counter()
                try:
                    await self._stored(records)
                except Exception:
                    internal = KMSInternalException(
                        f"An internal error occurred. Request ID: {request_id}"
                    )
                    status, out = internal.status, codec.encode_error(internal)
                if metrics is not None:
                    metrics.audit_waiting -= 1
            if self.metrics is not None:
                now = time.perf_counter()
                waited = None if audited is None else now - audited
                self.metrics.request(target, status, out, now - started, waited)
        headers = [
            *(_XML_HEADERS if out[:1] == b"<" else _JSON_HEADERS),
            (b"x-amzn-requestid", request_id.encode()),
            (b"content-length", str(len(out)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": out})

    def _executor_for(self, scope: Scope) -> tuple[ThreadPoolExecutor, bool, bytes | None]:
        """The threads that answer this request, whether to try the loop first, and the
        request's X-Amz-Target."""
        for name, value in scope["headers"]:
            if name == b"x-amz-target":
                if value in self._slow_targets:
                    return self.slow_executor, False, value
                inline = value in self._inline_targets and not self._in_memory
                return self.executor, inline, value
        return self.executor, False, None

    def answer_inline(
        self, scope: Scope, body: bytes, request_id: str
    ) -> tuple[int, bytes, list[Entry]] | None:
        """Answer a cheap read-only request on the event loop, from memory (None: it needs
        the database or slow work, and is to be answered from the start on a thread).

        A hop to a worker thread costs tens of microseconds, more than an Encrypt; the
        loop answers what the read cache holds and the cryptography is quick for
        (symmetric, HMAC and P-256 keys), and never waits for the database: any unit of
        work that would open a cursor raises :class:`Offload` instead, before the request
        has had any effect (these operations change no state, and their audit record is
        queued only once they are answered)."""
        store = self.runtime.store
        try:
            with store.in_memory_only():
                return self.handle(scope, body, request_id)
        except Offload:
            return None

    def _startup(self) -> None:
        if self.runtime.audit is not None:
            self.runtime.audit.start()  # a writer process that cannot start stops the server
        if not self._in_memory:
            # Learn of changes other processes make (workers, nodes): see read_cache.
            self.runtime.store.watch_generation()
        if self.maintenance is not None:
            self.maintenance.start()
        self.instruments.start()

    async def _shutdown(self) -> None:
        """Finish a maintenance run in progress, flush and seal the audit trail, then close
        connections so SQLite checkpoints its WAL. Done here rather than after uvicorn.run()
        returns, because uvicorn re-raises SIGTERM."""
        if self.maintenance is not None:
            await self.maintenance.stop()
        self.executor.shutdown(wait=True)
        self.slow_executor.shutdown(wait=True)
        self.instruments.stop()
        audit = self.runtime.audit
        if isinstance(audit, ProcessAuditWriter):
            await audit.aclose()
        elif audit is not None:
            audit.close()
        self.runtime.store.close()

    def handle(self, scope: Scope, body: bytes, request_id: str) -> tuple[int, bytes, list[Entry]]:
        """Answer one request; with the audit records that must be durable before the
        answer is sent (none when they were committed with the change they record)."""
        REQUEST_ID.set(request_id)  # for the log records of this request (server.logs)
        headers = request_headers(scope["headers"])
        path = scope["path"]
        trail: RequestTrail | None = None
        try:
            if path.startswith("/_openkms/"):
                return (*self._admin(scope["method"], path), [])
            if scope["method"] != "POST" or path != "/":
                raise UnknownOperationException("Only POST / is served by the KMS API.")
            if is_cloudtrail(headers):
                return (*self.cloudtrail.handle(scope, headers, body, request_id), [])
            if self.console is not None and is_console_api(headers):
                return self.console.handle(scope, headers, body, request_id)
            if "x-amz-target" not in headers:
                service = self.identity.route(headers, body)
                if service is not None:
                    trail = self._trail(scope, headers, request_id, f"{service}.amazonaws.com")
                    status, out = self.identity.handle(
                        service, scope, headers, body, request_id, trail
                    )
                    return status, out, self._records(trail, trail.response, trail.error)
            trail = self._trail(scope, headers, request_id)
            result = self._kms(scope, headers, body, trail)
            return 200, codec.encode_response(result), self._records(trail, result, None)
        except AWSError as err:
            return err.status, codec.encode_error(err), self._records(trail, None, err)
        except Exception:
            log.exception("internal error handling request %s", request_id)
            internal = KMSInternalException(f"An internal error occurred. Request ID: {request_id}")
            records = self._records(trail, None, internal)
            return internal.status, codec.encode_error(internal), records

    def _trail(
        self,
        scope: Scope,
        headers: dict[str, str],
        request_id: str,
        event_source: str = "kms.amazonaws.com",
    ) -> RequestTrail:
        target = headers.get("x-amz-target", "")
        name = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        client = scope.get("client") or ("", 0)
        return RequestTrail(
            request_id=request_id,
            event_source=event_source,
            # Only a name the service has; the record builder bounds the other fields.
            event_name=name if name in self.operations else UNKNOWN_OPERATION,
            region=self.runtime.settings.region,
            source_ip=client[0] or "",
            user_agent=headers.get("user-agent", ""),
            now=time.time(),
        )

    def _records(
        self,
        trail: RequestTrail | None,
        result: Mapping[str, Any] | None,
        error: AWSError | None,
    ) -> list[Entry]:
        """The call's records still to store (none if they were committed with its change)."""
        writer = self.runtime.audit
        if writer is None or trail is None or trail.appended or trail.principal is None:
            return []
        if result is not None and "KeyMaterialId" in result:
            trail.additional["keyMaterialId"] = result["KeyMaterialId"]
        return trail.entries(result, error)

    def _stored(self, records: list[Entry]) -> Awaitable[None]:
        """Hand records to the audit writer (on the event loop); done once durable."""
        writer = self.runtime.audit
        assert writer is not None
        if isinstance(writer, ProcessAuditWriter):
            return writer.submit_async(records)
        if self._in_memory:  # the one connection is the request thread's
            return asyncio.get_running_loop().run_in_executor(
                self.executor, lambda: writer.submit(records).result()
            )
        return asyncio.wrap_future(writer.submit(records))

    def _kms(
        self, scope: Scope, headers: dict[str, str], body: bytes, trail: RequestTrail
    ) -> Mapping[str, Any]:
        request_id = trail.request_id
        try:
            principal, region = self._authenticate(scope, headers, body)
        except AWSError:
            trail.principal = self._claimed_principal(headers)
            raise
        trail.principal, trail.region = principal, region
        target = headers.get("x-amz-target", "")
        name = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        if name not in self.operations:
            raise UnknownOperationException(f"Unknown operation {target!r}.")
        # The trail knows the caller (above) and the body before either can be refused,
        # so a malformed request is recorded like any other failure: the body as sent
        # when it fails validation (rendered safely by audit.records), the members the
        # handler gets (model members, nulls dropped) when it passes.
        body_params = codec.decode_request(body)
        trail.request = body_params
        params = validate(name, body_params, region)
        trail.request = params
        ctx = call_context(scope, headers, request_id, principal, region)
        return self.runtime.service.dispatch(ctx, name, params, trail)

    def _claimed_principal(self, headers: dict[str, str]) -> Principal | None:
        """Whose access key a request that failed authentication names, so that the
        failure is recorded in that account's trail (None: unknown key, nobody's trail)."""
        return self.authenticator.claimed(self.verifier, headers)

    def _authenticate(
        self, scope: Scope, headers: dict[str, str], body: bytes
    ) -> tuple[Principal, str]:
        return self.authenticator.authenticate(self.verifier, scope, headers, body)

    def _admin(self, method: str, path: str) -> tuple[int, bytes]:
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return 200, b'{"status":"ok"}'
        if path == "/_openkms/reset" and method == "POST" and self.dev:
            with self.runtime.store.transaction(write=True) as tx:
                key_records.wipe_kms_state(tx)
                wipe_identity_state(tx)
            self.runtime.service.materials.clear()
            if self.seeder is not None:
                self.seeder.apply(self.runtime)
            return 200, b'{"reset":true}'
        return 404, b'{"__type":"NotFound","message":"Not found"}'


def request_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """A request's headers by name (ASGI servers send names lower-cased); the values of a
    repeated header joined with ``,`` in the order sent."""
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}
    if len(headers) < len(raw):  # a repeated header
        headers = {}
        for raw_name, raw_value in raw:
            name = raw_name.decode("latin-1")
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def new_request_id() -> str:
    """A random (version 4) UUID string, made without the uuid module's overhead."""
    raw = bytearray(random_bytes(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return uuid_text(bytes(raw))


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> tuple[bytes, bool]:
    """The request body, and whether it was over ``limit`` bytes (then not kept: the
    rest is read and dropped, so the answer can still be sent)."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks), size > limit


def header_section_size(headers: list[tuple[bytes, bytes]]) -> int:
    """Bytes of a request's header section as sent (``name: value`` and CRLF each)."""
    return sum(len(name) + len(value) + 4 for name, value in headers)


async def _refuse_headers(send: Send) -> None:
    error = RequestHeaderSectionTooLarge(
        "Your request header section exceeds the maximum allowed size."
    )
    out = codec.encode_error(error)
    headers = [
        *_JSON_HEADERS,
        (b"x-amzn-requestid", new_request_id().encode()),
        (b"content-length", str(len(out)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": out})


async def _lifespan(
    receive: Receive,
    send: Send,
    startup: Callable[[], None],
    shutdown: Callable[[], Awaitable[None]],
) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            # Before answering: once told "complete", uvicorn ends the process.
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
