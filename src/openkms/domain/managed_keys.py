"""AWS managed keys and their predefined aliases (``alias/aws/<service>``).

AWS references: "AWS managed keys" (developer guide ``concepts.html#aws-managed-key``),
the ListAliases and DescribeKey API pages, and "Rotating AWS KMS keys".

* Every account has, in every Region, predefined aliases ``alias/aws/<service>``.
  ListAliases shows them; until the AWS managed key exists they have no TargetKeyId
  (nor dates). They do not count against the alias quota.
* The AWS managed key is created when first referenced: AWS services create it on first
  use, and "If you call the DescribeKey operation on a predefined AWS alias, that is, an
  AWS alias with no key ID, AWS KMS creates an AWS managed key. Then, it associates the
  alias with the new KMS key" (DescribeKey API reference). No AWS service calls OpenKMS:
  here DescribeKey creates it, and so does the first request made through the service
  by a principal acting for it (``kms:ViaService``, :mod:`openkms.service.conditions`).
* It is a symmetric encryption key, ``KeyManager: AWS``, described as ``Default key that
  protects my <what> when no other key is defined``, rotated every year (365 days)
  automatically; its key policy lets the account's principals use it only through the
  service (``kms:ViaService``, ``kms:CallerAccount``) and lets the account read its
  metadata (``Describe*``, ``Get*``, ``List*``). Nothing else is allowed, so the
  customer cannot change it (PutKeyPolicy, DisableKey, ScheduleKeyDeletion, TagResource,
  CreateAlias, ... are refused by that policy: AccessDeniedException), and its alias
  cannot be created, moved or deleted (``alias/aws/`` is reserved).

Which services have a predefined alias varies by account, Region and date; AWS lists
none. The table below is the set OpenKMS predefines: services whose own encryption
documentation names an ``alias/aws/<service>`` AWS managed key. The description
and the policy follow AWS's pattern (the S3 and EBS keys' as AWS documents and shows
them); the per-service words (``<what>``, the service's title in the statement id, the
policy ``Id``) are OpenKMS's, not recorded from AWS for every service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from openkms.domain.aliases import RESERVED_PREFIX
from openkms.domain.keys import (
    DAY_SECONDS,
    Key,
    KeyManager,
    KeySpec,
    KeyState,
    KeyUsage,
    Origin,
)
from openkms.domain.principals import root_arn

#: AWS managed keys rotate every year (not configurable).
MANAGED_ROTATION_DAYS = 365


@dataclass(frozen=True, slots=True)
class ManagedService:
    """One AWS service with a predefined alias."""

    #: The alias's last part: ``alias/aws/<alias_name>``.
    alias_name: str
    #: The service's endpoint name in ``kms:ViaService`` (``<name>.<region>.amazonaws.com``).
    endpoint: str
    #: The service's name in the key policy's statement id (``Allow access through S3 ...``).
    title: str
    #: What the key protects, in its description.
    protects: str
    #: Whether the service creates grants on the key (EBS, RDS, ...): its policy then
    #: also allows kms:CreateGrant through the service and RevokeGrant to the account.
    grants: bool = False

    @property
    def alias(self) -> str:
        return RESERVED_PREFIX + self.alias_name

    def via_service(self, region: str) -> str:
        return f"{self.endpoint}.{region}.amazonaws.com"

    @property
    def description(self) -> str:
        return f"Default key that protects my {self.protects} when no other key is defined"


#: The predefined aliases OpenKMS lists (see the module docstring).
MANAGED_SERVICES: tuple[ManagedService, ...] = (
    ManagedService("acm", "acm", "ACM", "ACM private keys", grants=True),
    ManagedService("dynamodb", "dynamodb", "Amazon DynamoDB", "DynamoDB tables", grants=True),
    ManagedService("ebs", "ec2", "EBS", "EBS volumes", grants=True),
    ManagedService("elasticfilesystem", "elasticfilesystem", "EFS", "EFS filesystems", True),
    ManagedService("es", "es", "Amazon OpenSearch Service", "OpenSearch domains", grants=True),
    ManagedService("glue", "glue", "AWS Glue", "Glue data"),
    ManagedService("kinesisvideo", "kinesisvideo", "Kinesis Video Streams", "Kinesis Video data"),
    ManagedService("lambda", "lambda", "Lambda", "Lambda functions"),
    ManagedService("rds", "rds", "RDS", "RDS database volumes", grants=True),
    ManagedService("redshift", "redshift", "Amazon Redshift", "Redshift data", grants=True),
    ManagedService("s3", "s3", "S3", "S3 objects"),
    ManagedService("secretsmanager", "secretsmanager", "SecretsManager", "Secrets Manager data"),
    ManagedService("ssm", "ssm", "SSM", "SSM parameters"),
    ManagedService("xray", "xray", "X-Ray", "X-Ray data"),
)

_BY_ALIAS: dict[str, ManagedService] = {s.alias: s for s in MANAGED_SERVICES}

#: The predefined alias names, sorted (as ListAliases pages them).
PREDEFINED_ALIASES: tuple[str, ...] = tuple(sorted(_BY_ALIAS))


def service_of_alias(name: str) -> ManagedService | None:
    """The service whose predefined alias ``name`` is (None: not a predefined alias)."""
    return _BY_ALIAS.get(name)


def managed_policy(service: ManagedService, account: str, region: str) -> str:
    """The key policy of an AWS managed key, in the layout GetKeyPolicy returns."""
    use = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"]
    read = ["kms:Describe*", "kms:Get*", "kms:List*"]
    if service.grants:
        use.append("kms:CreateGrant")
        read.append("kms:RevokeGrant")
    use.append("kms:DescribeKey")
    document = {
        "Version": "2012-10-17",
        "Id": f"auto-{service.alias_name}-1",
        "Statement": [
            {
                "Sid": f"Allow access through {service.title} for all principals in the "
                f"account that are authorized to use {service.title}",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": use,
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": account,
                        "kms:ViaService": service.via_service(region),
                    }
                },
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": root_arn(account)},
                "Action": read,
                "Resource": "*",
            },
        ],
    }
    return json.dumps(document, indent=2, separators=(",", " : "))


def managed_key(service: ManagedService, key_id: str, account: str, region: str, now: float) -> Key:
    """A new AWS managed key for ``service``: Enabled, rotating every year from now."""
    return Key(
        key_id=key_id,
        account=account,
        region=region,
        spec=KeySpec.SYMMETRIC_DEFAULT,
        usage=KeyUsage.ENCRYPT_DECRYPT,
        origin=Origin.AWS_KMS,
        manager=KeyManager.AWS,
        state=KeyState.ENABLED,
        description=service.description,
        policy=managed_policy(service, account, region),
        created_at=now,
        current_version=1,
        rotation_enabled=True,
        rotation_period_days=MANAGED_ROTATION_DAYS,
        next_rotation_date=now + MANAGED_ROTATION_DAYS * DAY_SECONDS,
    )
