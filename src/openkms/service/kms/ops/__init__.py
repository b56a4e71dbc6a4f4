"""Operation handlers, one module per family. Importing this package registers them."""

from openkms.service.kms.ops import (
    aliases,
    asymmetric,
    crypto,
    grants,
    imports,
    keys,
    policies,
    rotation,
    tags,
)

__all__ = [
    "aliases",
    "asymmetric",
    "crypto",
    "grants",
    "imports",
    "keys",
    "policies",
    "rotation",
    "tags",
]
