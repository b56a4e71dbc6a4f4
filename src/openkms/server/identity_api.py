"""IAM and STS on the KMS endpoint: routing, authentication and the query-protocol edge.

A request goes here instead of to KMS when it has no ``X-Amz-Target`` and either its
SigV4 credential scope names ``iam`` or ``sts``, or (unsigned) it is a form whose
``Version`` is IAM's or STS's, so that an unsigned IAM call is refused in IAM's own
XML. Each service has its own :class:`SigV4Verifier` (the scope must name it).

Path: verify SigV4 → resolve the principal (:mod:`openkms.server.authenticate`, the step
KMS and CloudTrail share) → decode and validate the form against botocore's model →
:meth:`IdentityService.dispatch` → XML. Errors are query-protocol XML; unexpected
faults are logged with the request id and answered as ``ServiceFailure`` /
``InternalFailure`` without details.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from openkms.auth.sigv4 import SigV4Verifier
from openkms.domain.principals import Principal
from openkms.errors import AWSError, KMSInternalException
from openkms.server.authenticate import Authenticator, call_context
from openkms.server.bootstrap import Runtime
from openkms.service.audit_trail import RequestTrail
from openkms.service.identity.dispatch import IdentityService
from openkms.wire.query import FORM_TYPE, VERSIONS, QueryProtocol, parse_form

log = logging.getLogger("openkms.server")

SERVICES = ("iam", "sts")
Scope = MutableMapping[str, Any]


def scope_service(authorization: str) -> str | None:
    """The service named by an ``Authorization`` header's credential scope (not verified)."""
    start = authorization.find("Credential=")
    if start < 0:
        return None
    parts = authorization[start + 11 :].split(",", 1)[0].split("/")
    return parts[3].strip() if len(parts) >= 5 else None


class IdentityAPI:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        credentials = runtime.credentials
        #: Codecs by service, each made when its first request comes: loading the IAM
        #: and STS models costs a tenth of a second that a KMS-only start need not wait for.
        self._protocols: dict[str, QueryProtocol] = {}
        regions = runtime.settings.regions
        self.verifiers = {
            name: SigV4Verifier(credentials.secret, service=name, regions=regions)
            for name in SERVICES
        }
        self.authenticator = Authenticator(runtime.settings, credentials)
        self.service = IdentityService(
            runtime.store, credentials.keyring, on_key_change=credentials.forget
        )

    def route(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """``"iam"`` or ``"sts"`` when the request is for one of them, else None (KMS)."""
        service = scope_service(headers.get("authorization", ""))
        if service is not None:
            return service if service in SERVICES else None
        if headers.get("content-type", "").startswith(FORM_TYPE):
            try:
                version = dict(parse_qsl(body.decode("utf-8"))).get("Version", "")
            except UnicodeDecodeError:
                return None
            return VERSIONS.get(version)
        return None

    def _protocol(self, service: str) -> QueryProtocol:
        protocol = self._protocols.get(service)
        if protocol is None:
            # Two threads may both make it; either result is the same codec.
            protocol = self._protocols[service] = QueryProtocol(service)
        return protocol

    def handle(
        self,
        service: str,
        scope: Scope,
        headers: Mapping[str, str],
        body: bytes,
        request_id: str,
        trail: RequestTrail | None = None,
    ) -> tuple[int, bytes]:
        """Answer one IAM or STS request; ``trail`` (when given) learns the caller, the
        action and the outcome, so that the call can be audited."""
        protocol = self._protocol(service)
        try:
            principal, region = self._authenticate(service, scope, headers, body)
            if trail is not None:
                # Known before the body is decoded, so a malformed form (not UTF-8, a
                # wrong type, an unknown action) is recorded for its caller all the same.
                trail.principal, trail.region = principal, region
            form = parse_form(body)
            if trail is not None and form.get("Action") in protocol.operations:
                trail.event_name = form["Action"]
            name, params = protocol.decode_request(form)
            if trail is not None:
                trail.event_name, trail.request = name, params
            ctx = call_context(scope, headers, request_id, principal, region)
            result = self.service.dispatch(service, ctx, name, params)
            if trail is not None:
                trail.response = result
            return 200, protocol.encode_response(name, result, request_id)
        except AWSError as err:
            if trail is not None:
                trail.error = err
            return protocol.encode_error(err, request_id)
        except Exception:
            log.exception("internal error handling %s request %s", service, request_id)
            internal = KMSInternalException(f"An internal error occurred. Request ID: {request_id}")
            if trail is not None:
                trail.error = internal  # recorded as the failure it was, not as a success
            return protocol.encode_error(internal, request_id)

    def _authenticate(
        self, service: str, scope: Scope, headers: Mapping[str, str], body: bytes
    ) -> tuple[Principal, str]:
        return self.authenticator.authenticate(self.verifiers[service], scope, headers, body)
