"""Request validation against the KMS model: exact AWS messages, types, and every operation.

Hand-written cases pin AWS's documented wording; the generic cases build requests for
all operations straight from botocore's model so every shape the model has is covered.
"""

from __future__ import annotations

import base64
import copy
import re
from typing import Any

import pytest

from openkms.errors import SerializationException, UnknownOperationException, ValidationException
from openkms.wire.model import KMS_MODEL, input_shape, operation_names
from openkms.wire.validation import CHINA_ONLY_VALUES, CONSTRAINT_OVERRIDES, validate

KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
B64_256 = base64.b64encode(bytes(range(256))).decode()


def b64(n: int) -> str:
    return base64.b64encode(b"\x07" * n).decode()


def invalid(operation: str, params: dict[str, Any]) -> str:
    with pytest.raises(ValidationException) as info:
        validate(operation, params)
    return info.value.message


def unserializable(operation: str, params: Any) -> str:
    with pytest.raises(SerializationException) as info:
        validate(operation, params)
    return info.value.message


# --- model ------------------------------------------------------------------------------


def test_model_exposes_all_56_operations() -> None:
    names = operation_names()
    assert len(names) == 56 and {"Encrypt", "CreateKey", "ScheduleKeyDeletion"} <= names
    assert names == frozenset(KMS_MODEL.operation_names)
    assert input_shape("Encrypt").required_members == ["KeyId", "Plaintext"]
    with pytest.raises(KeyError):
        input_shape("Nope")


def test_unknown_operation() -> None:
    with pytest.raises(UnknownOperationException):
        validate("Nope", {})


# --- AWS's own examples -----------------------------------------------------------------


def test_value_above_maximum() -> None:
    assert invalid("GenerateDataKey", {"KeyId": KEY, "NumberOfBytes": 1025}) == (
        "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy "
        "constraint: Member must have value less than or equal to 1024"
    )


def test_all_violations_counted_in_model_order_plural() -> None:
    assert invalid("GenerateDataKey", {"NumberOfBytes": 0}) == (
        "2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: "
        "Member must not be null; Value '0' at 'numberOfBytes' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_required_missing_and_null_are_the_same() -> None:
    expected = (
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: "
        "Member must not be null"
    )
    assert invalid("DescribeKey", {}) == expected
    assert invalid("DescribeKey", {"KeyId": None}) == expected


def test_three_errors_mixing_rules() -> None:
    message = invalid(
        "CreateKey", {"KeySpec": "AES", "Description": "d" * 8193, "Tags": [{"TagValue": "v"}]}
    )
    # Model order: Description, then KeySpec, then Tags.
    assert message.startswith(
        f"3 validation errors detected: Value '{'d' * 8193}' at 'description'"
    )
    assert message.index("'keySpec'") < message.index("'tags.1.member.tagKey'")
    assert message.count("; ") == 2


# --- constraint kinds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_id", "rule"),
    [
        ("", "Member must have length greater than or equal to 1"),
        ("k" * 2049, "Member must have length less than or equal to 2048"),
    ],
)
def test_string_length(key_id: str, rule: str) -> None:
    assert invalid("DescribeKey", {"KeyId": key_id}) == (
        f"1 validation error detected: Value '{key_id}' at 'keyId' failed to satisfy "
        f"constraint: {rule}"
    )


def test_string_length_counts_utf16_units_like_java() -> None:
    validate("UpdateKeyDescription", {"KeyId": KEY, "Description": "\U0001f600" * 4096})
    message = invalid("UpdateKeyDescription", {"KeyId": KEY, "Description": "\U0001f600" * 4097})
    assert message.endswith("Member must have length less than or equal to 8192")


def test_enum_lists_values_in_model_order() -> None:
    assert invalid("Encrypt", {"KeyId": KEY, "Plaintext": "QQ==", "EncryptionAlgorithm": "X"}) == (
        "1 validation error detected: Value 'X' at 'encryptionAlgorithm' failed to satisfy "
        "constraint: Member must satisfy enum value set: "
        "[SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]"
    )


def test_pattern_full_match() -> None:
    assert invalid("CreateAlias", {"AliasName": "alias/a b", "TargetKeyId": KEY}) == (
        "1 validation error detected: Value 'alias/a b' at 'aliasName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
    )
    # Unanchored model patterns still have to match the whole value.
    message = invalid("GetKeyPolicy", {"KeyId": KEY, "PolicyName": "default policy"})
    assert message.endswith("Member must satisfy regular expression pattern: [\\w]+")
    # Java's \w is ASCII-only.
    assert "policyName" in invalid("GetKeyPolicy", {"KeyId": KEY, "PolicyName": "défaut"})


def test_length_and_pattern_both_reported() -> None:
    message = invalid("CreateAlias", {"AliasName": "", "TargetKeyId": KEY})
    assert message.startswith("2 validation errors detected: Value '' at 'aliasName'")
    assert "greater than or equal to 1" in message and "regular expression pattern" in message


def test_blob_length_is_decoded_bytes() -> None:
    validate("Encrypt", {"KeyId": KEY, "Plaintext": b64(4096)})
    assert invalid("Encrypt", {"KeyId": KEY, "Plaintext": b64(4097)}) == (
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096"
    )
    assert invalid("Encrypt", {"KeyId": KEY, "Plaintext": ""}) == (
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )
    for n in (1, 2, 3):  # every padding form decodes to the right length
        validate("Decrypt", {"CiphertextBlob": b64(n)})


def test_non_sensitive_blob_not_echoed_either() -> None:
    blob = b64(6145)
    message = invalid("Decrypt", {"CiphertextBlob": blob})
    assert message == (
        "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy "
        "constraint: Member must have length less than or equal to 6144"
    )


def test_sensitive_string_not_echoed() -> None:
    params = {"CustomKeyStoreId": "cks-1", "KeyStorePassword": "hunter"}
    message = invalid("UpdateCustomKeyStore", params)
    assert "hunter" not in message
    assert message == (
        "1 validation error detected: Value at 'keyStorePassword' failed to satisfy "
        "constraint: Member must have length greater than or equal to 7"
    )
    credential = {"AccessKeyId": "lowercase-secret-key-id", "RawSecretAccessKey": "s" * 10}
    message = invalid(
        "UpdateCustomKeyStore",
        {"CustomKeyStoreId": "cks-1", "XksProxyAuthenticationCredential": credential},
    )
    assert message == (
        "2 validation errors detected: Value at 'xksProxyAuthenticationCredential.accessKeyId' "
        "failed to satisfy constraint: Member must satisfy regular expression pattern: "
        "^[A-Z2-7]+$; Value at 'xksProxyAuthenticationCredential.rawSecretAccessKey' failed "
        "to satisfy constraint: Member must have length greater than or equal to 43"
    )
    assert "lowercase-secret" not in message and "ssssssssss" not in message
    assert "'xksProxyAuthenticationCredential.accessKeyId'" in message


def test_list_length_renders_like_java() -> None:
    tokens = [f"t{i}" for i in range(11)]
    assert invalid("DescribeKey", {"KeyId": KEY, "GrantTokens": tokens}) == (
        f"1 validation error detected: Value '[{', '.join(tokens)}]' at 'grantTokens' failed "
        "to satisfy constraint: Member must have length less than or equal to 10"
    )
    assert invalid("ListKeys", {"ResourceOwners": []}) == (
        "1 validation error detected: Value '[]' at 'resourceOwners' failed to satisfy "
        "constraint: Member must have length greater than or equal to 1"
    )


def test_nested_list_paths_are_one_based() -> None:
    tags = [{"TagKey": "ok", "TagValue": "v"}, {"TagKey": "", "TagValue": "v" * 257}]
    assert invalid("TagResource", {"KeyId": KEY, "Tags": tags}) == (
        "2 validation errors detected: Value '' at 'tags.2.member.tagKey' failed to satisfy "
        "constraint: Member must have length greater than or equal to 1; "
        f"Value '{'v' * 257}' at 'tags.2.member.tagValue' failed to satisfy constraint: "
        "Member must have length less than or equal to 256"
    )
    message = invalid("CreateGrant", {"KeyId": KEY, "Operations": ["Encrypt", "Fly"]})
    assert message.startswith(
        "1 validation error detected: Value 'Fly' at 'operations.2.member' failed to satisfy "
        "constraint: Member must satisfy enum value set: [Decrypt, Encrypt, "
    )
    assert invalid("DescribeKey", {"KeyId": KEY, "GrantTokens": ["a", ""]}).startswith(
        "1 validation error detected: Value '' at 'grantTokens.2.member' failed"
    )


def test_nested_structure_paths() -> None:
    params = {"CustomKeyStoreId": "c", "XksProxyAuthenticationCredential": {}}
    assert invalid("UpdateCustomKeyStore", params) == (
        "2 validation errors detected: Value null at "
        "'xksProxyAuthenticationCredential.accessKeyId' failed to satisfy constraint: "
        "Member must not be null; Value null at "
        "'xksProxyAuthenticationCredential.rawSecretAccessKey' failed to satisfy "
        "constraint: Member must not be null"
    )
    grant = {"KeyId": KEY, "Operations": ["Encrypt"], "Constraints": {"SourceArn": "x"}}
    assert "'constraints.sourceArn'" in invalid("CreateGrant", grant)


def test_null_list_element_and_map_value_rejected() -> None:
    assert invalid("DescribeKey", {"KeyId": KEY, "GrantTokens": [None]}) == (
        "1 validation error detected: Value null at 'grantTokens.1.member' failed to satisfy "
        "constraint: Member must not be null"
    )
    params = {"KeyId": KEY, "Plaintext": "QQ==", "EncryptionContext": {"purpose": None}}
    assert invalid("Encrypt", params) == (
        "1 validation error detected: Value null at 'encryptionContext.purpose' failed to "
        "satisfy constraint: Member must not be null"
    )


# --- overrides ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "rule"),
    [
        (0, "Member must have value greater than or equal to 1"),
        (366, "Member must have value less than or equal to 365"),
    ],
)
def test_pending_window_outside_model_range(days: int, rule: str) -> None:
    assert invalid("ScheduleKeyDeletion", {"KeyId": KEY, "PendingWindowInDays": days}) == (
        f"1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to "
        f"satisfy constraint: {rule}"
    )


@pytest.mark.parametrize("days", [1, 6, 7, 30, 31, 365])
def test_pending_window_within_model_range_passes_the_wire(days: int) -> None:
    """AWS's stricter 7..30 rule has its own message and is enforced by the domain."""
    validate("ScheduleKeyDeletion", {"KeyId": KEY, "PendingWindowInDays": days})


# --- base64 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        ("QQ", "Base64 encoded length is expected a multiple of 4 bytes but found: 2"),
        ("QUFBQ", "Base64 encoded length is expected a multiple of 4 bytes but found: 5"),
        ("QU!B", "Invalid Base64 character"),
        ("QUF\n", "Invalid Base64 character"),
        ("QU B", "Invalid Base64 character"),
        ("QUé=", "Invalid Base64 character"),
        ("QU-_", "Invalid Base64 character"),  # URL-safe alphabet is not standard base64
        ("Q===", "Invalid Base64 character"),
        ("====", "Invalid Base64 character"),
        ("QQ==QQ==", "Invalid Base64 character"),
        ("Q=Q=", "Invalid Base64 character"),
        ("QR==", "Invalid last non-pad Base64 character detected"),
        ("QUF=", "Invalid last non-pad Base64 character detected"),
    ],
)
def test_invalid_base64(blob: str, reason: str) -> None:
    assert unserializable("Encrypt", {"KeyId": KEY, "Plaintext": blob}) == (
        f"Value at 'plaintext' can not be converted to a Blob: {reason}"
    )


# --- JSON types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "params", "message"),
    [
        ("DescribeKey", {"KeyId": 1}, "NUMBER_VALUE can not be converted to a String"),
        ("DescribeKey", {"KeyId": True}, "TRUE_VALUE can not be converted to a String"),
        ("DescribeKey", {"KeyId": False}, "FALSE_VALUE can not be converted to a String"),
        ("DescribeKey", {"KeyId": ["k"]}, "Start of list found where not expected"),
        ("DescribeKey", {"KeyId": {}}, "Start of structure or map found where not expected."),
        ("GenerateRandom", {"NumberOfBytes": "5"}, "STRING_VALUE can not be converted to an Integer"),
        ("GenerateRandom", {"NumberOfBytes": True}, "TRUE_VALUE can not be converted to an Integer"),
        ("GenerateRandom", {"NumberOfBytes": 5.5}, "NUMBER_VALUE can not be converted to an Integer"),
        ("GenerateRandom", {"NumberOfBytes": 2**31}, "NUMBER_VALUE can not be converted to an Integer"),
        ("CreateKey", {"MultiRegion": "true"}, "STRING_VALUE can not be converted to a Boolean"),
        ("CreateKey", {"MultiRegion": 1}, "NUMBER_VALUE can not be converted to a Boolean"),
        ("Decrypt", {"CiphertextBlob": 5}, "NUMBER_VALUE can not be converted to a Blob"),
        ("Decrypt", {"CiphertextBlob": [1]}, "Start of list found where not expected"),
        ("DescribeKey", {"KeyId": "k", "GrantTokens": "t"}, "Expected list or null"),
        ("DescribeKey", {"KeyId": "k", "GrantTokens": {}}, "Start of structure or map found where not expected."),
        ("DescribeKey", {"KeyId": "k", "GrantTokens": [7]}, "NUMBER_VALUE can not be converted to a String"),
        ("Decrypt", {"EncryptionContext": "a=b"}, "Expected map or null"),
        ("Decrypt", {"EncryptionContext": [["a", "b"]]}, "Start of list found where not expected"),
        ("Decrypt", {"EncryptionContext": {"a": 1}}, "NUMBER_VALUE can not be converted to a String"),
        ("Decrypt", {"Recipient": "r"}, "Expected null"),
        ("Decrypt", {"Recipient": []}, "Start of list found where not expected"),
        ("CreateKey", {"Tags": [{"TagKey": 1, "TagValue": "v"}]}, "NUMBER_VALUE can not be converted to a String"),
        ("CreateKey", {"Tags": ["k=v"]}, "Expected null"),
        ("ImportKeyMaterial", {"ValidTo": "2030-01-01"}, "STRING_VALUE can not be converted to a Timestamp"),
        ("CreateKey", [], "Start of list found where not expected"),
        ("CreateKey", "x", "Expected null"),
    ],
)  # fmt: skip
def test_wrong_json_type(operation: str, params: Any, message: str) -> None:
    assert unserializable(operation, params) == message


def test_type_error_wins_over_constraint_errors() -> None:
    assert unserializable("GenerateDataKey", {"KeyId": "", "NumberOfBytes": "5"}) == (
        "STRING_VALUE can not be converted to an Integer"
    )


def test_accepted_json_forms() -> None:
    validate("ImportKeyMaterial", {"KeyId": KEY, "ImportToken": "QQ==", "EncryptedKeyMaterial": "QQ==", "ValidTo": 1.9e9})  # fmt: skip
    validate("CreateKey", {"MultiRegion": False, "Tags": [], "Description": ""})
    validate("Encrypt", {"KeyId": KEY, "Plaintext": B64_256, "EncryptionContext": {}})


def test_unknown_members_ignored_and_optional_null_allowed() -> None:
    validate("DescribeKey", {"KeyId": KEY, "Bogus": [1, {}], "keyId": 5, "GrantTokens": None})


def test_params_not_mutated() -> None:
    requests: list[tuple[str, dict[str, Any]]] = [
        ("Encrypt", {"KeyId": KEY, "Plaintext": B64_256, "EncryptionContext": {"a": "b"}}),
        ("CreateKey", {"Tags": [{"TagKey": "", "TagValue": None}], "Extra": {"x": [1]}}),
        ("GenerateDataKey", {"NumberOfBytes": 0, "GrantTokens": [None]}),
    ]
    for operation, params in requests:
        before = copy.deepcopy(params)
        try:
            validate(operation, params)
        except ValidationException:
            pass
        assert params == before


# --- every operation, generically from the model ----------------------------------------------

#: Strings tried, in order, for pattern-constrained members; fillers pad to the length.
SAMPLES = [
    "alias/example", "example", "us-west-2", "cluster-abcdefghijklm", "https://example.com",
    "/kms/xks/v1", "service.amazonaws.com", "arn:aws:kms:us-west-2:111122223333:key/example",
    "com.amazonaws.vpce.us-west-2.vpce-svc-0123456789abcdef0",
]  # fmt: skip


def _bounds(operation: str, where: str, shape: Any) -> tuple[Any, Any]:
    meta = {**shape.metadata, **CONSTRAINT_OVERRIDES.get((operation, where), {})}
    return meta.get("min"), meta.get("max")


def sample(operation: str, shape: Any, where: str, full: bool) -> Any:
    """A valid value for ``shape``: required members only, or every member if ``full``."""
    lo, hi = _bounds(operation, where, shape)
    kind = shape.type_name
    if kind == "structure":
        names = shape.members if full else shape.required_members
        return {
            n: sample(operation, shape.members[n], f"{where}.{n}" if where else n, full)
            for n in names
        }
    if kind == "list":
        return [sample(operation, shape.member, f"{where}.member", full)]
    if kind == "map":
        return {"k": sample(operation, shape.value, f"{where}.value", full)}
    if kind == "string":
        if "enum" in shape.metadata:
            return shape.enum[0]
        n = max(lo or 0, 1)
        pattern = shape.metadata.get("pattern")
        for value in [*SAMPLES, "A" * n, "a" * n, "1" * n]:
            if (lo or 0) <= len(value) <= (hi or 10**9) and (
                pattern is None or re.fullmatch(pattern, value, re.ASCII)
            ):
                return value
        raise AssertionError(f"no sample for {operation}.{where}: add one to SAMPLES")
    if kind == "blob":
        return b64(max(lo or 0, 1))
    if kind == "integer":
        return lo if lo is not None else 1
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return 1_900_000_000
    raise AssertionError(kind)


@pytest.mark.parametrize("operation", sorted(operation_names()))
def test_minimal_and_full_valid_request_for_every_operation(operation: str) -> None:
    shape = input_shape(operation)
    for full in (False, True):
        params = sample(operation, shape, "", full)
        validate(operation, params)


def test_every_model_pattern_compiles_in_python() -> None:
    found = set()
    for operation in operation_names():
        stack = [input_shape(operation)]
        while stack:
            shape = stack.pop()
            if "pattern" in shape.metadata:
                found.add(shape.metadata["pattern"])
            stack.extend(getattr(shape, "members", {}).values())
            stack.extend(s for s in (getattr(shape, "member", None),) if s is not None)
            stack.extend(getattr(shape, a) for a in ("key", "value") if hasattr(shape, a))
    assert "^[a-zA-Z0-9:/_-]+$" in found and len(found) > 10
    for pattern in found:
        re.compile(pattern, re.ASCII)


def _bad_values(operation: str, name: str, shape: Any) -> list[tuple[Any, str, bool]]:
    """(bad value, broken rule, value echoed?) for each constraint of a top-level member."""
    lo, hi = _bounds(operation, name, shape)
    kind, meta = shape.type_name, shape.metadata
    echo = not meta.get("sensitive") and kind != "blob"
    at_least, at_most = "Member must have length greater than or equal to", "less than or equal to"
    out: list[tuple[Any, str, bool]] = []
    if kind == "string":
        if "enum" in meta:
            # AWS's order where it is known; outside China Regions, no SM2.
            enum = CONSTRAINT_OVERRIDES.get((operation, name), meta)["enum"]
            china_only = CHINA_ONLY_VALUES.get(shape.name, frozenset())
            listed = ", ".join(v for v in enum if v not in china_only)
            rule = f"Member must satisfy enum value set: [{listed}]"
            out.append(("NOT_IN_ENUM", rule, echo))
        if "pattern" in meta:  # a too short/long "aaa" could break the pattern as well
            # OpenKMS's where it widens AWS's (XksProxyUriEndpoint: loopback http too).
            pattern = CONSTRAINT_OVERRIDES.get((operation, name), meta).get("pattern", "")
            rule = f"Member must satisfy regular expression pattern: {pattern or meta['pattern']}"
            out.append(("\x01" * max(lo or 0, 1), rule, echo))
        else:
            if lo:
                out.append(("a" * (lo - 1), f"{at_least} {lo}", echo))
            if hi is not None:
                out.append(("a" * (hi + 1), f"Member must have length {at_most} {hi}", echo))
    elif kind == "blob":
        if lo:
            out.append((b64(lo - 1), f"{at_least} {lo}", False))
        if hi is not None:
            out.append((b64(hi + 1), f"Member must have length {at_most} {hi}", False))
    elif kind == "integer":
        if lo is not None:
            out.append((lo - 1, f"Member must have value greater than or equal to {lo}", echo))
        if hi is not None:
            out.append((hi + 1, f"Member must have value {at_most} {hi}", echo))
    return out


BAD_CASES = [
    (operation, name, value, rule, echo)
    for operation in sorted(operation_names())
    for name, member in input_shape(operation).members.items()
    for value, rule, echo in _bad_values(operation, name, member)
]


def test_bad_cases_cover_every_constraint_kind() -> None:
    kinds = [
        "Member must satisfy enum value set: [",
        "Member must have length greater than or equal to ",
        "Member must have length less than or equal to ",
        "Member must have value greater than or equal to ",
        "Member must have value less than or equal to ",
        "Member must satisfy regular expression pattern: ",
    ]
    for kind in kinds:
        assert any(rule.startswith(kind) for _, _, _, rule, _ in BAD_CASES), kind
    assert any(not echo for *_, echo in BAD_CASES)  # sensitive / blob members too


@pytest.mark.parametrize(("operation", "name", "value", "rule", "echo"), BAD_CASES)
def test_known_bad_value_per_constraint(
    operation: str, name: str, value: Any, rule: str, echo: bool
) -> None:
    params = sample(operation, input_shape(operation), "", full=False)
    params[name] = value
    path = name[0].lower() + name[1:]
    shown = f"Value '{value}'" if echo else "Value"
    assert invalid(operation, params) == (
        f"1 validation error detected: {shown} at '{path}' failed to satisfy constraint: {rule}"
    )


# --- what handlers see: model members only, null meaning absent (issue 10, defect 6) ----


def test_validate_returns_model_members_without_nulls() -> None:
    params: dict[str, object] = {"Limit": None, "Marker": None, "GrantTokens": 5, "X": 1e300}
    assert validate("ListKeys", params) == {}
    assert params["GrantTokens"] == 5  # the caller's dict is not modified
    got = validate(
        "CreateKey",
        {
            "Tags": [{"TagKey": "a", "TagValue": "b", "Extra": {"deep": [1]}}],
            "Description": None,
            "Origin": None,
            "Unknown": [None],
        },
    )
    assert got == {"Tags": [{"TagKey": "a", "TagValue": "b"}]}
    got = validate(
        "Encrypt",
        {"KeyId": KEY, "Plaintext": "aGk=", "EncryptionContext": {"a": "b"}, "GrantTokens": None},
    )
    assert got == {"KeyId": KEY, "Plaintext": "aGk=", "EncryptionContext": {"a": "b"}}


def test_validate_without_input_shape_returns_empty() -> None:
    for operation in operation_names():
        if input_shape(operation) is None:
            assert validate(operation, {"X": 1}) == {}


@pytest.mark.parametrize("limit", [1e300, 1e12, 2**31, -(2**31) - 1, 1.5, "5", True, [5]])
def test_out_of_range_or_wrong_type_integer_is_a_serialization_error(limit: object) -> None:
    with pytest.raises(SerializationException):
        validate("ListKeys", {"Limit": limit})


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("operation", "params", "error"),
    [
        # The list is too long *and* its elements are no strings: the type error wins, and
        # the deep value is never rendered (it was a RecursionError, a 500).
        (
            "Encrypt",
            {"KeyId": KEY, "Plaintext": "aGk=", "GrantTokens": [_nested(900)] * 11},
            SerializationException,
        ),
        (
            "CreateKey",
            {"Tags": [{"TagKey": "a", "TagValue": "b", "X": _nested(900)}] * 60, "Description": 5},
            SerializationException,
        ),
    ],
)
def test_deeply_nested_values_never_break_validation(
    operation: str, params: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        validate(operation, params)
    assert len(str(info.value)) < 20_000


# --- AWS's own wording (issue 14) ----------------------------------------------------------


def test_mac_algorithm_enum_in_aws_order() -> None:
    """Recorded from AWS for GenerateMac and VerifyMac: neither the model's order nor sorted."""
    for operation, extra in (("GenerateMac", {}), ("VerifyMac", {"Mac": "QQ=="})):
        params = {"KeyId": KEY, "Message": "QQ==", "MacAlgorithm": "INVALID", **extra}
        assert invalid(operation, params) == (
            "1 validation error detected: Value 'INVALID' at 'macAlgorithm' failed to satisfy "
            "constraint: Member must satisfy enum value set: [HMAC_SHA_384, HMAC_SHA_256, "
            "HMAC_SHA_224, HMAC_SHA_512]"
        )


def test_sm2_only_in_china_regions() -> None:
    """Outside China Regions AWS's KeySpec enum has no SM2: refused as any unknown value,
    and left out of the listed set; in cn-* it passes validation."""
    specs = "RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, " \
        "ECC_SECG_P256K1, SYMMETRIC_DEFAULT, HMAC_224, HMAC_256, HMAC_384, HMAC_512, " \
        "ML_DSA_44, ML_DSA_65, ML_DSA_87, ECC_NIST_EDWARDS25519, ML_KEM_512, ML_KEM_768, " \
        "ML_KEM_1024"  # fmt: skip
    for region in ("us-east-1", "eu-west-1", "us-gov-west-1", ""):
        with pytest.raises(ValidationException) as exc:
            validate("CreateKey", {"KeySpec": "SM2"}, region)
        assert exc.value.message == (
            "1 validation error detected: Value 'SM2' at 'keySpec' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{specs}]"
        )
        with pytest.raises(ValidationException, match="'keyPairSpec'"):
            validate("GenerateDataKeyPair", {"KeyId": KEY, "KeyPairSpec": "SM2"}, region)
    for region in ("cn-north-1", "cn-northwest-1"):
        assert validate("CreateKey", {"KeySpec": "SM2"}, region) == {"KeySpec": "SM2"}
        with pytest.raises(ValidationException) as exc:
            validate("CreateKey", {"KeySpec": "NOPE"}, region)
        assert "HMAC_512, SM2, ML_DSA_44" in exc.value.message
