"""Operation handlers, one module per family, and the registry built from their lists.

Each module lists the operations it serves in ``OPERATIONS``; the registry is exactly
these lists (importing a handler module registers nothing)."""

from openkms.service.kms.ops import (
    aliases,
    asymmetric,
    crypto,
    custom_key_stores,
    grants,
    imports,
    keys,
    multi_region,
    policies,
    rotation,
    tags,
)
from openkms.service.kms.registry import Operation, registry_of

#: Every KMS operation this server serves, by name.
REGISTRY: dict[str, Operation] = registry_of(
    keys.OPERATIONS,
    multi_region.OPERATIONS,
    crypto.OPERATIONS,
    asymmetric.OPERATIONS,
    aliases.OPERATIONS,
    grants.OPERATIONS,
    imports.OPERATIONS,
    policies.OPERATIONS,
    rotation.OPERATIONS,
    tags.OPERATIONS,
    custom_key_stores.OPERATIONS,
)

__all__ = ["REGISTRY"]
