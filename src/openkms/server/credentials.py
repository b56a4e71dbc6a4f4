"""Credentials: stored wrapped under the root keyring, looked up per request, cached.

Three kinds of access key id resolve to a principal:

* an account root's long-term key (``access_keys``, principal ``arn:aws:iam::ACCT:root``);
* an IAM user's long-term key (``access_keys``, principal the user's ARN);
* an STS session's temporary key (``sts_sessions``), valid only with its session token
  and only until it expires.

The SigV4 verifier asks for a secret by access key id (:meth:`CredentialStore.secret`);
the app then asks who signed (:meth:`CredentialStore.principal_for`), which raises the
AWS error for a key that is unknown, inactive, deleted, used with a wrong or missing
session token (``UnrecognizedClientException``, "The security token included in the
request is invalid.") or expired (``ExpiredTokenException``, "The security token
included in the request is expired").

Secrets are cached in process memory. Freshness, per kind:

* a user's key is re-read on every request (one indexed read), so DeleteAccessKey,
  UpdateAccessKey and DeleteUser take effect on every node at once;
* a root key is re-read after :data:`ROOT_RECHECK_SECONDS` (the KMS hot path reads
  nothing), and at once in the process that changed it (:meth:`forget`);
* a session is immutable; its expiry, and that its role still exists with the unique
  id (``AROA...``) it was issued for, are checked on every request (one indexed read):
  a role deleted and re-created under the same name never revives an old session
  (``UnrecognizedClientException``, the invalid-token error).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from openkms.crypto import contexts
from openkms.crypto.keyring import Keyring, UnwrapError
from openkms.domain import identities as ids
from openkms.domain.identities import KeyStatus
from openkms.domain.principals import Principal, PrincipalKind, is_root_arn, root_arn
from openkms.errors import ExpiredTokenException, UnrecognizedClientException
from openkms.storage import shared as shared_records
from openkms.storage.identity import repository as identity_records
from openkms.storage.repository import StorageError, Store

INVALID_TOKEN = "The security token included in the request is invalid."
EXPIRED_TOKEN = "The security token included in the request is expired"
ROOT_RECHECK_SECONDS = 5.0
_MAX_CACHED = 10_000

#: Kept for callers of the original module: the keyring AAD of a long-term key's secret.
new_access_key_id = ids.new_access_key_id
new_secret_access_key = ids.new_secret_access_key


@dataclass(slots=True)
class _Entry:
    secret: str
    principal: Principal
    wrapped: bytes
    token_hash: str | None  # sessions only
    fresh_until: float  # root keys: monotonic time until which no re-read is needed


class CredentialStore:
    def __init__(
        self, store: Store, keyring: Keyring, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._clock = clock
        self._cache: dict[str, _Entry] = {}

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    # --- lookups --------------------------------------------------------------------

    def _read(self, access_key_id: str) -> _Entry | None:
        """Read a key from the database (None: unknown, inactive or unreadable)."""
        with self._store.transaction() as tx:
            row = identity_records.long_term_key(tx, access_key_id)
            session = None if row is not None else identity_records.get_session(tx, access_key_id)
        try:
            if row is not None:
                owner = _principal(row)
                if owner is None or row.status is not KeyStatus.ACTIVE:
                    return None
                secret = self._keyring.unwrap(
                    row.wrapped_secret, contexts.access_key_secret(access_key_id)
                )
                return _Entry(secret.decode(), owner, row.wrapped_secret, None, _fresh(owner))
            if session is not None:
                info, digest, wrapped = session
                secret = self._keyring.unwrap(wrapped, contexts.session_secret(access_key_id))
                principal = Principal.assumed_role(
                    info.account,
                    access_key_id,
                    role_arn=info.role_arn,
                    role_id=info.role_id,
                    session_name=info.session_name,
                    expiration=info.expires_at,
                    tags=info.tags,
                    session_policy=info.session_policy,
                )
                return _Entry(secret.decode(), principal, wrapped, digest, 0.0)
        except UnwrapError:
            return None
        return None

    def _load(self, access_key_id: str) -> _Entry | None:
        found = self._cache.get(access_key_id)
        if found is not None:
            return found
        entry = self._read(access_key_id)
        if entry is not None:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[access_key_id] = entry
        return entry

    def secret(self, access_key_id: str) -> str | None:
        """The secret of ``access_key_id`` for signature checks (no liveness checks)."""
        entry = self._load(access_key_id)
        return None if entry is None else entry.secret

    def principal(self, access_key_id: str) -> Principal | None:
        """Who owns ``access_key_id``, as last read; no token, expiry or status checks.
        Request paths use :meth:`principal_for`."""
        entry = self._load(access_key_id)
        return None if entry is None else entry.principal

    def principal_for(self, access_key_id: str, session_token: str | None) -> Principal:
        """The principal that signed a verified request, or the AWS error refusing it."""
        entry = self._cache.get(access_key_id)
        if entry is not None and session_token is None and entry.fresh_until > _monotonic():
            return entry.principal  # a root key read moments ago: the KMS hot path
        entry = self._load(access_key_id)
        if entry is None:
            raise UnrecognizedClientException(INVALID_TOKEN)
        principal = entry.principal
        if entry.token_hash is not None:  # an STS session
            if session_token is None or not hmac.compare_digest(
                ids.token_hash(session_token), entry.token_hash
            ):
                raise UnrecognizedClientException(INVALID_TOKEN)
            if principal.expiration is not None and self._clock() >= principal.expiration:
                raise ExpiredTokenException(EXPIRED_TOKEN)
            if not self._role_is_current(principal):
                raise UnrecognizedClientException(INVALID_TOKEN)
            return principal
        if session_token is not None:
            raise UnrecognizedClientException(INVALID_TOKEN)
        if entry.fresh_until > _monotonic():
            return principal
        return self._recheck(access_key_id, entry)

    def _role_is_current(self, session: Principal) -> bool:
        """Whether the role a session was issued for still exists: the same role, by its
        unique id (``AROA...``), not merely one with the same name made since."""
        if session.role_arn is None:
            return False
        name = session.role_arn.rsplit("/", 1)[-1]
        with self._store.transaction() as tx:
            role = identity_records.get_role(tx, session.account, name)
        return role is not None and role.role_id == session.unique_id

    def _recheck(self, access_key_id: str, entry: _Entry) -> Principal:
        """Re-read a long-term key (not its secret: a key id never gets another secret)."""
        with self._store.transaction() as tx:
            row = identity_records.long_term_key(tx, access_key_id)
        owner = None if row is None else _principal(row)
        if (
            row is None
            or owner is None
            or row.status is not KeyStatus.ACTIVE
            or row.wrapped_secret != entry.wrapped
        ):
            self._cache.pop(access_key_id, None)
            raise UnrecognizedClientException(INVALID_TOKEN)
        self._cache[access_key_id] = _Entry(entry.secret, owner, entry.wrapped, None, _fresh(owner))
        return owner

    def forget(self, access_key_id: str) -> None:
        """Drop a key from this process's cache (it changed or was deleted)."""
        self._cache.pop(access_key_id, None)

    # --- root keys ------------------------------------------------------------------

    def put_root(self, account: str, access_key_id: str, secret: str, now: float) -> None:
        """Store an account's root access key; a no-op when it is stored already."""
        arn = root_arn(account)
        known = self._load(access_key_id)
        if known is not None and known.secret == secret and known.principal.arn == arn:
            return
        wrapped = self._keyring.wrap(secret.encode(), contexts.access_key_secret(access_key_id))
        for attempt in range(3):
            try:
                with self._store.transaction(write=True) as tx:
                    shared_records.put_access_key(tx, access_key_id, account, arn, wrapped, now)
                break
            except StorageError:
                # Another node stored the same key at the same moment: try again.
                if attempt == 2:
                    raise
        self._cache.pop(access_key_id, None)

    def revoke_other_roots(self, account: str, keep: str) -> list[str]:
        """Delete every root access key of ``account`` but ``keep``; return the ones deleted."""
        with self._store.transaction(write=True) as tx:
            revoked = [a for a in shared_records.root_access_key_ids(tx, account) if a != keep]
            for access_key_id in revoked:
                shared_records.delete_access_key(tx, access_key_id)
        for access_key_id in revoked:
            self._cache.pop(access_key_id, None)
        return revoked

    def root_access_key_ids(self, account: str) -> list[str]:
        with self._store.transaction() as tx:
            return shared_records.root_access_key_ids(tx, account)


_monotonic = time.monotonic


def _fresh(owner: Principal) -> float:
    """Until when a long-term key's entry is used without a re-read (users: never)."""
    return _monotonic() + ROOT_RECHECK_SECONDS if owner.kind is PrincipalKind.ROOT else 0.0


def _principal(row: identity_records.LongTermKey) -> Principal | None:
    if row.user_id is not None and row.user_name is not None:
        return Principal.user(
            row.account,
            row.principal_arn,
            row.access_key_id,
            user_id=row.user_id,
            user_name=row.user_name,
            tags=row.tags,
        )
    if is_root_arn(row.principal_arn, row.account):
        return Principal.root(row.account, row.access_key_id)
    return None  # a user's key whose user is gone (DeleteUser never leaves one behind)
