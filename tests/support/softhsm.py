"""Throwaway SoftHSM2 tokens for the HSM tests: a private ``SOFTHSM2_CONF`` whose token
directory is a temporary directory, and tokens made with ``softhsm2-util --init-token``.

Debian's ``softhsm2`` package is needed (the test command installs it, as PostgreSQL);
without it the tests skip, unless ``OPENKMS_REQUIRE_POSTGRES=1`` (the test command's
"everything must run"), when they fail.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from dataclasses import dataclass

import pytest

PIN = "1234"
SO_PIN = "12345678"
_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    *glob.glob("/usr/lib/*/softhsm/libsofthsm2.so"),
)


def module_path() -> str:
    """The SoftHSM2 module, or skip (fail when everything must run)."""
    found = next((path for path in _MODULES if os.path.exists(path)), None)
    if found is None or shutil.which("softhsm2-util") is None:
        message = "SoftHSM2 is not installed (apt-get install softhsm2)"
        if os.environ.get("OPENKMS_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass
class SoftHSM:
    """A SoftHSM2 configuration of its own (``conf``) with its token directory."""

    conf: str
    tokens: str
    module: str

    @classmethod
    def create(cls, directory: str) -> SoftHSM:
        module = module_path()
        tokens = os.path.join(directory, "tokens")
        os.makedirs(tokens, exist_ok=True)
        conf = os.path.join(directory, "softhsm2.conf")
        with open(conf, "w", encoding="utf-8") as fh:
            fh.write(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
            fh.write("log.level = ERROR\n")
        return cls(conf, tokens, module)

    def init_token(self, label: str, pin: str = PIN) -> None:
        subprocess.run(
            [
                "softhsm2-util",
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                pin,
                "--so-pin",
                SO_PIN,
            ],
            env={**os.environ, "SOFTHSM2_CONF": self.conf},
            check=True,
            capture_output=True,
            timeout=60,
        )

    def env(self, pin: str = PIN) -> dict[str, str]:
        """What a process needs to use these tokens (the PIN only from the environment)."""
        return {"SOFTHSM2_CONF": self.conf, "OPENKMS_PKCS11_PIN": pin}

    def args(self, token: str, key: str = "openkms-root") -> list[str]:
        return [
            "--root-of-trust",
            "pkcs11",
            "--pkcs11-module",
            self.module,
            "--pkcs11-token",
            token,
            "--pkcs11-key",
            key,
        ]

    def token_dir(self, label: str) -> str:
        """The directory of the token labelled ``label`` (its label is in token.object)."""
        for name in os.listdir(self.tokens):
            with open(os.path.join(self.tokens, name, "token.object"), "rb") as fh:
                if label.encode().ljust(32) in fh.read():
                    return os.path.join(self.tokens, name)
        raise LookupError(label)
