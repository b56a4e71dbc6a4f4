"""The seed file reader (openkms.server.seed_file): what it accepts, and each error naming
the file, the line and the field. No server: the checks that need the service (alias
names, policies, grant operations) are in tests/cli/test_seed.py."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path

import pytest

from openkms.domain.keys import KeySpec, KeyUsage
from openkms.server.bootstrap import Settings
from openkms.server.seed import Seeder
from openkms.server.seed_file import SeedError, load_seed

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
MATERIAL = base64.b64encode(bytes(range(32))).decode()


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "seed.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(path)


def test_a_full_file_is_read_with_every_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
        region: eu-west-1
        keys:
          - id: {KEY_ID}
            description: orders
            material: {MATERIAL}
            aliases: [alias/orders, alias/orders-v2]
            tags: {{team: payments, env: test}}
            policy:
              Version: "2012-10-17"
              Statement: [{{Effect: Allow, Principal: {{AWS: "111122223333"}}, Action: "kms:*", Resource: "*"}}]
            grants:
              - grantee: arn:aws:iam::111122223333:user/app
                operations: [Decrypt]
                retiring_principal: arn:aws:iam::111122223333:root
                constraints:
                  encryption_context_equals: {{purpose: orders}}
          - id: 2234abcd-12ab-34cd-56ef-1234567890ab
            spec: ECC_NIST_P256
            usage: SIGN_VERIFY
            enabled: false
            policy: '{{"Version": "2012-10-17", "Statement": []}}'
        users:
          - name: app
            path: /apps/
            tags: {{team: payments}}
            policies:
              use: {{Version: "2012-10-17", Statement: []}}
            access_keys:
              - {{id: AKIAOPENKMSSEEDAPP01, secret: app-secret-0123456789}}
        """,
    )
    seed = load_seed(path, dev=True)
    assert seed.region == "eu-west-1" and seed.has_key_material
    first, second = seed.keys
    assert first.key_id == KEY_ID and first.spec is KeySpec.SYMMETRIC_DEFAULT
    assert first.usage is KeyUsage.ENCRYPT_DECRYPT and first.material == bytes(range(32))
    assert [name for name, _ in first.aliases] == ["alias/orders", "alias/orders-v2"]
    assert first.aliases[1][1].line == 6 and first.aliases[1][1].field == "keys[0].aliases[1]"
    assert first.tags == (("team", "payments"), ("env", "test"))
    assert json.loads(first.policy or "")["Statement"][0]["Action"] == "kms:*"
    (grant,) = first.grants
    assert grant.name == "seed-0" and grant.operations == ("Decrypt",)
    assert grant.constraints == {"EncryptionContextEquals": {"purpose": "orders"}}
    assert grant.where.line == 12 and grant.where.field == "keys[0].grants[0]"
    assert second.spec is KeySpec.ECC_NIST_P256 and second.usage is KeyUsage.SIGN_VERIFY
    assert not second.enabled and second.material is None
    assert second.policy == '{"Version": "2012-10-17", "Statement": []}'
    (user,) = seed.users
    assert (user.name, user.path, user.tags) == ("app", "/apps/", (("team", "payments"),))
    assert [(name, where.line) for name, _, where in user.policies] == [("use", 27)]
    assert [k.access_key_id for k in user.access_keys] == ["AKIAOPENKMSSEEDAPP01"]
    assert "app-secret" not in repr(user) and MATERIAL not in repr(first)  # never in logs


def test_an_empty_file_seeds_nothing(tmp_path: Path) -> None:
    seed = load_seed(write(tmp_path, "# nothing yet\n"), dev=False)
    assert (seed.keys, seed.users, seed.region) == ((), (), None)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("keys:\n  - id: {key}\n    colour: red\n", 3, "keys[0].colour: unknown field"),
        ("keys:\n  - description: x\n", 2, "keys[0]: missing field 'id'"),
        ("keys:\n  - id: not-a-uuid\n", 2, "keys[0].id: not a key id: 'not-a-uuid'"),
        (
            "keys:\n  - id: {key}\n    spec: AES_256\n",
            3,
            "keys[0].spec: unknown key spec 'AES_256'",
        ),
        (
            "keys:\n  - id: {key}\n    spec: HMAC_256\n    usage: ENCRYPT_DECRYPT\n",
            4,
            "keys[0].usage: ENCRYPT_DECRYPT is not a usage of HMAC_256 keys",
        ),
        ("keys:\n  - id: {key}\n    spec: RSA_2048\n", 2, "keys[0]: missing field 'usage'"),
        (
            "keys:\n  - id: {key}\n    enabled: maybe\n",
            3,
            "keys[0].enabled: expected true or false",
        ),
        (
            "keys:\n  - id: {key}\n    tags: {{a: 1}}\n",
            3,
            "keys[0].tags.a: a tag value must be text",
        ),
        ("keys:\n  - id: {key}\n    aliases: alias/x\n", 3, "keys[0].aliases: expected a list"),
        ("keys:\n  - id: {key}\n    policy: 12\n", 3, "keys[0].policy: expected a policy document"),
        (
            "keys:\n  - id: {key}\n    grants:\n      - operations: [Decrypt]\n",
            4,
            "keys[0].grants[0]: missing field 'grantee'",
        ),
        (
            "keys:\n  - id: {key}\n  - id: {key}\n",
            3,
            "keys[1].id: key id given twice (also keys[0])",
        ),
        ("keys:\n  - id: {key}\n    material: '***'\n", 3, "keys[0].material: not base64"),
        (
            "keys:\n  - id: {key}\n    material: AAAA\n",
            3,
            "keys[0].material: SYMMETRIC_DEFAULT material must be 32 bytes, not 3",
        ),
        (
            "keys:\n  - id: {key}\n    spec: ECC_NIST_P256\n    usage: SIGN_VERIFY\n"
            "    material: AAAA\n",
            5,
            "keys[0].material: ECC_NIST_P256 key material is not a PKCS#8 key",
        ),
        (
            "users:\n  - name: app\n    access_keys:\n      - {{id: akia-lower, secret: 0123456789abcdefgh}}\n",
            4,
            "users[0].access_keys[0].id: not an access key id: 'akia-lower'",
        ),
        (
            "users:\n  - name: app\n    access_keys:\n      - id: AKIAOPENKMSSEEDAPP01\n"
            "        secret: short\n",
            5,
            "users[0].access_keys[0].secret: a secret access key has 16 or more characters",
        ),
        ("users:\n  - name: app\n    policies: [a]\n", 3, "users[0].policies: expected a mapping"),
        (
            "users:\n  - name: a\n    access_keys: [{{id: AKIAOPENKMSSEEDAPP01, secret: 0123456789abcdefgh}}]\n"
            "  - name: b\n    access_keys: [{{id: AKIAOPENKMSSEEDAPP01, secret: 0123456789abcdefgh}}]\n",
            5,
            "users[1].access_keys[0]: access key AKIAOPENKMSSEEDAPP01 given twice (also users[0].access_keys[0])",
        ),
        ("keys: []\nkeys: []\n", 2, "keys: given twice"),
        ("colour: red\n", 1, "colour: unknown field (known: region, keys, users)"),
        ("- just\n- a list\n", 1, "(document): expected a mapping"),
        ("keys:\n  - id: [unclosed\n", 3, "not valid YAML"),
    ],
)
def test_each_error_names_the_file_line_and_field(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = write(tmp_path, text.format(key=KEY_ID))
    with pytest.raises(SeedError) as caught:
        load_seed(path, dev=True)
    assert str(caught.value).startswith(f"{path}:{line}:"), str(caught.value)
    assert message in str(caught.value)


def test_key_material_is_refused_without_dev(tmp_path: Path) -> None:
    path = write(tmp_path, f"keys:\n  - id: {KEY_ID}\n\n    material: {MATERIAL}\n")
    with pytest.raises(
        SeedError, match=r"seed\.yaml:4: keys\[0\]\.material: key material .* --dev"
    ):
        load_seed(path, dev=False)
    assert load_seed(path, dev=True).keys[0].material == bytes(range(32))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(SeedError, match=f"cannot read seed file {missing}: No such file"):
        load_seed(missing, dev=True)


def test_the_seed_region_must_be_a_region_the_server_serves(tmp_path: Path) -> None:
    def settings(path: str) -> Settings:
        return Settings(
            data_dir=None,
            database=None,
            account_id="111122223333",
            dev=True,
            regions=("us-east-1", "eu-west-1"),
            seed_file=path,
        )

    path = write(tmp_path, "# the one region\nregion: ap-south-1\n")
    with pytest.raises(SeedError) as caught:
        Seeder.load(settings(path))
    assert str(caught.value) == (
        f"{path}:2: region: region ap-south-1 is not served (--regions us-east-1, eu-west-1)"
    )
    path = write(tmp_path, "region: Mars-1\n")
    with pytest.raises(SeedError, match=r"seed\.yaml:1: region: not an AWS region name: 'Mars-1'"):
        Seeder.load(settings(path))
    seeder = Seeder.load(settings(write(tmp_path, "region: eu-west-1\n")))
    assert seeder is not None and seeder.seed.region == "eu-west-1"
