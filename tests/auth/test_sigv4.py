"""openkms.auth.sigv4 against requests signed by botocore and built by a real boto3 KMS client."""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials

from openkms.auth.sigv4 import ParsedAuthorization, SigV4Identity, SigV4Verifier
from openkms.errors import (
    AWSError,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

AK = "AKIAOPENKMSTEST00001"
SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYOPENKMSKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//session+token=="
SIGNED_AT = dt.datetime(2024, 8, 20, 23, 1, 43)  # 20240820T230143Z
NOW = calendar.timegm(SIGNED_AT.timetuple())
SCOPE = f"{AK}/20240820/us-east-1/kms/aws4_request"
KMS_URL = "https://kms.us-east-1.amazonaws.com/"
BODY = b'{"KeyId": "alias/test", "Plaintext": "aGVsbG8="}'
MISMATCH = "The request signature we calculated does not match the signature you provided."

Request = tuple[str, str, str, dict[str, str], bytes]


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: SIGNED_AT)


def lookup(access_key_id: str) -> str | None:
    return SK if access_key_id == AK else None


def verifier(**kwargs: Any) -> SigV4Verifier:
    kwargs.setdefault("required_signed_headers", ("host", "x-amz-target"))
    return SigV4Verifier(lookup, **kwargs)


def wire(method: str, url: str, headers: Any, body: bytes | str | None) -> Request:
    """What the server sees: raw path and query, lower-case header names (plus Host)."""
    parts = urlsplit(url)
    seen = {
        k.lower(): v.decode("latin-1") if isinstance(v, bytes) else v for k, v in headers.items()
    }
    seen.setdefault("host", parts.netloc)
    data = body.encode() if isinstance(body, str) else (body or b"")
    return method, parts.path or "/", parts.query, seen, data


def sign(
    method: str = "POST",
    url: str = KMS_URL,
    body: bytes = BODY,
    *,
    headers: dict[str, str | None] | None = None,
    params: dict[str, str] | None = None,
    token: str | None = None,
    service: str = "kms",
    region: str = "us-east-1",
    secret: str = SK,
) -> Request:
    hdrs: dict[str, str | None] = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "TrentService.Encrypt",
    }
    hdrs.update(headers or {})
    hdrs = {k: v for k, v in hdrs.items() if v is not None}
    req = AWSRequest(method=method, url=url, data=body, headers=hdrs, params=params or {})
    SigV4Auth(Credentials(AK, secret, token), service, region).add_auth(req)
    prepared = req.prepare()
    return wire(method, prepared.url, prepared.headers, prepared.body)


def set_auth(req: Request, old: str, new: str) -> Request:
    headers = dict(req[3])
    headers["authorization"] = headers["authorization"].replace(old, new)
    return req[0], req[1], req[2], headers, req[4]


def expect(exc: type[AWSError], req: Request, message: str, **kwargs: Any) -> AWSError:
    now = kwargs.pop("now", NOW)
    with pytest.raises(exc) as info:
        verifier(**kwargs).verify(*req, now=now)
    assert type(info.value) is exc
    assert message in info.value.message, info.value.message
    return info.value


# -- requests that must verify -----------------------------------------------------------------


@pytest.mark.parametrize("token", [None, TOKEN])
def test_botocore_signed_kms_request(token: str | None) -> None:
    req = sign(token=token)
    identity = verifier().verify(*req, now=NOW)
    assert identity == SigV4Identity(AK, "us-east-1", "kms", token)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/a/b",
        "/a%20b/c%2Fd",
        "/a/./b/../c",
        "//double//slash/",
        "/~user/x-y_z.!",
        "/%E2%82%AC",
        "/trailing/",
        "/a b",
    ],
)
@pytest.mark.parametrize("token", [None, TOKEN])
def test_odd_paths(path: str, token: str | None) -> None:
    req = sign("GET", "https://kms.us-east-1.amazonaws.com" + path, b"", token=token)
    assert verifier().verify(*req, now=NOW).session_token == token


@pytest.mark.parametrize(
    "params",
    [{"b": "2", "a": "1"}, {"a b": "c d", "x": "y+z~*'()", "e": ""}, {"k": "ሴ/é?&="}],
)
def test_query_params(params: dict[str, str]) -> None:
    req = sign("GET", KMS_URL, b"", params=params)
    assert req[2]  # botocore urlencodes params into the URL (spaces as '+')
    verifier().verify(*req, now=NOW)


def test_query_in_url() -> None:
    req = sign("GET", KMS_URL + "?z=1&a=%2F&a=-_.~&m=", b"")
    verifier().verify(*req, now=NOW)


def test_other_region_and_service() -> None:
    req = sign(service="kms-xks-proxy", region="eu-west-3", headers={"X-Amz-Target": None})
    identity = SigV4Verifier(lookup, service="kms-xks-proxy").verify(*req, now=NOW)
    assert (identity.region, identity.service) == ("eu-west-3", "kms-xks-proxy")


def test_date_header_instead_of_x_amz_date() -> None:
    req = sign(headers={"Date": "placeholder"})  # botocore then signs with Date only
    assert "x-amz-date" not in req[3] and req[3]["date"].endswith("-0000")
    verifier().verify(*req, now=NOW)


def test_matching_content_sha256_header_is_accepted() -> None:
    req = sign(headers={"X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest()})
    verifier().verify(*req, now=NOW)


def test_skew_boundaries_are_inclusive() -> None:
    req = sign()
    verifier().verify(*req, now=NOW + 300)
    verifier().verify(*req, now=NOW - 300)
    verifier(max_skew_seconds=900).verify(*req, now=NOW + 899)


@pytest.mark.parametrize(
    ("method", "url", "signature"),
    [  # vectors from the AWS SigV4 test suite (get-vanilla, post-vanilla, query-order-key-case)
        ("GET", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        ("POST", "/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        (
            "GET",
            "/?Param2=value2&Param1=value1",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
    ],
)
def test_aws_test_suite_vectors(method: str, url: str, signature: str) -> None:
    path, _, query = url.partition("?")
    headers = {
        "host": "example.amazonaws.com",
        "x-amz-date": "20150830T123600Z",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
        f"aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}",
    }
    v = SigV4Verifier(lambda _: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", service="service")
    now = calendar.timegm((2015, 8, 30, 12, 36, 0))
    assert v.verify(method, path, query, headers, b"", now=now).access_key_id == "AKIDEXAMPLE"


def test_lenient_header_layout() -> None:
    """Extra spaces and another parameter order take the general parser; same result."""
    req = sign()
    auth = req[3]["authorization"]
    cred, signed, sig = auth[len("AWS4-HMAC-SHA256 ") :].split(", ")
    layouts = [
        f"AWS4-HMAC-SHA256  {sig} ,{cred},  {signed} ",
        f"AWS4-HMAC-SHA256 {cred},{signed},{sig}",
    ]
    for layout in layouts:
        verifier().verify(*set_auth(req, auth, layout), now=NOW)


def test_parse_needs_no_secret() -> None:
    req = sign(token=TOKEN)
    parsed = SigV4Verifier(lambda _: pytest.fail("lookup called")).parse(req[3])
    assert isinstance(parsed, ParsedAuthorization)
    assert parsed.access_key_id == AK
    assert (parsed.scope_date, parsed.region, parsed.service) == ("20240820", "us-east-1", "kms")
    assert parsed.terminator == "aws4_request" and len(parsed.signature) == 64
    assert "x-amz-security-token" in parsed.signed_headers.split(";")
    assert (parsed.amz_date, parsed.timestamp) == ("20240820T230143Z", NOW)


def test_secret_rotation_is_not_hidden_by_the_key_cache() -> None:
    secrets = {AK: SK}
    v = SigV4Verifier(lambda akid: secrets.get(akid))
    req = sign()
    v.verify(*req, now=NOW)
    secrets[AK] = "rotated"
    with pytest.raises(InvalidSignatureException):
        v.verify(*req, now=NOW)
    v.verify(*sign(secret="rotated"), now=NOW)


def test_caches_stay_bounded() -> None:
    v = SigV4Verifier(lookup)
    for i in range(300):
        v.verify(*sign(region=f"eu-r{'x' * (i // 26)}{chr(97 + i % 26)}-1"), now=NOW)
    assert len(v._keys) <= 256 and len(v._identities) <= 256


# -- requests built by a real boto3 KMS client -------------------------------------------------


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


@pytest.fixture(params=[None, TOKEN], ids=["long-term", "session"])
def kms_requests(request: pytest.FixtureRequest) -> Iterator[list[Request]]:
    captured: list[Request] = []
    replies = {
        "Encrypt": {"CiphertextBlob": "AAEC", "KeyId": "arn:aws:kms:us-east-1:1:key/k"},
        "ListKeys": {"Keys": [], "Truncated": False},
        "Decrypt": {"Plaintext": "aGk=", "KeyId": "arn:aws:kms:us-east-1:1:key/k"},
    }

    def capture(request: Any, **kwargs: Any) -> AWSResponse:
        captured.append(wire(request.method, request.url, request.headers, request.body))
        operation = captured[-1][3]["x-amz-target"].split(".")[1]
        body = json.dumps(replies[operation]).encode()
        return AWSResponse(request.url, 200, {"x-amzn-RequestId": "r"}, _Raw(body))

    client = boto3.client(
        "kms",
        endpoint_url="http://127.0.0.1:1",
        region_name="us-east-1",
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        aws_session_token=request.param,
    )
    client.meta.events.register("before-send.kms.*", capture)
    client.encrypt(KeyId="alias/test", Plaintext=b"hello", EncryptionContext={"purpose": "test"})
    client.list_keys()
    client.decrypt(CiphertextBlob=b"\x00\x01\x02")
    yield captured


def test_boto3_kms_client_requests_verify(kms_requests: list[Request]) -> None:
    assert len(kms_requests) == 3
    for req in kms_requests:
        headers = req[3]
        assert headers["host"] == "127.0.0.1:1"
        assert headers["x-amz-target"].startswith("TrentService.")
        identity = verifier().verify(*req, now=NOW)
        assert identity.access_key_id == AK
        assert identity.session_token == headers.get("x-amz-security-token")


def test_boto3_kms_client_request_tampered(kms_requests: list[Request]) -> None:
    method, path, query, headers, body = kms_requests[0]
    other_target = dict(headers, **{"x-amz-target": "TrentService.ScheduleKeyDeletion"})
    for req in [
        (method, path, query, headers, body.replace(b"alias/test", b"alias/prod")),
        (method, path, query, other_target, body),
    ]:
        expect(InvalidSignatureException, req, MISMATCH)


# -- requests that must be refused -------------------------------------------------------------


def test_tampered_requests() -> None:
    method, path, query, headers, body = sign(url=KMS_URL + "a?x=1", token=TOKEN)
    assert verifier().verify(method, path, query, headers, body, now=NOW)
    for req in [
        (method, path, query, headers, body + b" "),
        (method, path, query, dict(headers, **{"content-type": "application/json"}), body),
        (method, path, query, dict(headers, **{"x-amz-target": "TrentService.Decrypt"}), body),
        (method, path, query, dict(headers, **{"x-amz-security-token": TOKEN + "x"}), body),
        (method, path, query, dict(headers, host="evil.example.com"), body),
        (method, path, "x=2", headers, body),
        (method, path + "b", query, headers, body),
        ("PUT", path, query, headers, body),
    ]:
        expect(InvalidSignatureException, req, MISMATCH)


def test_whitespace_in_header_values_is_canonicalised() -> None:
    req = sign(headers={"X-Custom": "a   b  c"})
    headers = dict(req[3], **{"x-custom": "  a b\tc "})
    verifier().verify(req[0], req[1], req[2], headers, req[4], now=NOW)


def test_wrong_secret() -> None:
    msg = (
        "The request signature we calculated does not match the signature you provided. Check your"
        " AWS Secret Access Key and signing method. Consult the service documentation for details."
    )
    err = expect(InvalidSignatureException, sign(secret="not-the-secret"), msg)
    assert err.message == msg and err.status == 400


def test_unknown_access_key() -> None:
    req = set_auth(sign(), f"Credential={AK}/", "Credential=AKIAUNKNOWN/")
    err = expect(UnrecognizedClientException, req, "")
    assert err.message == "The security token included in the request is invalid."


def test_non_ascii_signature_is_refused_cleanly() -> None:
    req = sign()
    sig = req[3]["authorization"].rsplit("=", 1)[1]
    expect(InvalidSignatureException, set_auth(req, sig, "é" * 64), MISMATCH)


def test_expired() -> None:
    err = expect(InvalidSignatureException, sign(), "", now=NOW + 379)  # 20240820T230802Z
    assert err.message == (
        "Signature expired: 20240820T230143Z is now earlier than 20240820T230302Z"
        " (20240820T230802Z - 5 min.)"
    )


def test_not_yet_current() -> None:
    err = expect(InvalidSignatureException, sign(), "", now=NOW - 301)  # 20240820T225642Z
    assert err.message == (
        "Signature not yet current: 20240820T230143Z is still later than 20240820T230142Z"
        " (20240820T225642Z + 5 min.)"
    )


def test_wrong_service_in_scope() -> None:
    err = expect(InvalidSignatureException, sign(service="s3"), "")
    assert err.message == "Credential should be scoped to correct service: 'kms'."


def test_wrong_region_when_region_is_pinned() -> None:
    req = sign(region="eu-west-1")
    verifier().verify(*req, now=NOW)
    msg = "Credential should be scoped to a valid region, not 'eu-west-1'."
    assert expect(InvalidSignatureException, req, "", regions=["us-east-1"]).message == msg


def test_wrong_terminator() -> None:
    req = set_auth(sign(), "/aws4_request,", "/aws5_request,")
    msg = "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."
    assert expect(InvalidSignatureException, req, "").message == msg


def test_scope_date_must_match_request_date() -> None:
    req = set_auth(sign(), f"{AK}/20240820/", f"{AK}/20240819/")
    msg = (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from"
        " HTTP: '20240819' != '20240820', from '20240820T230143Z'."
    )
    assert expect(InvalidSignatureException, req, "").message == msg


def test_several_scope_errors_are_reported_together() -> None:
    req = set_auth(sign(service="s3"), "/aws4_request,", "/x,")
    err = expect(InvalidSignatureException, req, "")
    assert err.message.startswith("Credential should be scoped to correct service: 'kms'. ")
    assert err.message.endswith("with a valid terminator: 'aws4_request', not 'x'.")


@pytest.mark.parametrize(
    ("value", "signed"),
    [
        ("0" * 64, True),
        ("UNSIGNED-PAYLOAD", True),
        ("UNSIGNED-PAYLOAD", False),
        (hashlib.sha256(b"other").hexdigest(), True),
    ],
)
def test_content_sha256_must_match_body(value: str, signed: bool) -> None:
    if signed:
        req = sign(headers={"X-Amz-Content-SHA256": value})
    else:
        req = sign()
        req[3]["x-amz-content-sha256"] = value
    msg = "The provided 'x-amz-content-sha256' header does not match what was computed."
    assert expect(InvalidSignatureException, req, "").message == msg


def test_required_header_must_be_signed() -> None:
    method, path, query, headers, body = sign(headers={"X-Amz-Target": None})
    headers["x-amz-target"] = "TrentService.Encrypt"  # added after signing
    msg = "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."
    err = expect(InvalidSignatureException, (method, path, query, headers, body), "")
    assert err.message == msg
    msg = "'Host' must be a 'SignedHeader' in the AWS Authorization."
    assert expect(InvalidSignatureException, set_auth(sign(), "host;", ""), "").message == msg


def test_signed_header_missing_from_request() -> None:
    req = sign(headers={"X-Custom": "1"})
    del req[3]["x-custom"]
    msg = "'X-Custom' is a 'SignedHeader' in the AWS Authorization but is missing from the request."
    expect(InvalidSignatureException, req, msg)


def test_unsigned_security_token() -> None:
    req = sign()
    req[3]["x-amz-security-token"] = TOKEN
    msg = "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization."
    expect(InvalidSignatureException, req, msg)


@pytest.mark.parametrize("auth", [None, "", "   "])
def test_missing_authorization(auth: str | None) -> None:
    method, path, query, headers, body = sign()
    if auth is None:
        del headers["authorization"]
    else:
        headers["authorization"] = auth
    err = expect(MissingAuthenticationTokenException, (method, path, query, headers, body), "")
    assert err.message == "Missing Authentication Token" and err.status == 403
    with pytest.raises(MissingAuthenticationTokenException):
        verifier().parse(headers)


def test_presigned_query_is_not_supported() -> None:
    query = (
        f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={AK}%2F20240820%2Fus-east-1%2Fkms"
        "%2Faws4_request&X-Amz-Date=20240820T230143Z&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=" + "0" * 64
    )
    req = ("GET", "/", query, {"host": "kms.us-east-1.amazonaws.com"}, b"")
    expect(MissingAuthenticationTokenException, req, "Missing Authentication Token")


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (
            "Bearer abc.def",
            (
                "Authorization header requires 'Credential' parameter. Authorization header requires"
                " 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."
                " Authorization=Bearer abc.def"
            ),
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=host",
            "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=",
            "Authorization header requires 'Signature' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 Signature=b,    Credential,    SignedHeaders",
            (
                "'Credential' not a valid key=value pair (missing equal-sign) in Authorization header:"
                " 'AWS4-HMAC-SHA256 Signature=b,    Credential,    SignedHeaders'."
            ),
        ),
        (
            f"AWS4-HMAC-SHA512 Credential={SCOPE}, SignedHeaders=host, Signature=abc",
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now).",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a/b/c/d, SignedHeaders=host, Signature=abc",
            (
                "Credential must have exactly 5 slash-delimited elements, e.g."
                " keyid/date/region/service/term, got 'a/b/c/d'"
            ),
        ),
    ],
)
def test_malformed_authorization(auth: str, message: str) -> None:
    method, path, query, headers, body = sign()
    headers["authorization"] = auth
    err = expect(IncompleteSignatureException, (method, path, query, headers, body), message)
    assert err.status == 400
    with pytest.raises(IncompleteSignatureException):
        verifier().parse(headers)


def test_missing_date() -> None:
    req = sign()
    del req[3]["x-amz-date"]
    msg = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    err = expect(IncompleteSignatureException, req, msg)
    assert err.message.startswith(msg + " Authorization=AWS4-HMAC-SHA256 Credential=")


@pytest.mark.parametrize(
    "value",
    [
        "2024-08-20T23:01:43Z",
        "20240820T230143",
        "20241320T230143Z",
        "20240230T230143Z",
        "20240820T250143Z",
        "20240820T236143Z",
        "2024082OT230143Z",
        "20240820T23014３Z",
        "+0240820T230143Z",
        "20240820T230143Z ",
    ],
)
def test_malformed_x_amz_date(value: str) -> None:
    req = sign()
    req[3]["x-amz-date"] = value
    msg = (
        f"Date must be in ISO-8601 'basic format'. Got '{value}'."
        " See http://en.wikipedia.org/wiki/ISO_8601"
    )
    assert expect(IncompleteSignatureException, req, "").message == msg


def test_malformed_date_header() -> None:
    req = sign(headers={"Date": "x"})
    req[3]["date"] = "yesterday"
    msg = "Date must be in ISO-8601 'basic format'. Got 'yesterday'."
    expect(IncompleteSignatureException, req, msg)


# -- the credential scope's region ---------------------------------------------------------------

WELL_FORMED_REGIONS = [
    "us-east-1",
    "us-west-2",
    "us-gov-west-1",
    "us-gov-east-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-2",
    "ap-southeast-5",
    "il-central-1",
    "mx-central-1",
    "ca-west-1",
    "af-south-1",
    "me-central-1",
    "sa-east-1",
    "us-iso-east-1",
    "us-isob-east-1",
    "us-isof-south-1",
    "eu-isoe-west-1",
    "eusc-de-east-1",
]
BAD_REGIONS = [
    "",
    "..",
    "x" * 300,
    "us-east-1:444455556666",
    "US-EAST-1",
    "us-east-1 ",
    "aws-global",
    "local",
    "xx-east-1",
    "us-east",
    "us-east-123",
    "us--1",
    "eu-west-1\x00",
    "a" * 40,
]


@pytest.mark.parametrize("region", WELL_FORMED_REGIONS)
def test_well_formed_regions_verify(region: str) -> None:
    identity = verifier().verify(*sign(region=region), now=NOW)
    assert identity.region == region
    assert verifier().parse(sign(region=region)[3]).region == region


@pytest.mark.parametrize("region", BAD_REGIONS)
def test_malformed_region_is_refused_by_verify_and_parse(region: str) -> None:
    # A correct signature over a malformed scope (botocore signs whatever region it is given).
    req = set_auth(sign(), "/20240820/us-east-1/", f"/20240820/{region}/")
    msg = f"Credential should be scoped to a valid region, not '{region}'."
    assert expect(InvalidSignatureException, req, "").message == msg
    # parse() (dev mode and failed-request attribution) refuses it as well.
    with pytest.raises(InvalidSignatureException) as info:
        verifier().parse(req[3])
    assert info.value.message == msg


def test_a_signed_malformed_region_is_refused() -> None:
    req = sign(region="us-east-1:444455556666")
    err = expect(InvalidSignatureException, req, "")
    assert (
        err.message
        == "Credential should be scoped to a valid region, not 'us-east-1:444455556666'."
    )


def test_served_regions_limit_the_scope() -> None:
    served = verifier(regions=("eu-west-1", "eu-central-1"))
    assert served.verify(*sign(region="eu-central-1"), now=NOW).region == "eu-central-1"
    err = expect(
        InvalidSignatureException,
        sign(region="us-east-1"),
        "",
        regions=("eu-west-1", "eu-central-1"),
    )
    assert err.message == "Credential should be scoped to a valid region, not 'us-east-1'."
    with pytest.raises(InvalidSignatureException):
        served.parse(sign(region="us-west-2")[3])
