"""The seed file of ``openkms serve --seed FILE``: read and checked, before anything starts.

A YAML document that names what a server starts with (and, in ``--dev`` mode, comes back
to after every ``POST /_openkms/reset``): keys with fixed ids, their aliases, tags, key
policies and grants, and IAM users with fixed access keys and inline policies. In
``--dev`` mode a symmetric or HMAC key may carry its key material (base64) and an
asymmetric key its PKCS#8 private key (base64 DER or PEM), so that ciphertexts, MACs and
signatures committed to a repository keep verifying; a server without ``--dev`` refuses a
file with key material, because material written in a file is no secret.

Everything this module can check without the service is checked here: the fields each
object may have, their types, key ids, specs, usages, material, access key ids. What the
AWS API rules decide (alias names, tags, policy documents, grant operations, user names)
is checked when the seed is applied through the same handlers a caller reaches
(:mod:`openkms.server.seed`). Either way the error names the file, the line and the field,
e.g. ``seed.yaml:12: keys[0].spec: unknown key spec 'AES_256'``: the YAML is composed into
nodes, which keep their line, before it becomes Python values.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from openkms.crypto.asymmetric import InvalidKeyMaterialError, load_private_key
from openkms.crypto.symmetric import BACKING_KEY_LEN
from openkms.domain.keys import KeySpec, KeyUsage
from openkms.domain.keyspecs import usages

#: Where a value came from: the field's path within the file and its (1-based) line.
Lines = dict[tuple[object, ...], int]

_ACCESS_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")
_PEM = re.compile(r"-----BEGIN PRIVATE KEY-----(.*?)-----END PRIVATE KEY-----", re.S)


class SeedError(Exception):
    """The seed file cannot be used; the message names the file, line and field."""


@dataclass(frozen=True)
class Where:
    """A place in the seed file, for error messages."""

    file: str
    line: int
    field: str

    def error(self, message: str) -> SeedError:
        return SeedError(f"{self.file}:{self.line}: {self.field}: {message}")


@dataclass(frozen=True)
class SeedGrant:
    where: Where
    name: str
    grantee: str
    operations: tuple[str, ...]
    retiring_principal: str | None = None
    #: ``{"EncryptionContextEquals": {...}}`` or ``{"EncryptionContextSubset": {...}}``.
    constraints: Mapping[str, Mapping[str, str]] | None = None


@dataclass(frozen=True)
class SeedKey:
    where: Where
    key_id: str
    spec: KeySpec
    usage: KeyUsage
    description: str = ""
    enabled: bool = True
    #: Fixed key material (``--dev`` only): raw symmetric or HMAC key, or PKCS#8 DER.
    material: bytes | None = field(default=None, repr=False)
    aliases: tuple[tuple[str, Where], ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    tags_where: Where | None = None
    policy: str | None = None
    policy_where: Where | None = None
    grants: tuple[SeedGrant, ...] = ()


@dataclass(frozen=True)
class SeedAccessKey:
    where: Where
    access_key_id: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class SeedUser:
    where: Where
    name: str
    path: str = "/"
    tags: tuple[tuple[str, str], ...] = ()
    policies: tuple[tuple[str, str, Where], ...] = ()
    access_keys: tuple[SeedAccessKey, ...] = ()


@dataclass(frozen=True)
class Seed:
    file: str
    region: str | None
    keys: tuple[SeedKey, ...]
    users: tuple[SeedUser, ...]
    region_where: Where | None = None

    @property
    def has_key_material(self) -> bool:
        return any(key.material is not None for key in self.keys)


def load_seed(path: str, *, dev: bool) -> Seed:
    """Read and check the seed file at ``path``; raises :class:`SeedError`."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(f"cannot read seed file {path}: {getattr(exc, 'strerror', exc)}") from None
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SeedError(f"{path}:{line} not valid YAML: {problem}") from None
    finally:
        loader.dispose()
    lines: Lines = {}
    document = {} if node is None else _value(path, node, (), lines)
    return _Reader(path, lines, dev).seed(document)


def _value(path: str, node: Any, at: tuple[object, ...], lines: Lines) -> Any:
    """Plain Python values of a composed YAML node, every path's line noted in ``lines``."""
    import yaml

    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.constructor.SafeConstructor().construct_object(key_node)
            if not isinstance(key, str):
                raise SeedError(f"{path}:{key_node.start_mark.line + 1}: a field name must be text")
            if key in result:
                raise SeedError(
                    f"{path}:{key_node.start_mark.line + 1}: {_name((*at, key))}: given twice"
                )
            result[key] = _value(path, value_node, (*at, key), lines)
            lines[(*at, key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_value(path, item, (*at, i), lines) for i, item in enumerate(node.value)]
    return yaml.constructor.SafeConstructor().construct_object(node)


def _name(at: tuple[object, ...]) -> str:
    """``keys[0].aliases[1]`` for the path ``("keys", 0, "aliases", 1)``."""
    out = ""
    for part in at:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


class _Reader:
    """Turns the document into :class:`Seed`, checking each field where it is."""

    def __init__(self, file: str, lines: Lines, dev: bool) -> None:
        self.file = file
        self.lines = lines
        self.dev = dev

    def where(self, at: tuple[object, ...]) -> Where:
        probe = at
        while probe not in self.lines and probe:
            probe = probe[:-1]
        return Where(self.file, self.lines.get(probe, 1), _name(at))

    def fail(self, at: tuple[object, ...], message: str) -> SeedError:
        return self.where(at).error(message)

    def mapping(
        self, value: Any, at: tuple[object, ...], known: tuple[str, ...], required: tuple[str, ...]
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(at, f"expected a mapping with fields {', '.join(known)}")
        for name in value:
            if name not in known:
                raise self.fail((*at, name), f"unknown field (known: {', '.join(known)})")
        for name in required:
            if name not in value:
                raise self.fail(at, f"missing field {name!r}")
        return value

    def text(self, value: Any, at: tuple[object, ...]) -> str:
        if not isinstance(value, str):
            raise self.fail(at, f"expected text, not {_shown(value)}")
        return value

    def items(self, value: Any, at: tuple[object, ...]) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(at, f"expected a list, not {_shown(value)}")
        return value

    def tags(self, value: Any, at: tuple[object, ...]) -> tuple[tuple[str, str], ...]:
        if not isinstance(value, dict):
            raise self.fail(at, "expected a mapping of tag keys to values")
        for tag_key, tag_value in value.items():
            if not isinstance(tag_value, str):
                raise self.fail(
                    (*at, tag_key), f"a tag value must be text, not {_shown(tag_value)}"
                )
        return tuple(value.items())

    def policy(self, value: Any, at: tuple[object, ...]) -> str:
        """A policy document: a mapping (written as JSON) or the JSON text itself."""
        if isinstance(value, dict):
            return json.dumps(value)
        if isinstance(value, str):
            return value
        raise self.fail(at, "expected a policy document (a mapping, or its JSON text)")

    # --- the document ---------------------------------------------------------------

    def seed(self, document: Any) -> Seed:
        top = self.mapping(document, (), ("region", "keys", "users"), ())
        region = self.text(top["region"], ("region",)) if "region" in top else None
        keys = tuple(
            self.key(item, ("keys", i))
            for i, item in enumerate(self.items(top.get("keys", []), ("keys",)))
        )
        seen: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key.key_id in seen:
                raise self.fail(
                    ("keys", i, "id"), f"key id given twice (also keys[{seen[key.key_id]}])"
                )
            seen[key.key_id] = i
        users = tuple(
            self.user(item, ("users", i))
            for i, item in enumerate(self.items(top.get("users", []), ("users",)))
        )
        owners: dict[str, str] = {}
        for user in users:
            for access_key in user.access_keys:
                if access_key.access_key_id in owners:
                    raise access_key.where.error(
                        f"access key {access_key.access_key_id} given twice (also "
                        f"{owners[access_key.access_key_id]})"
                    )
                owners[access_key.access_key_id] = access_key.where.field
        return Seed(self.file, region, keys, users, self.where(("region",)))

    def key(self, value: Any, at: tuple[object, ...]) -> SeedKey:
        fields = ("id", "spec", "usage", "description", "enabled", "material", "aliases", "tags")
        known = (*fields, "policy", "grants")
        raw = self.mapping(value, at, known, ("id",))
        key_id = self.text(raw["id"], (*at, "id"))
        if not _is_uuid(key_id):
            raise self.fail(
                (*at, "id"),
                f"not a key id: {key_id!r} (a lower-case UUID such as "
                "1234abcd-12ab-34cd-56ef-1234567890ab)",
            )
        spec = self.enum(KeySpec, raw.get("spec", "SYMMETRIC_DEFAULT"), (*at, "spec"), "key spec")
        allowed = usages(spec)
        if "usage" in raw:
            usage = self.enum(KeyUsage, raw["usage"], (*at, "usage"), "key usage")
            if usage not in allowed:
                raise self.fail(
                    (*at, "usage"), f"{usage.value} is not a usage of {spec.value} keys"
                )
        elif len(allowed) == 1:
            usage = next(iter(allowed))
        else:
            names = ", ".join(sorted(u.value for u in allowed))
            raise self.fail(
                at, f"missing field 'usage' ({spec.value} keys may be used for {names})"
            )
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise self.fail((*at, "enabled"), f"expected true or false, not {_shown(enabled)}")
        aliases = tuple(
            (self.text(alias, (*at, "aliases", i)), self.where((*at, "aliases", i)))
            for i, alias in enumerate(self.items(raw.get("aliases", []), (*at, "aliases")))
        )
        grants = tuple(
            self.grant(item, (*at, "grants", i), key_id, i)
            for i, item in enumerate(self.items(raw.get("grants", []), (*at, "grants")))
        )
        material = None
        if "material" in raw:
            material = self.material(raw["material"], (*at, "material"), spec)
        return SeedKey(
            where=self.where(at),
            key_id=key_id,
            spec=spec,
            usage=usage,
            description=self.text(raw.get("description", ""), (*at, "description")),
            enabled=enabled,
            material=material,
            aliases=aliases,
            tags=self.tags(raw.get("tags", {}), (*at, "tags")),
            tags_where=self.where((*at, "tags")),
            policy=self.policy(raw["policy"], (*at, "policy")) if "policy" in raw else None,
            policy_where=self.where((*at, "policy")),
            grants=grants,
        )

    def enum(
        self, kind: Callable[[str], Any], value: Any, at: tuple[object, ...], what: str
    ) -> Any:
        try:
            return kind(self.text(value, at))
        except ValueError:
            raise self.fail(at, f"unknown {what} {value!r}") from None

    def material(self, value: Any, at: tuple[object, ...], spec: KeySpec) -> bytes:
        if not self.dev:
            raise self.fail(
                at,
                "key material in a seed file is refused without --dev (material written in a "
                "file is no secret; let the server make it)",
            )
        text = self.text(value, at)
        pem = _PEM.search(text)
        try:
            material = base64.b64decode(
                "".join((pem.group(1) if pem else text).split()), validate=True
            )
        except (binascii.Error, ValueError):
            raise self.fail(at, "not base64 (or a PEM private key)") from None
        if spec is KeySpec.SYMMETRIC_DEFAULT:
            if len(material) != BACKING_KEY_LEN:
                raise self.fail(
                    at,
                    f"SYMMETRIC_DEFAULT material must be {BACKING_KEY_LEN} bytes, "
                    f"not {len(material)}",
                )
            return material
        try:
            load_private_key(spec.value, material)
        except InvalidKeyMaterialError as exc:
            raise self.fail(at, str(exc)) from None
        return material

    def grant(self, value: Any, at: tuple[object, ...], key_id: str, index: int) -> SeedGrant:
        known = ("name", "grantee", "operations", "retiring_principal", "constraints")
        raw = self.mapping(value, at, known, ("grantee", "operations"))
        operations = tuple(
            self.text(op, (*at, "operations", i))
            for i, op in enumerate(self.items(raw["operations"], (*at, "operations")))
        )
        constraints = None
        if "constraints" in raw:
            kinds = {
                "encryption_context_equals": "EncryptionContextEquals",
                "encryption_context_subset": "EncryptionContextSubset",
            }
            given = self.mapping(raw["constraints"], (*at, "constraints"), tuple(kinds), ())
            constraints = {
                kinds[name]: dict(self.tags(context, (*at, "constraints", name)))
                for name, context in given.items()
            }
        retiring = raw.get("retiring_principal")
        return SeedGrant(
            where=self.where(at),
            # Named, so that applying the seed again over state that kept the grant (a
            # restart with a data directory) is CreateGrant's retry, not a second grant.
            name=self.text(raw.get("name", f"seed-{index}"), (*at, "name")),
            grantee=self.text(raw["grantee"], (*at, "grantee")),
            operations=operations,
            retiring_principal=None
            if retiring is None
            else self.text(retiring, (*at, "retiring_principal")),
            constraints=constraints,
        )

    def user(self, value: Any, at: tuple[object, ...]) -> SeedUser:
        known = ("name", "path", "tags", "policies", "access_keys")
        raw = self.mapping(value, at, known, ("name",))
        policies = raw.get("policies", {})
        if not isinstance(policies, dict):
            raise self.fail((*at, "policies"), "expected a mapping of policy names to documents")
        keys = []
        for i, item in enumerate(self.items(raw.get("access_keys", []), (*at, "access_keys"))):
            where = (*at, "access_keys", i)
            entry = self.mapping(item, where, ("id", "secret"), ("id", "secret"))
            access_key_id = self.text(entry["id"], (*where, "id"))
            if not _ACCESS_KEY_ID.fullmatch(access_key_id):
                raise self.fail(
                    (*where, "id"),
                    f"not an access key id: {access_key_id!r} (16-128 upper-case letters and "
                    "digits, e.g. AKIAIOSFODNN7EXAMPLE)",
                )
            secret = self.text(entry["secret"], (*where, "secret"))
            if len(secret) < 16 or any(c.isspace() for c in secret):
                raise self.fail(
                    (*where, "secret"), "a secret access key has 16 or more characters, no spaces"
                )
            keys.append(SeedAccessKey(self.where(where), access_key_id, secret))
        return SeedUser(
            where=self.where(at),
            name=self.text(raw["name"], (*at, "name")),
            path=self.text(raw.get("path", "/"), (*at, "path")),
            tags=self.tags(raw.get("tags", {}), (*at, "tags")),
            policies=tuple(
                (
                    self.text(name, (*at, "policies", name)),
                    self.policy(document, (*at, "policies", name)),
                    self.where((*at, "policies", name)),
                )
                for name, document in policies.items()
            ),
            access_keys=tuple(keys),
        )


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)
