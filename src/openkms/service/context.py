"""Who is calling, from where, and when: the context every operation runs in."""

from __future__ import annotations

from dataclasses import dataclass

from openkms.domain.principals import Principal


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    principal: Principal
    region: str
    now: float
    source_ip: str = ""
    user_agent: str = ""
    #: The request came over TLS (aws:SecureTransport): the ASGI scope's scheme is https.
    secure_transport: bool = False

    @property
    def account(self) -> str:
        return self.principal.account
