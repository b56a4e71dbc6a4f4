"""The AWS CLI (v1, from the test venv) against a live server, on SQLite and PostgreSQL.

Every call runs in a clean environment: credentials from the conftest, and
``AWS_CONFIG_FILE``/``AWS_SHARED_CREDENTIALS_FILE`` pointing at files that do not exist,
so nothing from the user's own AWS configuration can leak in.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import ACCESS_KEY, REGION, SECRET_KEY

AWS = Path(sys.executable).parent / "aws"


@pytest.fixture()
def aws_env(tmp_path: Path) -> dict[str, str]:
    if not AWS.exists():
        pytest.fail(f"the AWS CLI is not installed in the test venv ({AWS})")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-such-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-such-credentials"),
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
    }


def aws(
    env: dict[str, str], *args: str, endpoint: str | None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = [str(AWS)]
    if endpoint is not None:
        cmd += ["--endpoint-url", endpoint]
    cmd += ["kms", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, f"{cmd} failed ({done.returncode}): {done.stderr}"
    return done


def test_cli_round_trip(server, aws_env, tmp_path: Path) -> None:
    ep = server.endpoint
    arn = aws(
        aws_env,
        "create-key",
        "--description",
        "cli-test",
        "--query",
        "KeyMetadata.Arn",
        "--output",
        "text",
        endpoint=ep,
    ).stdout.strip()
    assert arn.startswith("arn:aws:kms:us-east-1:111122223333:key/"), arn
    alias = f"alias/cli-{uuid.uuid4().hex[:12]}"
    aws(aws_env, "create-alias", "--alias-name", alias, "--target-key-id", arn, endpoint=ep)

    plaintext = b"hello cli\x00\xff\n" + os.urandom(64)
    (tmp_path / "pt.bin").write_bytes(plaintext)
    out = aws(
        aws_env,
        "encrypt",
        "--key-id",
        alias,
        "--plaintext",
        f"fileb://{tmp_path}/pt.bin",
        "--encryption-context",
        "tenant=a,app=x",
        "--query",
        "CiphertextBlob",
        "--output",
        "text",
        endpoint=ep,
    ).stdout.strip()
    blob = base64.b64decode(out, validate=True)
    assert plaintext not in blob
    (tmp_path / "ct.bin").write_bytes(blob)

    decrypted = aws(
        aws_env,
        "decrypt",
        "--ciphertext-blob",
        f"fileb://{tmp_path}/ct.bin",
        "--encryption-context",
        "tenant=a,app=x",
        "--query",
        "Plaintext",
        "--output",
        "text",
        endpoint=ep,
    ).stdout.strip()
    assert base64.b64decode(decrypted, validate=True) == plaintext

    key_id = aws(
        aws_env,
        "decrypt",
        "--ciphertext-blob",
        f"fileb://{tmp_path}/ct.bin",
        "--encryption-context",
        "app=x,tenant=a",
        "--query",
        "KeyId",
        "--output",
        "text",
        endpoint=ep,
    ).stdout.strip()
    assert key_id == arn

    for wrong in ("tenant=b,app=x", "tenant=a"):
        bad = aws(
            aws_env,
            "decrypt",
            "--ciphertext-blob",
            f"fileb://{tmp_path}/ct.bin",
            "--encryption-context",
            wrong,
            endpoint=ep,
            check=False,
        )
        assert bad.returncode != 0, bad.stdout
        assert "InvalidCiphertextException" in bad.stderr, bad.stderr
        assert "Plaintext" not in bad.stdout

    # The endpoint can come from the environment instead of --endpoint-url.
    env = {**aws_env, "AWS_ENDPOINT_URL_KMS": ep}
    state = aws(
        env,
        "describe-key",
        "--key-id",
        alias,
        "--query",
        "KeyMetadata.[KeyState,Arn]",
        "--output",
        "text",
        endpoint=None,
    ).stdout.split()
    assert state == ["Enabled", arn]


def test_cli_generate_data_key(server, aws_env, tmp_path: Path) -> None:
    ep = server.endpoint
    arn = aws(
        aws_env, "create-key", "--query", "KeyMetadata.Arn", "--output", "text", endpoint=ep
    ).stdout.strip()
    fields = aws(
        aws_env,
        "generate-data-key",
        "--key-id",
        arn,
        "--key-spec",
        "AES_256",
        "--encryption-context",
        "tenant=a",
        "--query",
        "[Plaintext,CiphertextBlob]",
        "--output",
        "text",
        endpoint=ep,
    ).stdout.split()
    assert len(fields) == 2
    data_key, wrapped = (base64.b64decode(f, validate=True) for f in fields)
    assert len(data_key) == 32
    (tmp_path / "dk.bin").write_bytes(wrapped)
    again = aws(
        aws_env,
        "decrypt",
        "--ciphertext-blob",
        f"fileb://{tmp_path}/dk.bin",
        "--encryption-context",
        "tenant=a",
        "--query",
        "Plaintext",
        "--output",
        "text",
        endpoint=ep,
    ).stdout.strip()
    assert base64.b64decode(again) == data_key


def test_cli_wrong_secret_is_rejected(server, aws_env) -> None:
    env = {**aws_env, "AWS_SECRET_ACCESS_KEY": "not-the-right-secret-0123456789abcdefghij"}
    bad = aws(env, "list-keys", endpoint=server.endpoint, check=False)
    assert bad.returncode != 0
    assert "InvalidSignatureException" in bad.stderr or "UnrecognizedClient" in bad.stderr, (
        bad.stderr
    )


@pytest.mark.skipif(not Path("/usr/bin/openssl").exists(), reason="no openssl CLI")
def test_cli_import_key_material_as_the_readme_does(server, aws_env, tmp_path: Path) -> None:
    """BYOK with the AWS CLI and the openssl CLI only, the steps of AWS's import guide."""
    import json

    ep = server.endpoint
    key = aws(
        aws_env,
        "create-key",
        "--origin",
        "EXTERNAL",
        "--query",
        "KeyMetadata.KeyId",
        "--output",
        "text",
        endpoint=ep,
    ).stdout.strip()
    params = json.loads(
        aws(
            aws_env,
            "get-parameters-for-import",
            "--key-id",
            key,
            "--wrapping-algorithm",
            "RSAES_OAEP_SHA_256",
            "--wrapping-key-spec",
            "RSA_3072",
            endpoint=ep,
        ).stdout
    )
    (tmp_path / "wrapping.der").write_bytes(base64.b64decode(params["PublicKey"]))
    (tmp_path / "token.bin").write_bytes(base64.b64decode(params["ImportToken"]))
    material = os.urandom(32)
    (tmp_path / "material.bin").write_bytes(material)
    subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-encrypt",
            "-in",
            str(tmp_path / "material.bin"),
            "-out",
            str(tmp_path / "wrapped.bin"),
            "-inkey",
            str(tmp_path / "wrapping.der"),
            "-keyform",
            "DER",
            "-pubin",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
        check=True,
        capture_output=True,
    )
    imported = json.loads(
        aws(
            aws_env,
            "import-key-material",
            "--key-id",
            key,
            "--import-token",
            f"fileb://{tmp_path / 'token.bin'}",
            "--encrypted-key-material",
            f"fileb://{tmp_path / 'wrapped.bin'}",
            "--expiration-model",
            "KEY_MATERIAL_DOES_NOT_EXPIRE",
            endpoint=ep,
        ).stdout
    )
    assert imported["KeyId"].endswith(key) and len(imported["KeyMaterialId"]) == 64
    state = aws(
        aws_env,
        "describe-key",
        "--key-id",
        key,
        "--query",
        "KeyMetadata.KeyState",
        "--output",
        "text",
        endpoint=ep,
    ).stdout.strip()
    assert state == "Enabled"
    # The same token twice: AWS wants a new wrapping key and token for every import.
    again = aws(
        aws_env,
        "import-key-material",
        "--key-id",
        key,
        "--import-token",
        f"fileb://{tmp_path / 'token.bin'}",
        "--encrypted-key-material",
        f"fileb://{tmp_path / 'wrapped.bin'}",
        "--expiration-model",
        "KEY_MATERIAL_DOES_NOT_EXPIRE",
        endpoint=ep,
        check=False,
    )
    assert again.returncode != 0 and "InvalidImportTokenException" in again.stderr
    rotations = json.loads(
        aws(
            aws_env,
            "list-key-rotations",
            "--key-id",
            key,
            "--include-key-material",
            "ALL_KEY_MATERIAL",
            endpoint=ep,
        ).stdout
    )
    assert [r["KeyMaterialId"] for r in rotations["Rotations"]] == [imported["KeyMaterialId"]]
