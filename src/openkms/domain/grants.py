"""Grants: who may use a KMS key for which operations, under which encryption context.

Rules from "Grants in AWS KMS" and "Grant concepts"
(https://docs.aws.amazon.com/kms/latest/developerguide/grants.html), "Creating grants" /
"Using grant constraints" (.../create-grant-overview.html) and the CreateGrant and
GrantConstraints API references:

* A grant allows only *grant operations*, and only those the key supports: "grants for
  symmetric encryption KMS keys cannot allow the Sign, Verify, GenerateMac or VerifyMac
  operations. Grants for asymmetric KMS keys cannot allow any operations that generate
  data keys or data key pairs." (:func:`allowed_operations`).
* Encryption context constraints (``EncryptionContextEquals``, ``EncryptionContextSubset``)
  "are supported only on grant operations that include an EncryptionContext parameter,
  such as cryptographic operations on symmetric encryption KMS keys"; such a grant may
  also include DescribeKey, RetireGrant and CreateGrant, "but the constraint doesn't
  apply to these operations". Each constraint holds at most 8 pairs.
* "In a grant constraint, the key in each key-value pair is not case sensitive, but the
  value is case sensitive" (GrantConstraints API reference).
* A grantee who got CreateGrant from a grant may only create grants with a subset of its
  operations and constraints at least as strict (:func:`is_within`).

Grant ids and tokens: :mod:`openkms.domain.grant_tokens`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from openkms.domain.keys import Key, KeySpec, KeyUsage, key_arn
from openkms.domain.principals import root_arn
from openkms.errors import ValidationException

MAX_CONSTRAINT_PAIRS = 8
MAX_CONSTRAINT_CHARS = 384


class GrantOperation(StrEnum):
    DECRYPT = "Decrypt"
    ENCRYPT = "Encrypt"
    GENERATE_DATA_KEY = "GenerateDataKey"
    GENERATE_DATA_KEY_WITHOUT_PLAINTEXT = "GenerateDataKeyWithoutPlaintext"
    RE_ENCRYPT_FROM = "ReEncryptFrom"
    RE_ENCRYPT_TO = "ReEncryptTo"
    SIGN = "Sign"
    VERIFY = "Verify"
    GET_PUBLIC_KEY = "GetPublicKey"
    CREATE_GRANT = "CreateGrant"
    RETIRE_GRANT = "RetireGrant"
    DESCRIBE_KEY = "DescribeKey"
    GENERATE_DATA_KEY_PAIR = "GenerateDataKeyPair"
    GENERATE_DATA_KEY_PAIR_WITHOUT_PLAINTEXT = "GenerateDataKeyPairWithoutPlaintext"
    GENERATE_MAC = "GenerateMac"
    VERIFY_MAC = "VerifyMac"
    DERIVE_SHARED_SECRET = "DeriveSharedSecret"
    ENCAPSULATE = "Encapsulate"
    DECAPSULATE = "Decapsulate"


_OPS = GrantOperation

#: Allowed in a grant for every key.
COMMON_OPERATIONS = frozenset({_OPS.CREATE_GRANT, _OPS.RETIRE_GRANT, _OPS.DESCRIBE_KEY})

#: Operations whose request carries an EncryptionContext (symmetric encryption keys).
CONTEXT_OPERATIONS = frozenset(
    {
        _OPS.ENCRYPT,
        _OPS.DECRYPT,
        _OPS.RE_ENCRYPT_FROM,
        _OPS.RE_ENCRYPT_TO,
        _OPS.GENERATE_DATA_KEY,
        _OPS.GENERATE_DATA_KEY_WITHOUT_PLAINTEXT,
        _OPS.GENERATE_DATA_KEY_PAIR,
        _OPS.GENERATE_DATA_KEY_PAIR_WITHOUT_PLAINTEXT,
    }
)

_BY_USAGE: dict[KeyUsage, frozenset[GrantOperation]] = {
    # Asymmetric ENCRYPT_DECRYPT keys (RSA): no data keys ("Key type reference").
    KeyUsage.ENCRYPT_DECRYPT: frozenset(
        {_OPS.ENCRYPT, _OPS.DECRYPT, _OPS.RE_ENCRYPT_FROM, _OPS.RE_ENCRYPT_TO, _OPS.GET_PUBLIC_KEY}
    ),
    KeyUsage.SIGN_VERIFY: frozenset({_OPS.SIGN, _OPS.VERIFY, _OPS.GET_PUBLIC_KEY}),
    KeyUsage.GENERATE_VERIFY_MAC: frozenset({_OPS.GENERATE_MAC, _OPS.VERIFY_MAC}),
    KeyUsage.KEY_AGREEMENT: frozenset({_OPS.DERIVE_SHARED_SECRET, _OPS.GET_PUBLIC_KEY}),
    KeyUsage.ENCAPSULATE_DECAPSULATE: frozenset(
        {_OPS.ENCAPSULATE, _OPS.DECAPSULATE, _OPS.GET_PUBLIC_KEY}
    ),
}


def allowed_operations(spec: KeySpec, usage: KeyUsage) -> frozenset[GrantOperation]:
    """The grant operations a key of this spec and usage supports."""
    if spec is KeySpec.SYMMETRIC_DEFAULT and usage is KeyUsage.ENCRYPT_DECRYPT:
        return CONTEXT_OPERATIONS | COMMON_OPERATIONS
    return _BY_USAGE.get(usage, frozenset()) | COMMON_OPERATIONS


class ConstraintKind(StrEnum):
    EQUALS = "EncryptionContextEquals"
    SUBSET = "EncryptionContextSubset"


def _folded(context: Mapping[str, str]) -> dict[str, set[str]]:
    """Keys lower-cased (grant constraints compare keys case-insensitively), values kept."""
    folded: dict[str, set[str]] = {}
    for key, value in context.items():
        folded.setdefault(key.lower(), set()).add(value)
    return folded


def _covers(context: Mapping[str, str], pairs: Iterable[tuple[str, str]]) -> bool:
    """Every pair appears in ``context`` (key case-insensitive, value case-sensitive)."""
    folded = _folded(context)
    return all(value in folded.get(key.lower(), ()) for key, value in pairs)


@dataclass(frozen=True, slots=True)
class GrantConstraints:
    """One encryption context constraint. ``pairs`` are sorted, so equal constraints compare
    equal whatever order the request listed them in."""

    kind: ConstraintKind
    pairs: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, kind: ConstraintKind, context: Mapping[str, str]) -> GrantConstraints:
        return cls(kind, tuple(sorted(context.items())))

    @property
    def context(self) -> dict[str, str]:
        return dict(self.pairs)

    def allows(self, encryption_context: Mapping[str, str] | None) -> bool:
        """Does a request with this encryption context satisfy the constraint?"""
        request = encryption_context or {}
        if not _covers(request, self.pairs):
            return False
        if self.kind is ConstraintKind.SUBSET:
            return True
        return _covers(self.context, request.items())

    def is_within(self, parent: GrantConstraints) -> bool:
        """At least as strict as ``parent``: "the child grant can add pairs to an
        EncryptionContextSubset constraint ... can change an EncryptionContextSubset
        constraint to an EncryptionContextEquals constraint, but not the reverse"."""
        if parent.kind is ConstraintKind.EQUALS:
            return (
                self.kind is ConstraintKind.EQUALS
                and _covers(self.context, parent.pairs)
                and _covers(parent.context, self.pairs)
            )
        return _covers(self.context, parent.pairs)


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str  # 64 lower-case hex characters
    key_id: str
    account: str  # the key's account
    region: str
    name: str | None
    grantee_principal: str
    retiring_principal: str | None
    operations: tuple[GrantOperation, ...]
    constraints: GrantConstraints | None
    issuing_account: str  # account of the principal that created the grant
    creation_date: float

    @property
    def key_arn(self) -> str:
        # A multi-Region key's stored id names its Region too (openkms.domain.multi_region).
        return key_arn(self.region, self.account, self.key_id.split("@", 1)[0])

    def same_request(
        self,
        grantee_principal: str,
        retiring_principal: str | None,
        operations: Sequence[GrantOperation],
        constraints: GrantConstraints | None,
    ) -> bool:
        """Would a CreateGrant with these parameters (and this grant's name) be a retry?"""
        return (
            self.grantee_principal == grantee_principal
            and self.retiring_principal == retiring_principal
            and set(self.operations) == set(operations)
            and self.constraints == constraints
        )


# --- validation of new grants ------------------------------------------------------------


def parse_operations(names: Sequence[str]) -> tuple[GrantOperation, ...]:
    """Operations from a request, de-duplicated in request order."""
    if not names:
        raise ValidationException(
            "1 validation error detected: Value '[]' at 'operations' failed to satisfy "
            "constraint: Member must have length greater than or equal to 1"
        )
    ops: list[GrantOperation] = []
    for name in names:
        try:
            op = GrantOperation(name)
        except ValueError:
            raise ValidationException(f"{name} is not a valid grant operation.") from None
        if op not in ops:
            ops.append(op)
    return tuple(ops)


def parse_constraints(
    raw: Mapping[str, Mapping[str, str] | None] | None,
) -> GrantConstraints | None:
    """The Constraints member of CreateGrant (SourceArn is the caller's to refuse)."""
    if not raw:
        return None
    present = [kind for kind in ConstraintKind if raw.get(kind.value) is not None]
    if not present:
        return None
    if len(present) > 1:
        raise ValidationException(
            "A grant can have only one encryption context constraint: specify either "
            "EncryptionContextEquals or EncryptionContextSubset, not both."
        )
    kind = present[0]
    context = raw[kind.value] or {}
    if len(context) > MAX_CONSTRAINT_PAIRS:
        raise ValidationException(
            f"The {kind.value} grant constraint can include at most {MAX_CONSTRAINT_PAIRS} "
            "encryption context pairs."
        )
    if sum(len(k) + len(v) for k, v in context.items()) > MAX_CONSTRAINT_CHARS:
        raise ValidationException(
            f"The encryption context in the {kind.value} grant constraint cannot exceed "
            f"{MAX_CONSTRAINT_CHARS} characters."
        )
    return GrantConstraints.of(kind, context)


def check_new_grant(
    key: Key, operations: Sequence[GrantOperation], constraints: GrantConstraints | None
) -> None:
    """Raise AWS's ValidationException if the key cannot have a grant like this."""
    if set(operations) == {GrantOperation.CREATE_GRANT}:
        raise ValidationException("Grants must not contain only the CreateGrant operation.")
    allowed = allowed_operations(key.spec, key.usage)
    invalid = [op.value for op in operations if op not in allowed]
    if invalid:
        raise ValidationException(
            f"Grant operations [{', '.join(invalid)}] are not valid for {key.arn}: its key "
            f"spec is {key.spec.value} and its key usage is {key.usage.value}."
        )
    if constraints is None:
        return
    if key.spec is not KeySpec.SYMMETRIC_DEFAULT:
        raise ValidationException(
            "Encryption context grant constraints are supported only on grants for symmetric "
            f"encryption KMS keys; {key.arn} has key spec {key.spec.value}."
        )
    unconstrainable = [
        op.value
        for op in operations
        if op not in CONTEXT_OPERATIONS and op not in COMMON_OPERATIONS
    ]
    if unconstrainable:
        raise ValidationException(
            "Encryption context grant constraints are supported only on grant operations "
            f"that include an encryption context; not on [{', '.join(unconstrainable)}]."
        )


def is_within(
    parent: Grant, operations: Sequence[GrantOperation], constraints: GrantConstraints | None
) -> bool:
    """May the grantee of ``parent`` (which allows CreateGrant) create this child grant?
    Its operations must be a subset and its constraints at least as strict
    ("Granting CreateGrant permission")."""
    if not set(operations) <= set(parent.operations):
        return False
    if parent.constraints is None:
        return True
    return constraints is not None and constraints.is_within(parent.constraints)


# --- using grants ------------------------------------------------------------------------


def grant_allows(
    grants: Iterable[Grant],
    principal_arns: Sequence[str],
    operation: str,
    encryption_context: Mapping[str, str] | None,
) -> Grant | None:
    """The first grant that lets one of ``principal_arns`` run ``operation`` (``Decrypt`` or
    ``kms:Decrypt``) with this encryption context, or None.

    ``principal_arns`` are the caller's identities as they may appear as a grantee: its
    ARN and, for a role session, the role ARN with its path (``Principal.identities``,
    also what :func:`may_retire` is given). Naming the account root covers the account's
    principals only through IAM delegation, which is the caller's to evaluate: pass the
    root ARN only when that applies. Constraints apply to operations that take an
    encryption context; for DescribeKey, RetireGrant and CreateGrant they do not (a
    CreateGrant must also pass :func:`is_within`).
    """
    name = operation.removeprefix("kms:")
    try:
        op = GrantOperation(name)
    except ValueError:
        return None
    for grant in grants:
        if grant.grantee_principal not in principal_arns or op not in grant.operations:
            continue
        if (
            grant.constraints is None
            or op not in CONTEXT_OPERATIONS
            or grant.constraints.allows(encryption_context)
        ):
            return grant
    return None


def may_retire(grant: Grant, principal_arns: Sequence[str]) -> bool:
    """Who can retire a grant without any policy ("Retiring and revoking grants",
    https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html): its retiring
    principal; its grantee principal if the grant allows RetireGrant; the account in which
    the grant was created, through its root (IAM delegation is the caller's to evaluate)."""
    if grant.retiring_principal is not None and grant.retiring_principal in principal_arns:
        return True
    if (
        grant.grantee_principal in principal_arns
        and GrantOperation.RETIRE_GRANT in grant.operations
    ):
        return True
    return root_arn(grant.issuing_account) in principal_arns
