"""Applying a seed file (:mod:`openkms.server.seed_file`): at start, and after every reset.

The seed is applied as the account's root user would make it, through the same service
entry points a request reaches, so that every AWS rule applies and a bad value gets the
AWS error a caller would get (named with the file, line and field): IAM users, their tags
and inline policies go through ``CreateUser`` and ``PutUserPolicy`` (decoded and checked by
the query protocol's codec), and each key's description, tags, aliases, grants, policy and
state through ``UpdateKeyDescription``, ``TagResource``, ``CreateAlias``, ``CreateGrant``,
``PutKeyPolicy`` and ``DisableKey`` (checked against botocore's model first, as requests
are). Only what no API can do is written directly, with the storage layer's repository
functions and the domain's values, as the handlers write them: a key with a fixed id (and,
in ``--dev`` mode, fixed material sealed by the keyring like any other), and an access key
with a fixed id and secret.

The seed creates what is not there, and leaves what is: a key, user, alias or access key
that exists (a restart over a data directory) is kept as it is, and grants are named, so
that applying the seed again is CreateGrant's retry. After ``POST /_openkms/reset`` (which
wipes keys, aliases, grants, tags and IAM state) everything seeded comes back as the file
describes it.
The policy is put with the lockout check bypassed (``BypassPolicyLockoutSafetyCheck``):
the seed is the operator's configuration, and a key meant to be used by one test user
only is a fair thing to seed. Seeding is configuration, not a caller's request: it leaves
no audit records.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from openkms.auth.sigv4 import is_region_name
from openkms.crypto import contexts
from openkms.domain import policy as key_policies
from openkms.domain.identities import AccessKeyInfo, KeyStatus
from openkms.domain.keys import Key, KeyManager, KeyMaterial, KeyState, Origin
from openkms.domain.principals import Principal
from openkms.errors import AWSError
from openkms.server.bootstrap import Runtime, Settings
from openkms.server.seed_file import Seed, SeedError, SeedKey, SeedUser, Where, load_seed
from openkms.service.context import RequestContext
from openkms.service.identity.dispatch import IdentityService
from openkms.service.kms.materials import new_material
from openkms.storage.identity import repository as identity_records
from openkms.storage.keys import repository as key_records
from openkms.wire.query import QueryProtocol
from openkms.wire.validation import validate

#: The access key id the seed's calls are made with (it names no stored key).
SEED_CALLER = "openkms-seed"
_IAM_VERSION = "2010-05-08"


class Seeder:
    """One seed file, applied to one server process's runtime when asked."""

    def __init__(self, seed: Seed) -> None:
        self.seed = seed
        self._iam: QueryProtocol | None = None
        #: ``--dev`` only: material made for seeded keys without any, by key id, so that a
        #: reset brings them back with the same material (ciphertexts made before a reset
        #: still decrypt, and an RSA key is not made again for every test). Process memory
        #: only, like the material cache.
        self._made: dict[str, bytes] = {}

    @classmethod
    def load(cls, settings: Settings) -> Seeder | None:
        """The seeder of ``settings.seed_file`` (None: no seed file); raises
        :class:`SeedError` for a file that cannot be used."""
        if settings.seed_file is None:
            return None
        seed = load_seed(settings.seed_file, dev=settings.dev)
        if seed.region is not None and seed.region_where is not None:
            if not is_region_name(seed.region):
                raise seed.region_where.error(f"not an AWS region name: {seed.region!r}")
            if settings.regions and seed.region not in settings.regions:
                served = ", ".join(settings.regions)
                raise seed.region_where.error(
                    f"region {seed.region} is not served (--regions {served})"
                )
        return cls(seed)

    def apply(self, runtime: Runtime) -> None:
        """Create what the seed names and the state lacks; raises :class:`SeedError`."""
        settings = runtime.settings
        ctx = RequestContext(
            request_id=os.urandom(16).hex(),
            principal=Principal.root(settings.account_id, SEED_CALLER),
            region=self.seed.region or settings.region,
            now=time.time(),
            user_agent="openkms-seed",
        )
        identity = IdentityService(
            runtime.store, runtime.credentials.keyring, on_key_change=runtime.credentials.forget
        )
        for user in self.seed.users:
            self._user(runtime, identity, ctx, user)
        created = [key for key in self.seed.keys if self._insert_key(runtime, ctx, key)]
        for key in created:
            self._configure_key(runtime, ctx, key)

    # --- users ----------------------------------------------------------------------

    def _iam_call(
        self, identity: IdentityService, ctx: RequestContext, where: Where, form: dict[str, str]
    ) -> None:
        if self._iam is None:
            self._iam = QueryProtocol("iam")
        try:
            name, params = self._iam.decode_request({**form, "Version": _IAM_VERSION})
            identity.dispatch("iam", ctx, name, params)
        except AWSError as err:  # named by the code an IAM caller would get
            raise where.error(f"{self._iam.error_code(err)[0]}: {err.message}") from None

    def _user(
        self, runtime: Runtime, identity: IdentityService, ctx: RequestContext, user: SeedUser
    ) -> None:
        with runtime.store.transaction() as tx:
            found = identity_records.get_user(tx, ctx.account, user.name)
        if found is None:
            form = {"Action": "CreateUser", "UserName": user.name, "Path": user.path}
            for i, (tag_key, tag_value) in enumerate(user.tags, start=1):
                form[f"Tags.member.{i}.Key"] = tag_key
                form[f"Tags.member.{i}.Value"] = tag_value
            self._iam_call(identity, ctx, user.where, form)
            for name, document, where in user.policies:
                form = {
                    "Action": "PutUserPolicy",
                    "UserName": user.name,
                    "PolicyName": name,
                    "PolicyDocument": document,
                }
                self._iam_call(identity, ctx, where, form)
        with runtime.store.transaction(write=True) as tx:
            owner = identity_records.get_user(tx, ctx.account, user.name)
            assert owner is not None  # made above, or there already
            for access_key in user.access_keys:
                known = identity_records.long_term_key(tx, access_key.access_key_id)
                if known is not None:
                    if known.principal_arn != owner.arn:
                        raise access_key.where.error(
                            f"access key {access_key.access_key_id} belongs to "
                            f"{known.principal_arn}, not to user {user.name}"
                        )
                    continue
                # As CreateAccessKey stores one (openkms.service.identity.access_keys).
                info = AccessKeyInfo(
                    access_key.access_key_id, ctx.account, owner.arn, KeyStatus.ACTIVE, ctx.now
                )
                wrapped = runtime.credentials.keyring.wrap(
                    access_key.secret.encode(),
                    contexts.access_key_secret(access_key.access_key_id),
                )
                identity_records.insert_access_key(tx, info, wrapped)
        for access_key in user.access_keys:
            runtime.credentials.forget(access_key.access_key_id)

    # --- keys -----------------------------------------------------------------------

    def _insert_key(self, runtime: Runtime, ctx: RequestContext, seeded: SeedKey) -> bool:
        """Store the key with its fixed id, as CreateKey would with the default policy
        (the rest follows through the API); False when it exists already."""
        with runtime.store.transaction(write=True) as tx:
            existing = key_records.get_key(tx, seeded.key_id, for_update=True)
            if existing is not None:
                if existing.spec is not seeded.spec:
                    raise seeded.where.error(
                        f"key {seeded.key_id} exists with key spec {existing.spec.value}, "
                        f"not {seeded.spec.value}"
                    )
                return False
            plain = seeded.material or self._made.get(seeded.key_id)
            if plain is None:
                try:
                    plain = new_material(seeded.spec)
                except AWSError as err:  # a spec this server cannot make keys of
                    raise seeded.where.error(f"{err.type_name}: {err.message}") from None
                if runtime.settings.dev:
                    self._made[seeded.key_id] = plain
            key = Key(
                key_id=seeded.key_id,
                account=ctx.account,
                region=ctx.region,
                spec=seeded.spec,
                usage=seeded.usage,
                origin=Origin.AWS_KMS,
                manager=KeyManager.CUSTOMER,
                state=KeyState.ENABLED,
                description="",
                policy=key_policies.default_policy(ctx.account),
                created_at=ctx.now,
                current_version=1,
            )
            material = KeyMaterial(
                key_id=key.key_id,
                version=1,
                material_id=os.urandom(32).hex(),
                wrapped=runtime.service.keyring.wrap(plain, contexts.key_material(key.key_id, 1)),
                created_at=ctx.now,
            )
            key_records.insert_key(tx, key, material, {})
        return True

    def _configure_key(self, runtime: Runtime, ctx: RequestContext, seeded: SeedKey) -> None:
        key_id = seeded.key_id

        def call(name: str, params: dict[str, Any], where: Where) -> Mapping[str, Any]:
            try:
                checked = validate(name, params, ctx.region)
                return runtime.service.dispatch(ctx, name, checked)
            except AWSError as err:
                raise where.error(f"{err.type_name}: {err.message}") from None

        if seeded.description:
            description = {"KeyId": key_id, "Description": seeded.description}
            call("UpdateKeyDescription", description, seeded.where)
        if seeded.tags:
            tags = [{"TagKey": k, "TagValue": v} for k, v in seeded.tags]
            call("TagResource", {"KeyId": key_id, "Tags": tags}, seeded.tags_where or seeded.where)
        for alias, where in seeded.aliases:
            call("CreateAlias", {"AliasName": alias, "TargetKeyId": key_id}, where)
        for grant in seeded.grants:
            params: dict[str, Any] = {
                "KeyId": key_id,
                "Name": grant.name,
                "GranteePrincipal": grant.grantee,
                "Operations": list(grant.operations),
            }
            if grant.retiring_principal is not None:
                params["RetiringPrincipal"] = grant.retiring_principal
            if grant.constraints is not None:
                params["Constraints"] = {k: dict(v) for k, v in grant.constraints.items()}
            call("CreateGrant", params, grant.where)
        if not seeded.enabled:
            call("DisableKey", {"KeyId": key_id}, seeded.where)
        if seeded.policy is not None:  # last: it may leave the root user no say
            params = {
                "KeyId": key_id,
                "PolicyName": "default",
                "Policy": seeded.policy,
                "BypassPolicyLockoutSafetyCheck": True,
            }
            call("PutKeyPolicy", params, seeded.policy_where or seeded.where)


__all__ = ["SeedError", "Seeder"]
