"""Who is calling: the one authentication step of every API (KMS, IAM, STS, CloudTrail).

Each API has its own :class:`SigV4Verifier` (the credential scope must name its service,
and KMS and CloudTrail require ``X-Amz-Target`` to be signed); everything after the
signature is common and lives here, so that the same credentials mean the same caller
in the same region whichever API they reach:

* Production: verify the signature, then resolve the access key (a long-term key or an
  STS session with its token; expiry, status and the session's role checked) with
  :meth:`CredentialStore.principal_for`, which raises the AWS error refusing it. The
  region is the credential scope's.
* Dev mode (``openkms serve --dev``): no signature check. A known access key still means
  its owner, with the same checks (so users, roles and session policies can be tried
  out); anything else (an unknown key, no or a malformed Authorization header) is the
  default account's root user. The region is the credential scope's, or the server's
  default region when there is no scope; a scope naming a malformed or unserved region
  is refused as in production.

:meth:`Authenticator.claimed` answers, for a request that failed authentication, whose
key it names, so that the failure lands in that account's trail.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from openkms.auth.sigv4 import SigV4Verifier
from openkms.domain.principals import Principal
from openkms.errors import AWSError, InvalidSignatureException, UnrecognizedClientException
from openkms.server.bootstrap import Settings
from openkms.server.credentials import CredentialStore
from openkms.service.context import RequestContext

Scope = MutableMapping[str, Any]


class Authenticator:
    def __init__(self, settings: Settings, credentials: CredentialStore) -> None:
        self.settings = settings
        self.credentials = credentials

    def authenticate(
        self,
        verifier: SigV4Verifier,
        scope: Scope,
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[Principal, str]:
        """The caller and the region of a request, or the AWS error refusing it."""
        if self.settings.dev:
            return self._dev(verifier, headers)
        query = scope.get("query_string", b"").decode("latin-1")
        raw_path = scope.get("raw_path") or scope["path"].encode()
        identity = verifier.verify(
            scope["method"], raw_path.decode("latin-1"), query, headers, body
        )
        principal = self.credentials.principal_for(identity.access_key_id, identity.session_token)
        return principal, identity.region

    def _dev(self, verifier: SigV4Verifier, headers: Mapping[str, str]) -> tuple[Principal, str]:
        account = self.settings.account_id
        try:
            parsed = verifier.parse(headers)
        except InvalidSignatureException:
            raise  # a scope naming a region that is not served: refused in dev mode too
        except AWSError:
            return Principal.root(account, "dev"), self.settings.region
        token = headers.get("x-amz-security-token")
        try:
            return self.credentials.principal_for(parsed.access_key_id, token), parsed.region
        except UnrecognizedClientException:
            return Principal.root(account, parsed.access_key_id), parsed.region

    def claimed(self, verifier: SigV4Verifier, headers: Mapping[str, str]) -> Principal | None:
        """Whose access key a request that failed authentication names (None: unknown
        key or no readable Authorization header)."""
        try:
            parsed = verifier.parse(headers)
        except AWSError:
            return None
        return self.credentials.principal(parsed.access_key_id)


def call_context(
    scope: Scope,
    headers: Mapping[str, str],
    request_id: str,
    principal: Principal,
    region: str,
) -> RequestContext:
    """What the services see of an authenticated request, built the same way for every
    API (so that the same request gets the same ``aws:*`` condition keys everywhere)."""
    client = scope.get("client") or ("", 0)
    return RequestContext(
        request_id=request_id,
        principal=principal,
        region=region,
        now=time.time(),
        source_ip=client[0] or "",
        user_agent=headers.get("user-agent", ""),
        secure_transport=scope.get("scheme") == "https",
    )
