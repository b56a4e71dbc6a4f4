"""IAM identities (users, roles, access keys, role sessions) and the rules AWS documents.

Identifiers ("IAM identifiers",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html): user ARNs
``arn:aws:iam::ACCT:user/<path-without-slashes>/NAME``, unique ids with a type prefix
(``AIDA`` user, ``AROA`` role, ``AKIA`` access key, ``ASIA`` temporary access key) and
user and role names that are unique *case-insensitively* within the account ("User
names are not distinguished by case"). An assumed-role session ARN carries the role
name without its path: ``arn:aws:sts::ACCT:assumed-role/ROLE/SESSION``.

Quotas ("IAM and AWS STS quotas",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html): two access
keys per user; inline policies of a user 2,048 characters in total, of a role 10,240,
a role trust policy 2,048 ("IAM does not count white space when calculating the size
of a policy"); 50 tags per user or role.

Session durations ("AssumeRole",
https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html): 900 seconds up
to the role's MaxSessionDuration (default 3,600); a session assumed with role-session
credentials (role chaining) lasts at most one hour.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from openkms.errors import InvalidInput, LimitExceeded, ValidationError

ID_ALPHABET = string.ascii_uppercase + "234567"
SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
MAX_ACCESS_KEYS_PER_USER = 2
MAX_TAGS = 50
USER_INLINE_POLICY_CHARS = 2_048
ROLE_INLINE_POLICY_CHARS = 10_240
TRUST_POLICY_CHARS = 2_048
DEFAULT_MAX_SESSION_SECONDS = 3_600
MIN_SESSION_SECONDS = 900
CHAINED_SESSION_SECONDS = 3_600
RESERVED_TAG_PREFIX = "aws:"
_ROLE_ARN = re.compile(r"arn:aws:iam::(\d{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})")
_WHITESPACE = re.compile(r"\s+")

Tags = tuple[tuple[str, str], ...]


class KeyStatus(StrEnum):
    ACTIVE = "Active"
    INACTIVE = "Inactive"


def _random_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(ID_ALPHABET) for _ in range(16))


def new_user_id() -> str:
    return _random_id("AIDA")


def new_role_id() -> str:
    return _random_id("AROA")


def new_access_key_id() -> str:
    return _random_id("AKIA")


def new_session_key_id() -> str:
    return _random_id("ASIA")


def new_secret_access_key() -> str:
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(40))


def new_session_token() -> str:
    return base64.b64encode(secrets.token_bytes(120)).decode("ascii")


def token_hash(token: str) -> str:
    """What is stored of a session token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def name_key(name: str) -> str:
    """The case-insensitive identity of a user or role name."""
    return name.lower()


def user_arn(account: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account}:user{path}{name}"


def role_arn(account: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role{path}{name}"


def parse_role_arn(arn: str) -> tuple[str, str]:
    """(account, role name) of a role ARN; STS's ValidationError otherwise."""
    match = _ROLE_ARN.fullmatch(arn)
    if match is None:
        raise ValidationError("Request ARN is invalid")
    return match.group(1), match.group(2)


@dataclass(frozen=True, slots=True)
class User:
    account: str
    name: str
    user_id: str
    path: str
    created_at: float
    tags: Tags = ()

    @property
    def arn(self) -> str:
        return user_arn(self.account, self.path, self.name)


@dataclass(frozen=True, slots=True)
class Role:
    account: str
    name: str
    role_id: str
    path: str
    created_at: float
    trust_policy: str
    description: str | None = None
    max_session_duration: int = DEFAULT_MAX_SESSION_SECONDS
    tags: Tags = ()

    @property
    def arn(self) -> str:
        return role_arn(self.account, self.path, self.name)


@dataclass(frozen=True, slots=True)
class AccessKeyInfo:
    """A long-term access key without its secret."""

    access_key_id: str
    account: str
    owner_arn: str
    status: KeyStatus
    created_at: float


@dataclass(frozen=True, slots=True)
class Session:
    """Temporary credentials from AssumeRole, without the secret and the token."""

    access_key_id: str
    account: str
    role_arn: str
    role_id: str
    session_name: str
    source_arn: str  # who assumed the role
    tags: Tags
    session_policy: str | None
    chained: bool
    created_at: float
    expires_at: float


# --- tags -----------------------------------------------------------------------------


def check_request_tags(pairs: Iterable[tuple[str, str]]) -> Tags:
    """Tags from a request: keys unique case-insensitively and not in the aws: namespace."""
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for key, value in pairs:
        if key.lower().startswith(RESERVED_TAG_PREFIX):
            raise InvalidInput(f"The tag key {key} uses the reserved prefix aws:.")
        if key.lower() in seen:
            raise InvalidInput(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive."
            )
        seen.add(key.lower())
        out.append((key, value))
    return tuple(out)


def merge_tags(existing: Tags, new: Tags, quota: str) -> Tags:
    """TagUser/TagRole: a new value replaces the one under the same (case-insensitive) key."""
    merged = {k.lower(): (k, v) for k, v in existing}
    for key, value in new:
        merged[key.lower()] = (key, value)
    if len(merged) > MAX_TAGS:
        raise LimitExceeded(f"Cannot exceed quota for {quota}: {MAX_TAGS}.")
    return tuple(merged.values())


# --- policies and sessions ------------------------------------------------------------


def policy_size(document: str) -> int:
    return len(_WHITESPACE.sub("", document))


def check_inline_policies(kind: str, name: str, documents: Sequence[str]) -> None:
    """The aggregate size of a user's (or role's) inline policies."""
    limit = USER_INLINE_POLICY_CHARS if kind == "user" else ROLE_INLINE_POLICY_CHARS
    if sum(policy_size(d) for d in documents) > limit:
        raise LimitExceeded(f"Maximum policy size of {limit} bytes exceeded for {kind} {name}")


def check_trust_policy_size(document: str) -> None:
    if policy_size(document) > TRUST_POLICY_CHARS:
        raise LimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_CHARS}")


def session_duration(requested: int | None, role_max: int, chained: bool) -> int:
    """The lifetime of a new session, or STS's ValidationError."""
    duration = DEFAULT_MAX_SESSION_SECONDS if requested is None else requested
    if chained and duration > CHAINED_SESSION_SECONDS:
        raise ValidationError(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles "
            "assumed by role chaining."
        )
    if duration > role_max:
        raise ValidationError(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    if duration < MIN_SESSION_SECONDS:
        raise ValidationError(
            f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed "
            f"to satisfy constraint: Member must have value greater than or equal to "
            f"{MIN_SESSION_SECONDS}"
        )
    return duration
