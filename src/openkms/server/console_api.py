"""The console's two calls that no AWS API has, signed and authorized like any other call.

``X-Amz-Target: OpenKMS.<Operation>``, AWS JSON 1.1 on ``POST /``, SigV4 with the ``kms``
credential scope (the console signs them as it signs its KMS calls); served only when the
console is (``serve --console``, or ``--dev``). Neither gives a caller more than AWS's
own APIs would:

* ``ExplainAccess`` {Principal, Action, KeyId, EncryptionContext?} →
  {Allowed, Explanation}: ``openkms authz explain`` (:mod:`openkms.service.kms.explain`)
  for one principal of the caller's own account and one key (a key id or key ARN, as
  GetKeyPolicy takes). The explanation shows the key's policy,
  the principal's identity policies and its grants on the key, so the caller must be
  allowed each of those reads: ``iam:SimulatePrincipalPolicy`` on the principal (AWS's
  action for the same question; for an assumed-role session, on its role), checked like
  any IAM call (:func:`openkms.service.identity.authorize.authorize_iam`), then
  ``GetKeyPolicy`` and ``ListGrants`` on the key, *performed* as the caller through the
  one KMS chokepoint (:meth:`openkms.service.kms.dispatch.KMSService.dispatch`), so the
  key policy and grants decide as they do for those calls, and both reads are recorded
  in the trail as the caller's.
* ``VerifyAuditTrail`` {} → {Intact, Summary, Problem?}: ``openkms audit verify`` of the
  stored trail (:func:`openkms.cli.audit.check_store`), for a caller allowed
  ``cloudtrail:LookupEvents`` (who may read the trail may know whether it is intact).
  There is one chain for the whole server, so the summary counts every account's
  records; it names no record's content. The walk reads the whole trail, so a report is
  kept for :data:`VERIFY_REUSE_SECONDS` and shared by the calls within them. In-memory
  state signs no digests: it answers Intact null with the reason.

Errors are the AWS JSON ``{"__type", "message"}`` of the failing step (an unknown
operation ``UnknownOperationException``, a bad member ``ValidationException``, a refused
read ``AccessDeniedException``, an unknown principal ``NotFoundException``); unexpected
faults are logged and answered ``KMSInternalException`` without details.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from openkms.audit.digest_chain import DigestChainError
from openkms.audit.verify import AuditIntegrityError
from openkms.auth.sigv4 import SigV4Verifier
from openkms.errors import (
    AccessDenied,
    AccessDeniedException,
    AWSError,
    KMSInternalException,
    NotFoundException,
    UnknownOperationException,
    ValidationException,
)
from openkms.server.authenticate import Authenticator, call_context
from openkms.server.bootstrap import Runtime
from openkms.service.audit_trail import Entry, RequestTrail
from openkms.service.context import RequestContext
from openkms.service.identity.authorize import authorize_iam, request_context
from openkms.service.kms.explain import explain_access, principal_from_arn
from openkms.service.kms.ops import REGISTRY
from openkms.wire import codec
from openkms.wire.validation import validate

log = logging.getLogger("openkms.server")

Scope = MutableMapping[str, Any]
TARGET_PREFIX = "OpenKMS."
#: A verification report younger than this is answered again rather than recomputed.
VERIFY_REUSE_SECONDS = 10.0
#: The actions a key policy can be asked about: every KMS operation's, and every
#: action an operation needs on a key (ReEncrypt's ReEncryptFrom/ReEncryptTo).
KMS_ACTIONS = frozenset(
    {op.action for op in REGISTRY.values()}
    | {arg.action for op in REGISTRY.values() for arg in op.keys}
)
_PRINCIPAL = re.compile(
    r"arn:aws:(?:iam::(\d{12}):(?:root|user/.+)|sts::(\d{12}):assumed-role/([^/]+)/.+)"
)
_MAX_CONTEXT_PAIRS = 64


def is_console_api(headers: Mapping[str, str]) -> bool:
    return headers.get("x-amz-target", "").startswith(TARGET_PREFIX)


class ConsoleAPI:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.verifier = SigV4Verifier(
            runtime.credentials.secret,
            service="kms",
            required_signed_headers=("host", "x-amz-target"),
            regions=runtime.settings.regions,
        )
        self.authenticator = Authenticator(runtime.settings, runtime.credentials)
        self._verified: tuple[float, dict[str, Any]] | None = None
        self._verify_lock = threading.Lock()

    def handle(
        self, scope: Scope, headers: Mapping[str, str], body: bytes, request_id: str
    ) -> tuple[int, bytes, list[Entry]]:
        """Answer one call, with the audit records still to store (the reads it made)."""
        records: list[Entry] = []
        try:
            principal, region = self.authenticator.authenticate(self.verifier, scope, headers, body)
            ctx = call_context(scope, headers, request_id, principal, region)
            operation = headers.get("x-amz-target", "")[len(TARGET_PREFIX) :]
            params = codec.decode_request(body)
            if operation == "ExplainAccess":
                result = self._explain(ctx, params, records)
            elif operation == "VerifyAuditTrail":
                self._authorize(ctx, "cloudtrail:LookupEvents", "*")
                result = self._verify()
            else:
                raise UnknownOperationException(f"Unknown operation {operation!r}.")
            return 200, codec.encode_response(result), records
        except AWSError as err:
            return err.status, codec.encode_error(err), records
        except Exception:
            log.exception("internal error handling console request %s", request_id)
            internal = KMSInternalException(f"An internal error occurred. Request ID: {request_id}")
            return internal.status, codec.encode_error(internal), records

    def _authorize(self, ctx: RequestContext, action: str, resource: str) -> None:
        with self.runtime.store.transaction() as tx:
            try:
                authorize_iam(tx, ctx.principal, action, resource, request_context(ctx))
            except AccessDenied as err:
                raise AccessDeniedException(err.message) from None

    def _explain(
        self, ctx: RequestContext, params: dict[str, Any], records: list[Entry]
    ) -> dict[str, Any]:
        arn = _string(params, "Principal", 2048)
        action = _string(params, "Action", 128)
        key_id = _string(params, "KeyId", 2048)
        context = _encryption_context(params.get("EncryptionContext"))
        if action not in KMS_ACTIONS:
            raise ValidationException(f"Action {action!r} is not a KMS action (kms:Operation).")
        found = _PRINCIPAL.fullmatch(arn)
        if found is None:
            raise ValidationException(
                f"Principal {arn!r} is not an account root, IAM user or assumed-role session ARN."
            )
        account = found.group(1) or found.group(2)
        if account != ctx.account:
            raise AccessDeniedException(
                f"{ctx.principal.arn} may explain access only for principals of its own "
                f"account ({ctx.account}), not {account}."
            )
        role = found.group(3)
        simulated = arn if role is None else f"arn:aws:iam::{account}:role/{role}"
        self._authorize(ctx, "iam:SimulatePrincipalPolicy", simulated)
        self._read_as_caller(ctx, "GetKeyPolicy", {"KeyId": key_id}, records)
        self._read_as_caller(ctx, "ListGrants", {"KeyId": key_id, "Limit": 1}, records)
        try:
            target = principal_from_arn(self.runtime.store, arn)
        except ValueError as exc:
            raise NotFoundException(str(exc)) from None
        allowed, text = explain_access(
            self.runtime.store, target, action, key_id, ctx.region, context
        )
        return {"Allowed": allowed, "Explanation": text}

    def _read_as_caller(
        self, ctx: RequestContext, name: str, body: dict[str, object], records: list[Entry]
    ) -> None:
        """Make a KMS read as the caller, through the dispatcher (so authorized as that
        call always is), its record added to ``records``; refused: its AWS error."""
        trail = RequestTrail(
            request_id=ctx.request_id,
            event_source="kms.amazonaws.com",
            event_name=name,
            region=ctx.region,
            source_ip=ctx.source_ip,
            user_agent=ctx.user_agent,
            now=ctx.now,
            principal=ctx.principal,
        )
        writer_present = self.runtime.audit is not None
        try:
            params = validate(name, body, ctx.region)
            trail.request = params
            result = self.runtime.service.dispatch(ctx, name, params, trail)
        except AWSError as err:
            if writer_present:
                records.extend(trail.entries(None, err))
            raise
        if writer_present:
            records.extend(trail.entries(result))

    def _verify(self) -> dict[str, Any]:
        settings = self.runtime.settings
        if settings.database is None and settings.data_dir is None:
            return {
                "Intact": None,
                "Summary": "In-memory state signs no digests: there is no sealed chain to "
                "verify (serve with --data-dir or --database).",
            }
        with self._verify_lock:  # one walk at a time; the others take its report
            now = time.time()
            if self._verified is not None and now - self._verified[0] < VERIFY_REUSE_SECONDS:
                return self._verified[1]
            from openkms.cli.audit import check_store

            try:
                report = check_store(self.runtime.store, now=now)
                result: dict[str, Any] = {"Intact": True, "Summary": report.summary()}
            except (AuditIntegrityError, DigestChainError) as exc:
                result = {
                    "Intact": False,
                    "Summary": "audit trail verification failed",
                    "Problem": str(exc),
                }
            result["VerifiedAt"] = now
            self._verified = (now, result)
            return result


def _string(params: Mapping[str, Any], name: str, limit: int) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise ValidationException(
            f"1 validation error detected: Value at '{name[0].lower() + name[1:]}' failed to "
            f"satisfy constraint: Member must be a string of length 1 to {limit}"
        )
    return value


def _encryption_context(raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    if (
        not isinstance(raw, dict)
        or len(raw) > _MAX_CONTEXT_PAIRS
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items())
    ):
        raise ValidationException(
            "1 validation error detected: Value at 'encryptionContext' failed to satisfy "
            f"constraint: Member must be a map of at most {_MAX_CONTEXT_PAIRS} string pairs"
        )
    return dict(raw)
