"""Aliases: friendly names that point at one key in the same account and region.

Rules from "Using aliases" and the CreateAlias API reference
(https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html): the name
begins with ``alias/``; ``alias/aws/`` is reserved for AWS managed keys. AWS documents
the reservation but not the error; a customer's CreateAlias or UpdateAlias naming one
gets InvalidAliasNameException, the error CreateAlias documents for an alias name that is
not valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openkms.errors import InvalidAliasNameException, ValidationException

ALIAS_PREFIX = "alias/"
RESERVED_PREFIX = "alias/aws/"
_NAME = re.compile(r"alias/[a-zA-Z0-9/_-]+")


@dataclass(frozen=True, slots=True)
class Alias:
    account: str
    region: str
    name: str
    target_key_id: str
    created_at: float
    updated_at: float

    @property
    def arn(self) -> str:
        return f"arn:aws:kms:{self.region}:{self.account}:{self.name}"


def check_customer_alias_name(name: str) -> None:
    """Raise unless ``name`` is one a customer may create, update or delete."""
    if not name.startswith(ALIAS_PREFIX):
        raise ValidationException(
            'Alias must start with the prefix "alias/". Please see '
            "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
        )
    if name.startswith(RESERVED_PREFIX) or name == "alias/aws":
        raise InvalidAliasNameException(
            'Alias must not begin with "alias/aws/". Those aliases are reserved for AWS '
            "managed keys."
        )
    if _NAME.fullmatch(name) is None:
        raise InvalidAliasNameException(
            f"Alias {name} contains characters that are not valid. Alias names may contain "
            "only alphanumeric characters, forward slashes (/), underscores (_) and dashes (-)."
        )
