"""OpenKMS asymmetric keys against the ``openssl`` command line.

Each test writes the public key from GetPublicKey to ``tmp_path`` as PEM (a plain base64
re-wrapping of the DER SubjectPublicKeyInfo, no Python crypto library involved) and lets
``openssl`` verify KMS signatures, make RSA-OAEP ciphertexts that KMS decrypts, derive
ECDH secrets that KMS must match, and read the PKCS#8 private keys of data key pairs.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from test_asymmetric_keys import key_for

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

pytestmark = pytest.mark.skipif(
    not os.access(OPENSSL, os.X_OK), reason="the openssl command line is not installed"
)


def openssl(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([OPENSSL, *map(str, args)], capture_output=True, check=False, timeout=60)


def openssl_ok(*args: str | Path) -> bytes:
    done = openssl(*args)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def public_pem(kms: Any, key_id: str, path: Path) -> Path:
    der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    path.write_text(f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n")
    return path


def _files(tmp_path: Path, **contents: bytes) -> dict[str, Path]:
    paths = {}
    for name, data in contents.items():
        paths[name] = tmp_path / f"{name}.bin"
        paths[name].write_bytes(data)
    return paths


def _md(algorithm: str) -> str:
    """openssl's digest name for an AWS algorithm: RSASSA_PSS_SHA_384 -> sha384."""
    return "sha" + algorithm.rsplit("_", 1)[1]


# -- signatures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        ("RSA_2048", "RSASSA_PSS_SHA_256"),
        ("RSA_3072", "RSASSA_PSS_SHA_384"),
        ("RSA_4096", "RSASSA_PSS_SHA_512"),
    ],
)
def test_rsa_pss_signature_verifies_with_openssl(kms, tmp_path, spec, algorithm) -> None:
    key_id = key_for(kms, spec, "SIGN_VERIFY")["KeyId"]
    pem = public_pem(kms, key_id, tmp_path / "pub.pem")
    message = b"RSA-PSS interop " + os.urandom(32)
    signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=algorithm)["Signature"]
    f = _files(tmp_path, msg=message, sig=signature, other=message + b"!")
    md = _md(algorithm)
    salt = str(hashlib.new(md).digest_size)

    def verify(msg: Path, saltlen: str) -> subprocess.CompletedProcess[bytes]:
        return openssl(
            "dgst", f"-{md}",
            "-sigopt", "rsa_padding_mode:pss",
            "-sigopt", f"rsa_pss_saltlen:{saltlen}",
            "-sigopt", f"rsa_mgf1_md:{md}",
            "-verify", pem, "-signature", f["sig"], msg,
        )  # fmt: skip

    ok = verify(f["msg"], salt)
    assert ok.returncode == 0 and b"Verified OK" in ok.stdout, ok.stderr
    assert verify(f["other"], salt).returncode != 0
    assert verify(f["msg"], "0").returncode != 0  # salt length is the digest length


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256"), ("RSA_3072", "RSASSA_PKCS1_V1_5_SHA_512")],
)
def test_rsa_pkcs1_signature_verifies_with_openssl(kms, tmp_path, spec, algorithm) -> None:
    key_id = key_for(kms, spec, "SIGN_VERIFY")["KeyId"]
    pem = public_pem(kms, key_id, tmp_path / "pub.pem")
    message = b"PKCS#1 v1.5 interop " + os.urandom(32)
    signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=algorithm)["Signature"]
    f = _files(tmp_path, msg=message, sig=signature, other=message + b"!")
    md = _md(algorithm)
    out = openssl_ok("dgst", f"-{md}", "-verify", pem, "-signature", f["sig"], f["msg"])
    assert b"Verified OK" in out
    assert openssl("dgst", f"-{md}", "-verify", pem, "-signature", f["sig"], f["other"]).returncode

    # The public RSA operation recovers the DigestInfo of SHA-x(message).
    recovered = openssl_ok(
        "pkeyutl", "-verifyrecover", "-pubin", "-inkey", pem,
        "-pkeyopt", "rsa_padding_mode:pkcs1", "-in", f["sig"],
    )  # fmt: skip
    assert recovered.endswith(hashlib.new(md, message).digest())


def test_rsa_digest_signature_verifies_with_openssl_pkeyutl(kms, tmp_path) -> None:
    key_id = key_for(kms, "RSA_2048", "SIGN_VERIFY")["KeyId"]
    pem = public_pem(kms, key_id, tmp_path / "pub.pem")
    digest = hashlib.sha256(b"digest interop").digest()
    signature = kms.sign(
        KeyId=key_id,
        Message=digest,
        MessageType="DIGEST",
        SigningAlgorithm="RSASSA_PSS_SHA_256",
    )["Signature"]
    f = _files(tmp_path, digest=digest, sig=signature)
    out = openssl_ok(
        "pkeyutl", "-verify", "-pubin", "-inkey", pem,
        "-pkeyopt", "digest:sha256",
        "-pkeyopt", "rsa_padding_mode:pss",
        "-pkeyopt", "rsa_pss_saltlen:32",
        "-in", f["digest"], "-sigfile", f["sig"],
    )  # fmt: skip
    assert b"Signature Verified Successfully" in out


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        ("ECC_NIST_P256", "ECDSA_SHA_256"),
        ("ECC_NIST_P384", "ECDSA_SHA_384"),
        ("ECC_NIST_P521", "ECDSA_SHA_512"),
        ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
    ],
)
def test_ecdsa_signature_verifies_with_openssl(kms, tmp_path, spec, algorithm) -> None:
    key_id = key_for(kms, spec, "SIGN_VERIFY")["KeyId"]
    pem = public_pem(kms, key_id, tmp_path / "pub.pem")
    message = b"ECDSA interop " + os.urandom(32)
    md = _md(algorithm)
    raw = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=algorithm)["Signature"]
    digested = kms.sign(
        KeyId=key_id,
        Message=hashlib.new(md, message).digest(),
        MessageType="DIGEST",
        SigningAlgorithm=algorithm,
    )["Signature"]
    f = _files(tmp_path, msg=message, raw=raw, digested=digested, other=message + b"!")
    for sig in (f["raw"], f["digested"]):
        out = openssl_ok("dgst", f"-{md}", "-verify", pem, "-signature", sig, f["msg"])
        assert b"Verified OK" in out
        assert openssl("dgst", f"-{md}", "-verify", pem, "-signature", sig, f["other"]).returncode
    # DER-encoded ECDSA-Sig-Value: SEQUENCE of two INTEGERs.
    parsed = openssl_ok("asn1parse", "-inform", "DER", "-in", f["raw"]).decode()
    assert parsed.count("prim: INTEGER") == 2 and "cons: SEQUENCE" in parsed


def test_ed25519_signature_verifies_with_openssl(kms, tmp_path) -> None:
    key_id = key_for(kms, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")["KeyId"]
    pem = public_pem(kms, key_id, tmp_path / "pub.pem")
    message = b"Ed25519 interop " + os.urandom(32)
    signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="ED25519_SHA_512")[
        "Signature"
    ]
    f = _files(tmp_path, msg=message, sig=signature, other=message + b"!")

    def verify(msg: Path) -> subprocess.CompletedProcess[bytes]:
        return openssl(
            "pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin",
            "-in", msg, "-sigfile", f["sig"],
        )  # fmt: skip

    ok = verify(f["msg"])
    assert ok.returncode == 0 and b"Signature Verified Successfully" in ok.stdout, ok.stderr
    assert verify(f["other"]).returncode != 0


# -- RSA-OAEP --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "algorithm", "size"),
    [
        ("RSA_2048", "RSAES_OAEP_SHA_256", 190),
        ("RSA_2048", "RSAES_OAEP_SHA_1", 214),
        ("RSA_3072", "RSAES_OAEP_SHA_256", 32),
        ("RSA_4096", "RSAES_OAEP_SHA_1", 470),
    ],
)
def test_openssl_oaep_ciphertext_decrypts_in_kms(kms, tmp_path, spec, algorithm, size) -> None:
    meta = key_for(kms, spec, "ENCRYPT_DECRYPT")
    pem = public_pem(kms, meta["KeyId"], tmp_path / "pub.pem")
    plaintext = os.urandom(size)
    f = _files(tmp_path, pt=plaintext)
    ct = tmp_path / "ct.bin"
    md = _md(algorithm)
    openssl_ok(
        "pkeyutl", "-encrypt", "-pubin", "-inkey", pem,
        "-pkeyopt", "rsa_padding_mode:oaep",
        "-pkeyopt", f"rsa_oaep_md:{md}",
        "-pkeyopt", f"rsa_mgf1_md:{md}",
        "-in", f["pt"], "-out", ct,
    )  # fmt: skip
    out = kms.decrypt(
        KeyId=meta["KeyId"], CiphertextBlob=ct.read_bytes(), EncryptionAlgorithm=algorithm
    )
    assert out["Plaintext"] == plaintext
    assert out["KeyId"] == meta["Arn"] and out["EncryptionAlgorithm"] == algorithm


# -- ECDH ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "curve"),
    [("ECC_NIST_P256", "P-256"), ("ECC_NIST_P384", "P-384"), ("ECC_NIST_P521", "P-521")],
)
def test_ecdh_matches_openssl_derive(kms, tmp_path, spec, curve) -> None:
    key_id = key_for(kms, spec, "KEY_AGREEMENT")["KeyId"]
    kms_pem = public_pem(kms, key_id, tmp_path / "kms.pem")
    peer = tmp_path / "peer.pem"
    peer_der = tmp_path / "peer.der"
    secret = tmp_path / "secret.bin"
    openssl_ok(
        "genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}", "-out", peer
    )
    openssl_ok("pkey", "-in", peer, "-pubout", "-outform", "DER", "-out", peer_der)
    openssl_ok("pkeyutl", "-derive", "-inkey", peer, "-peerkey", kms_pem, "-out", secret)
    out = kms.derive_shared_secret(
        KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=peer_der.read_bytes()
    )
    assert out["SharedSecret"] == secret.read_bytes()


# -- public keys and data key pairs ---------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "usage", "expected"),
    [
        ("RSA_2048", "SIGN_VERIFY", "Public-Key: (2048 bit)"),
        ("RSA_4096", "ENCRYPT_DECRYPT", "Public-Key: (4096 bit)"),
        ("ECC_NIST_P256", "SIGN_VERIFY", "NIST CURVE: P-256"),
        ("ECC_NIST_P521", "KEY_AGREEMENT", "NIST CURVE: P-521"),
        ("ECC_SECG_P256K1", "SIGN_VERIFY", "ASN1 OID: secp256k1"),
        ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "ED25519 Public-Key"),
    ],
)
def test_openssl_reads_get_public_key(kms, tmp_path, spec, usage, expected) -> None:
    pem = public_pem(kms, key_for(kms, spec, usage)["KeyId"], tmp_path / "pub.pem")
    text = openssl_ok("pkey", "-pubin", "-in", pem, "-text", "-noout").decode()
    assert expected in text


@pytest.mark.parametrize(
    "spec",
    ["RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"],
)
def test_openssl_reads_data_key_pair_pkcs8(kms, tmp_path, spec) -> None:
    key_id = key_for(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")["KeyId"]
    out = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec=spec)
    f = _files(tmp_path, priv=out["PrivateKeyPlaintext"])
    # `openssl pkcs8 -nocrypt` reads only an unencrypted PKCS#8 PrivateKeyInfo.
    openssl_ok("pkcs8", "-nocrypt", "-inform", "DER", "-in", f["priv"], "-out", tmp_path / "p8.pem")
    public = openssl_ok("pkey", "-inform", "DER", "-in", f["priv"], "-pubout", "-outform", "DER")
    assert public == out["PublicKey"]
