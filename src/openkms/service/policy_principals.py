"""Key-policy principals are bound to unique ids when the policy is saved.

AWS ("Key policies in AWS KMS", "Specifying principals"): IAM users and roles named in a
key policy are bound to their unique ids (``AIDA...``, ``AROA...``) when the policy is
saved. "If the principal is deleted ... the key policy shows the principal's unique ID"
and a user or role re-created under the same name does not inherit the access: "a new
Alice cannot inherit the permissions granted to the old Alice". A policy naming a user,
role or unique id that does not exist is refused: MalformedPolicyDocumentException
"Policy contains a statement with one or more invalid principals."

Design. The policy text stays the source of truth, stored as given. Alongside it,
:data:`openkms.storage.identity.tables.key_policy_principals` records, for each IAM
user or role ARN the text names, the unique id it meant when it was saved
(:func:`bind`, called by CreateKey and PutKeyPolicy through the lockout check). When the
policy is read, for GetKeyPolicy or for authorization, :func:`effective_policy` puts the
bound unique id in place of every ARN whose principal is gone or is now a different
principal (another unique id): a unique id matches no caller, so nobody inherits the
access, and GetKeyPolicy shows what AWS shows. While every bound principal is current
the text is returned unchanged, byte for byte.

Scope: principals of accounts this server knows (registered, or with a root key) are
checked and bound.
Another account's principals cannot be checked here and are neither bound nor refused.
Account principals (``root``, account ids), ``*``, role-session ARNs and service
principals are not IAM entities with unique ids and are left as they are. The read costs
nothing for policies that name no user or role (the default key policy).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator

from openkms.domain.keys import Key
from openkms.errors import MalformedPolicyDocumentException
from openkms.storage.identity import repository as identity_records
from openkms.storage.identity.bindings import bindings_of, replace_bindings
from openkms.storage.repository import Tx

INVALID_PRINCIPALS = "Policy contains a statement with one or more invalid principals."
_ENTITY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):(user|role)/(?:.*/)?([^/]+)")
_UNIQUE_ID = re.compile(r"A(?:IDA|ROA)[A-Z0-9]{12,124}")


def _aws_principals(document: object) -> Iterator[tuple[dict[str, object], str]]:
    """Each Principal/NotPrincipal ``{"AWS": ...}`` object of a policy with each value."""
    if not isinstance(document, dict):
        return
    statements = document.get("Statement")
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict):
            continue
        for element in ("Principal", "NotPrincipal"):
            spec = statement.get(element)
            if not isinstance(spec, dict):
                continue
            values = spec.get("AWS")
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str):
                    yield spec, value


@functools.lru_cache(maxsize=1024)
def _names_entities(text: str) -> bool:
    """Whether a policy text may name a user, role or unique id (cheap, decided once)."""
    return ":user/" in text or ":role/" in text or _UNIQUE_ID.search(text) is not None


def _current_id(tx: Tx, arn: str) -> str | None:
    """The unique id of the user or role ``arn`` names now (None: no such principal)."""
    match = _ENTITY_ARN.fullmatch(arn)
    if match is None:
        return None
    account, kind, name = match.groups()
    if kind == "user":
        user = identity_records.get_user(tx, account, name)
        return user.user_id if user is not None and user.arn == arn else None
    role = identity_records.get_role(tx, account, name)
    return role.role_id if role is not None and role.arn == arn else None


def bind(tx: Tx, key_id: str, text: str) -> None:
    """Check the principals of a key policy being saved and record their unique ids;
    raise MalformedPolicyDocumentException when one of them does not exist."""
    bindings: dict[str, str] = {}
    if _names_entities(text):
        for _, value in _aws_principals(json.loads(text)):
            if _UNIQUE_ID.fullmatch(value):
                if (
                    identity_records.user_by_id(tx, value) is None
                    and identity_records.role_by_id(tx, value) is None
                ):
                    raise MalformedPolicyDocumentException(INVALID_PRINCIPALS)
                continue
            match = _ENTITY_ARN.fullmatch(value)
            if match is None or not identity_records.is_known_account(tx, match.group(1)):
                continue
            unique_id = _current_id(tx, value)
            if unique_id is None:
                raise MalformedPolicyDocumentException(INVALID_PRINCIPALS)
            bindings[value] = unique_id
    replace_bindings(tx, key_id, bindings)


def effective_policy(tx: Tx, key: Key) -> str:
    """The key's policy as it reads now: the ARN of a bound principal that is gone (or is
    another principal of the same name) replaced by the unique id it was bound to."""
    text = key.policy
    if not _names_entities(text):
        return text
    # The users and roles it names change only with the state: read once per generation.
    return tx.cached(("effective_policy", key.key_id, text), lambda: _rebind(tx, key))


def _rebind(tx: Tx, key: Key) -> str:
    text = key.policy
    stale = {
        arn: unique_id
        for arn, unique_id in bindings_of(tx, key.key_id).items()
        if _current_id(tx, arn) != unique_id
    }
    if not stale:
        return text
    document = json.loads(text)
    for spec, value in list(_aws_principals(document)):
        if value not in stale:
            continue
        values = spec["AWS"]
        if isinstance(values, list):
            spec["AWS"] = [stale.get(v, v) if isinstance(v, str) else v for v in values]
        else:
            spec["AWS"] = stale[value]
    return json.dumps(document, indent=2)
