"""explain(): per-statement reasons, and the cost of evaluate()."""

from __future__ import annotations

import json
import time

from openkms.authz import Decision, PrincipalMatch, Request, evaluate, explain, parse_policy
from openkms.domain.policy import default_policy

A = "111122223333"
ALICE = f"arn:aws:iam::{A}:user/alice"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Root",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "Alice",
                "Effect": "Allow",
                "Principal": {"AWS": ALICE},
                "Action": ["kms:Encrypt", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:EncryptionContext:AppName": "ExampleApp"},
                    "Bool": {"aws:SecureTransport": "true"},
                },
            },
            {
                "Sid": "NoDelete",
                "Effect": "Deny",
                "NotPrincipal": {"AWS": [f"arn:aws:iam::{A}:root"]},
                "NotAction": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
                "Resource": "*",
            },
            {"Sid": "Orphan", "Effect": "Allow", "Principal": "*", "Action": "kms:Encrypt"},
            {
                "Sid": "OtherKey",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:*",
                "NotResource": KEY,
            },
        ],
    }
)


def run(action: str, context: dict[str, object]) -> str:
    return explain(
        parse_policy(POLICY, "resource"), Request(ALICE, A, action, KEY, context)
    ).render()


def test_explain_allow_with_reasons() -> None:
    policy = parse_policy(POLICY, "resource")
    req = Request(
        ALICE,
        A,
        "kms:Decrypt",
        KEY,
        {"kms:EncryptionContext:appname": "ExampleApp", "aws:SecureTransport": True},
    )
    exp = explain(policy, req)
    assert exp.result == evaluate(policy, req)
    assert exp.result.decision is Decision.ALLOW
    assert [t.applies for t in exp.statements] == [True, True, False, False, False]
    assert exp.statements[0].principal_match is PrincipalMatch.ACCOUNT
    assert exp.statements[1].principal_match is PrincipalMatch.DIRECT
    assert exp.statements[1].failed == ()
    assert [c.element for c in exp.statements[1].checks] == [
        "Action",
        "Resource",
        "Principal",
        "Condition",
        "Condition",
    ]
    text = exp.render()
    assert "Decision: ALLOW by Statement 0 (Sid 'Root'); Statement 1 (Sid 'Alice')" in text
    assert "ok   Principal [AWS: arn:aws:iam::111122223333:root] covers" in text
    assert "only through account 111122223333" in text
    assert "ok   Principal [AWS: arn:aws:iam::111122223333:user/alice] names" in text
    assert "FAIL 'kms:Decrypt' is listed in NotAction" in text
    assert (
        "FAIL no Resource element: a key policy statement without Resource applies to no key"
        in text
    )
    assert f"FAIL '{KEY}' is listed in NotResource" in text


def test_explain_names_the_failing_condition() -> None:
    text = run(
        "kms:Encrypt", {"kms:EncryptionContext:AppName": "Other", "aws:SecureTransport": True}
    )
    assert (
        "FAIL StringEquals kms:EncryptionContext:AppName [ExampleApp]: key has 'Other'; condition fails"
        in text
    )
    assert "ok   Bool aws:SecureTransport [true]: key has True; condition holds" in text
    missing = run("kms:Encrypt", {})
    assert "key is not present in the request; condition fails" in missing


def test_explain_action_mismatch_and_explicit_deny() -> None:
    exp = explain(
        parse_policy(POLICY, "resource"), Request(ALICE, A, "kms:ScheduleKeyDeletion", KEY)
    )
    assert exp.result.decision is Decision.EXPLICIT_DENY
    alice = exp.statements[1]
    assert not alice.applies
    assert (
        alice.failed[0].detail
        == 'Action ["kms:Encrypt", "kms:Decrypt"] does not match \'kms:ScheduleKeyDeletion\''
    )
    text = exp.render()
    assert "Decision: EXPLICIT_DENY by Statement 2 (Sid 'NoDelete')" in text
    assert "ok   NotPrincipal [AWS: arn:aws:iam::111122223333:root] does not exclude" in text
    assert "ok   'kms:ScheduleKeyDeletion' is not listed in NotAction" in text


def test_explain_not_principal_exclusion_and_no_match() -> None:
    root = f"arn:aws:iam::{A}:root"
    exp = explain(
        parse_policy(POLICY, "resource"), Request(root, A, "kms:ScheduleKeyDeletion", KEY)
    )
    assert exp.result.decision is Decision.ALLOW
    assert f"FAIL NotPrincipal [AWS: {root}] excludes {root}" in exp.render()
    other = explain(
        parse_policy(POLICY, "resource"),
        Request("arn:aws:iam::999999999999:user/x", "999999999999", "kms:Sign", KEY),
    )
    assert other.result.decision is Decision.EXPLICIT_DENY
    nothing = explain(
        parse_policy(default_policy(A), "resource"),
        Request("arn:aws:iam::999999999999:user/x", "999999999999", "kms:Sign", KEY),
    )
    assert "Decision: NO_MATCH (no statement applies: implicit deny)" in nothing.render()
    assert "FAIL Principal [AWS: arn:aws:iam::111122223333:root] does not cover" in nothing.render()


def test_explain_identity_policy_has_no_principal_check() -> None:
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
        }
    )
    exp = explain(parse_policy(text, "identity"), Request(ALICE, A, "kms:Encrypt", KEY))
    assert [c.element for c in exp.statements[0].checks] == ["Action", "Resource"]
    assert exp.statements[0].applies


def test_default_policy_evaluation_cost() -> None:
    """A regression guard, not a benchmark: the default key policy for kms:Encrypt costs a
    few microseconds; 100 µs average would mean something went badly wrong."""
    text = default_policy(A)
    req = Request(ALICE, A, "kms:Encrypt", KEY, {"kms:CallerAccount": A})
    runs = 5000
    start = time.perf_counter()
    for _ in range(runs):
        evaluate(parse_policy(text, "resource"), req)
    per_call = (time.perf_counter() - start) / runs
    assert per_call < 100e-6
