"""The default key policy ("Default key policy",
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).

Parsing, validating and evaluating policy documents is :mod:`openkms.authz`'s work.
"""

from __future__ import annotations

from openkms.domain.principals import root_arn


def default_policy(account: str) -> str:
    """AWS's default key policy, in the layout GetKeyPolicy returns it."""
    return (
        "{\n"
        '  "Version" : "2012-10-17",\n'
        '  "Id" : "key-default-1",\n'
        '  "Statement" : [ {\n'
        '    "Sid" : "Enable IAM User Permissions",\n'
        '    "Effect" : "Allow",\n'
        '    "Principal" : {\n'
        f'      "AWS" : "{root_arn(account)}"\n'
        "    },\n"
        '    "Action" : "kms:*",\n'
        '    "Resource" : "*"\n'
        "  } ]\n"
        "}"
    )
