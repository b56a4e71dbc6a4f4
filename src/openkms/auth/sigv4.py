"""Server-side verification of AWS Signature Version 4 (``Authorization`` header form).

Algorithm (canonical request, string to sign, signing key):
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
Dates and credential scope: https://docs.aws.amazon.com/IAM/latest/UserGuide/signing-elements.html
Error texts: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-troubleshooting.html

The canonical request is rebuilt the way botocore's (non-S3) ``SigV4Auth`` builds it; checks run
in the order AWS JSON-protocol services apply them, with their error names and messages. Also:

* the payload hash is always the SHA-256 of the body received; ``X-Amz-Content-SHA256`` is only
  compared with it, so ``UNSIGNED-PAYLOAD`` is never accepted;
* presigned (query-string) authentication is not supported: it counts as missing;
* the credential scope's region must be a well-formed AWS region name
  (:func:`is_region_name`) and, when the operator lists the regions served, one of them.
  Anything else is AWS's ``InvalidSignatureException`` "Credential should be scoped to a
  valid region, not '<region>'." — from :meth:`SigV4Verifier.parse` too, which dev mode
  uses without a signature check, so that no request ever carries a region such as
  ``us-east-1:444455556666`` or ``..`` into key ARNs, audit records or file names.

``path`` is the raw request path as sent (still percent-encoded, e.g. ASGI ``raw_path``),
``query`` the raw query string without ``?``, ``headers`` maps lower-case names to values
(repeated headers joined with ``,``).
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import hmac
import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from email.utils import parsedate_tz
from typing import Any, NamedTuple, Protocol
from urllib.parse import quote, unquote_plus

from openkms.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

__all__ = [
    "ParsedAuthorization",
    "SecretLookup",
    "SigV4Identity",
    "SigV4Verifier",
    "is_region_name",
]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
MSG_MISSING_TOKEN = "Missing Authentication Token"
MSG_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your"
    " AWS Secret Access Key and signing method. Consult the service documentation for details."
)
MSG_BAD_CLIENT = "The security token included in the request is invalid."
MSG_BAD_CONTENT_SHA = "The provided 'x-amz-content-sha256' header does not match what was computed."
_BAD_DATE = (
    "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601"
)
_FAST = ALGORITHM + " Credential="
_CACHE_SIZE = 256
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_SAFE = "-_.~"  # RFC 3986 unreserved characters besides letters and digits
#: Region names of every AWS partition, as the ``regionRegex`` of botocore's
#: ``partitions.json`` describes them (``\w+`` narrowed to lower-case letters, numbers
#: bounded): aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-f, aws-iso-e, aws-eusc.
_REGION_NAME = re.compile(
    r"(?:(?:us|eu|ap|sa|ca|me|af|il|mx|cn)-[a-z]{1,16}"
    r"|us-gov-[a-z]{1,16}|us-iso[bf]?-[a-z]{1,16}|eu-isoe-[a-z]{1,16}|eusc-de-[a-z]{1,16})"
    r"-[0-9]{1,2}"
)
_Pads = tuple["hashlib._Hash", "hashlib._Hash"]
_Parsed = tuple[str, str, str, str, str, str, str, str, int]


@dataclass(frozen=True, slots=True)
class SigV4Identity:
    """Who signed a request that passed verification."""

    access_key_id: str
    region: str  # from the credential scope
    service: str
    session_token: str | None  # X-Amz-Security-Token (always a signed header)


class SecretLookup(Protocol):
    def __call__(self, access_key_id: str) -> str | None:
        """The secret access key of ``access_key_id``, or ``None`` if the key is unknown."""
        ...


class ParsedAuthorization(NamedTuple):
    """``Authorization`` and the request date: well-formed, but not yet checked or trusted."""

    access_key_id: str
    scope_date: str  # YYYYMMDD from the credential scope
    region: str
    service: str
    terminator: str
    signed_headers: str  # as sent, e.g. "host;x-amz-date;x-amz-target"
    signature: str
    amz_date: str  # request time in ISO-8601 basic format, YYYYMMDD'T'HHMMSS'Z'
    timestamp: int  # request time, seconds since the epoch


def is_region_name(name: str) -> bool:
    """Whether ``name`` is a well-formed AWS region name (``us-east-1``, ``us-gov-west-1``,
    ``cn-north-1``, ``us-isob-east-1``, ``eusc-de-east-1``, ...)."""
    return _REGION_NAME.fullmatch(name) is not None


def _region_error(region: str) -> InvalidSignatureException:
    return InvalidSignatureException(
        f"Credential should be scoped to a valid region, not '{region}'."
    )


def _iso(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


def _canonical_uri(path: str) -> str:
    """As botocore: drop ``.``, ``..`` and empty segments, then URI-encode the (already encoded)
    path once more, keeping ``/`` and ``~`` (the "encode twice" rule for non-S3 services)."""
    if path == "/" or not path:
        return "/"
    out: list[str] = []
    for seg in path.split("/"):
        if seg == "..":
            if out:
                out.pop()
        elif seg and seg != ".":
            out.append(seg)
    norm = "/".join(out) + ("/" if path[-1] == "/" and out else "")
    return quote(("/" if path[0] == "/" else "") + norm, safe="/~")


def _canonical_query(query: str) -> str:
    """Decode names and values (``+`` is a space), re-encode per RFC 3986, sort by name, value."""
    pairs = []
    for item in query.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((quote(unquote_plus(name), _SAFE), quote(unquote_plus(value), _SAFE)))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


class SigV4Verifier:
    """Verifies SigV4-signed requests for one service. Safe to share between threads."""

    def __init__(
        self,
        lookup: SecretLookup,
        service: str = "kms",
        max_skew_seconds: int = 300,
        required_signed_headers: tuple[str, ...] = ("host",),
        regions: Collection[str] | None = None,  # when given, the regions served
    ) -> None:
        self._lookup = lookup
        self._service = service
        self._skew = max_skew_seconds
        self._required = tuple(h.lower() for h in required_signed_headers)
        self._regions = None if not regions else frozenset(regions)
        self._days: dict[str, int] = {}  # YYYYMMDD -> epoch of its midnight
        self._served: set[str] = set()  # region names served (see serves)
        self._keys: dict[tuple[str, str, str, str], _Pads] = {}  # -> kSigning HMAC states
        self._identities: dict[tuple[str, str, str, str | None], SigV4Identity] = {}

    def parse(self, headers: Mapping[str, str]) -> ParsedAuthorization:
        """Parse ``Authorization`` and the date header; raise MissingAuthenticationToken or
        IncompleteSignature, or InvalidSignature for a region that is not served (see the
        module docstring). Needs no secret; nothing else in the result is verified yet."""
        parsed = ParsedAuthorization._make(self._parse(headers))
        if not self.serves(parsed.region):
            raise _region_error(parsed.region)
        return parsed

    def serves(self, region: str) -> bool:
        """Whether a credential scope may name ``region`` (the answer kept for the names
        found so: a set lookup instead of a regular expression per request)."""
        if region in self._served:
            return True
        ok = is_region_name(region) and (self._regions is None or region in self._regions)
        if ok and len(self._served) < _CACHE_SIZE:
            self._served.add(region)
        return ok

    def _parse(self, headers: Mapping[str, str]) -> _Parsed:
        auth = headers.get("authorization")
        if not auth or auth.isspace():
            raise MissingAuthenticationTokenException(MSG_MISSING_TOKEN)
        fast = auth.startswith(_FAST) and auth.count(",") == 2  # botocore's exact layout
        if fast:
            credential, signed, signature = auth[len(_FAST) :].split(",")
            signed, signature = signed.lstrip(), signature.lstrip()
            fast = signed.startswith("SignedHeaders=") and signature.startswith("Signature=")
            scheme, signed, signature = ALGORITHM, signed[14:], signature[10:]
        if not fast:
            scheme, params = self._params(auth)
            credential, signed, signature = (
                params.get(k, "") for k in ("Credential", "SignedHeaders", "Signature")
            )
        credential, signed, signature = credential.strip(), signed.strip(), signature.strip()
        raw_date = headers.get("x-amz-date")
        is_amz = bool(raw_date)
        if not is_amz:
            raw_date = headers.get("date")
        if not (credential and signed and signature and raw_date):
            given = {"Credential": credential, "Signature": signature, "SignedHeaders": signed}
            msg = [f"Authorization header requires '{k}' parameter." for k in given if not given[k]]
            if not raw_date:
                msg.append(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a"
                    " 'Date' header."
                )
            raise IncompleteSignatureException(" ".join(msg) + f" Authorization={auth}")
        amz_date, timestamp = self._parse_date(raw_date) if is_amz else _parse_http_date(raw_date)
        if scheme != ALGORITHM:
            raise IncompleteSignatureException(
                f"Unsupported AWS 'algorithm': '{scheme}' (only {ALGORITHM} for now)."
            )
        parts = credential.rstrip("/").split("/")
        if len(parts) != 5:
            raise IncompleteSignatureException(
                "Credential must have exactly 5 slash-delimited elements, e.g."
                f" keyid/date/region/service/term, got '{credential}'"
            )
        akid, date, region, service, term = parts
        return akid, date, region, service, term, signed, signature, amz_date, timestamp

    @staticmethod
    def _params(auth: str) -> tuple[str, dict[str, str]]:
        """General ``<scheme> k=v, k=v, ...`` parsing (non-AWS4 schemes yield no parameters)."""
        scheme, _, rest = auth.strip().partition(" ")
        params: dict[str, str] = {}
        for item in rest.split(",") if scheme.startswith("AWS4-") else ():
            if item := item.strip():
                key, eq, value = item.partition("=")
                if not eq:
                    raise IncompleteSignatureException(
                        f"'{item}' not a valid key=value pair (missing equal-sign) in"
                        f" Authorization header: '{auth}'."
                    )
                params[key.strip()] = value
        return scheme, params

    def _parse_date(self, v: str) -> tuple[str, int]:
        """``X-Amz-Date``: fixed-format slices, midnight epoch cached per day."""
        if len(v) == 16 and v[8] == "T" and v[15] == "Z" and v.isascii() and v[9:15].isdigit():
            day = v[:8]
            base = self._days.get(day)
            if base is None and day.isdigit():
                y, m, d = int(day[:4]), int(day[4:6]), int(day[6:])
                if y >= 1970 and 1 <= m <= 12 and 1 <= d <= calendar.monthrange(y, m)[1]:
                    base = calendar.timegm((y, m, d, 0, 0, 0, 0, 1, 0))
                    if len(self._days) >= _CACHE_SIZE:
                        self._days.clear()
                    self._days[day] = base
            h, ms = divmod(int(v[9:15]), 10000)
            m, s = divmod(ms, 100)
            if base is not None and h < 24 and m < 60 and s < 60:
                return v, base + h * 3600 + m * 60 + s
        raise IncompleteSignatureException(_BAD_DATE.format(v))

    def verify(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        now: float | None = None,
    ) -> SigV4Identity:
        """Verify a request's signature; return the signer or raise the AWS error."""
        akid, date, region, service, term, signed, signature, amz_date, ts = self._parse(headers)
        now_i = int(time.time() if now is None else now)
        skew = self._skew
        if ts < now_i - skew or ts > now_i + skew:
            span = f"{skew // 60} min." if skew % 60 == 0 else f"{skew} sec."
            if ts < now_i:
                raise InvalidSignatureException(
                    f"Signature expired: {amz_date} is now earlier than {_iso(now_i - skew)}"
                    f" ({_iso(now_i)} - {span})"
                )
            raise InvalidSignatureException(
                f"Signature not yet current: {amz_date} is still later than {_iso(now_i + skew)}"
                f" ({_iso(now_i)} + {span})"
            )
        names = signed.lower().split(";")
        for required in self._required:
            if required not in names:
                raise InvalidSignatureException(
                    f"'{_title(required)}' must be a 'SignedHeader' in the AWS Authorization."
                )
        scope_ok = service == self._service and term == TERMINATOR and date == amz_date[:8]
        if not scope_ok or not self.serves(region):
            errors = self._scope_errors(date, region, service, term, amz_date)
            raise InvalidSignatureException(errors)
        try:
            canonical_headers = "".join([f"{n}:{' '.join(headers[n].split())}\n" for n in names])
        except KeyError as exc:
            raise InvalidSignatureException(
                f"'{_title(exc.args[0])}' is a 'SignedHeader' in the AWS Authorization but is"
                " missing from the request."
            ) from None
        token = headers.get("x-amz-security-token")
        if token is not None and "x-amz-security-token" not in names:
            raise InvalidSignatureException(
                "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization."
            )
        body_hash = hashlib.sha256(body).hexdigest()
        claimed = headers.get("x-amz-content-sha256")
        if claimed is not None and claimed.strip() != body_hash:
            raise InvalidSignatureException(MSG_BAD_CONTENT_SHA)
        secret = self._lookup(akid)
        if secret is None:
            raise UnrecognizedClientException(MSG_BAD_CLIENT)

        uri = "/" if path == "/" else _canonical_uri(path)
        canonical_request = (
            f"{method}\n{uri}\n{_canonical_query(query) if query else ''}\n"
            f"{canonical_headers}\n{signed}\n{body_hash}"
        )
        inner, outer = self._signing_pads(secret, date, region, service)
        inner.update(f"{ALGORITHM}\n{amz_date}\n{date}/{region}/{service}/{TERMINATOR}\n".encode())
        inner.update(hashlib.sha256(canonical_request.encode()).hexdigest().encode())
        outer.update(inner.digest())
        if not hmac.compare_digest(outer.hexdigest().encode(), signature.encode()):
            raise InvalidSignatureException(MSG_BAD_SIGNATURE)
        key = (akid, region, service, token)
        if (identity := self._identities.get(key)) is None:
            identity = self._identities[key] = SigV4Identity(akid, region, service, token)
            _trim(self._identities)
        return identity

    def _scope_errors(self, date: str, region: str, service: str, term: str, amz: str) -> str:
        errors = []
        if not self.serves(region):
            errors.append(_region_error(region).message)
        if service != self._service:
            errors.append(f"Credential should be scoped to correct service: '{self._service}'.")
        if term != TERMINATOR:
            errors.append(
                "Credential should be scoped with a valid terminator:"
                f" '{TERMINATOR}', not '{term}'."
            )
        if date != amz[:8]:
            errors.append(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version"
                f" of date from HTTP: '{date}' != '{amz[:8]}', from '{amz}'."
            )
        return " ".join(errors)

    def _signing_pads(self, secret: str, date: str, region: str, service: str) -> _Pads:
        """HMAC-SHA256 (RFC 2104) keyed with kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date),
        region), service), "aws4_request"), as fresh copies of the two hash states primed with
        the padded key; the states are cached per (secret, date, region, service)."""
        cache_key = (secret, date, region, service)
        pads = self._keys.get(cache_key)
        if pads is None:
            key = ("AWS4" + secret).encode()
            for part in (date, region, service, TERMINATOR):
                key = hmac.digest(key, part.encode(), "sha256")
            key = key.ljust(64, b"\0")  # a SHA-256 block; kSigning is 32 bytes
            pads = self._keys[cache_key] = (
                hashlib.sha256(key.translate(_IPAD)),
                hashlib.sha256(key.translate(_OPAD)),
            )
            _trim(self._keys)
        return pads[0].copy(), pads[1].copy()


def _trim(cache: dict[Any, Any]) -> None:
    """Bound a cache by dropping its oldest entry (insertion order); tolerate racing threads."""
    if len(cache) > _CACHE_SIZE:
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):
            del cache[next(iter(cache))]


def _parse_http_date(value: str) -> tuple[str, int]:
    """An RFC 1123 ``Date`` header (used only when there is no ``X-Amz-Date``)."""
    parsed = parsedate_tz(value)
    if parsed is None or parsed[0] < 1970:
        raise IncompleteSignatureException(_BAD_DATE.format(value))
    epoch = calendar.timegm(parsed[:6] + (0, 1, 0)) - (parsed[9] or 0)
    return _iso(epoch), epoch
