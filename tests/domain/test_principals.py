"""The account root's ARN and the "is root" test, each built in one place
(:mod:`openkms.domain.principals`)."""

from __future__ import annotations

import re
from pathlib import Path

import openkms
from openkms.domain.policy import default_policy
from openkms.domain.principals import Principal, PrincipalKind, is_root_arn, root_arn

A = "111122223333"


def test_root_arn() -> None:
    assert root_arn(A) == "arn:aws:iam::111122223333:root"


def test_is_root_arn_is_exact() -> None:
    assert is_root_arn("arn:aws:iam::111122223333:root", A)
    assert not is_root_arn("arn:aws:iam::444455556666:root", A)
    assert not is_root_arn("arn:aws:iam::111122223333:user/root", A)
    assert not is_root_arn("arn:aws-cn:iam::111122223333:root", A)
    assert not is_root_arn("arn:aws:iam::111122223333:root ", A)


def test_principal_root_uses_both() -> None:
    root = Principal.root(A, "AKIAEXAMPLE")
    assert root.arn == root_arn(A) and root.is_root
    assert not Principal(A, root_arn("444455556666"), "AK").is_root  # other account's ARN
    user = Principal.user(A, root_arn(A), "AK", user_id="AIDA", user_name="root")
    assert user.kind is PrincipalKind.IAM_USER and not user.is_root  # kind must agree


def test_default_policy_names_the_root_arn() -> None:
    assert f'"AWS" : "{root_arn(A)}"' in default_policy(A)


def test_root_arn_is_spelled_only_in_principals() -> None:
    """No other module builds ``arn:aws:iam::…:root`` by hand (a literal ARN in a docstring
    or comment is fine; a format string is not)."""
    src = Path(openkms.__file__).parent
    built = re.compile(r"""f["'][^"'\n]*arn:aws:iam::\{[^}]*\}:root""")
    found = {
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        if built.search(path.read_text(encoding="utf-8"))
    }
    assert found == {"domain/principals.py"}
