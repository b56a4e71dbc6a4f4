"""The root-of-trust options every command that opens the keyring takes:
``--root-of-trust software|pkcs11``, ``--pkcs11-module``, ``--pkcs11-token`` and
``--pkcs11-key``, each defaulting to its environment variable (``OPENKMS_ROOT_OF_TRUST``,
``OPENKMS_PKCS11_MODULE``, ``OPENKMS_PKCS11_TOKEN``, ``OPENKMS_PKCS11_KEY``), so that a
command without the options (``openkms audit ...``) opens an HSM-rooted database from the
environment. The PIN is never an option (a command line shows in ``ps``): only
``OPENKMS_PKCS11_PIN``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

ROOTS = ("software", "pkcs11")


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root-of-trust",
        choices=ROOTS,
        default=None,
        help="what seals stored secrets: a software root key (default) or a key in a "
        "PKCS#11 HSM (env OPENKMS_ROOT_OF_TRUST; the PIN from OPENKMS_PKCS11_PIN)",
    )
    parser.add_argument(
        "--pkcs11-module", metavar="PATH", help="the PKCS#11 module (env OPENKMS_PKCS11_MODULE)"
    )
    parser.add_argument(
        "--pkcs11-token", metavar="LABEL", help="the token's label (env OPENKMS_PKCS11_TOKEN)"
    )
    parser.add_argument(
        "--pkcs11-key",
        metavar="LABEL",
        help="the root key's label, made on first start (env OPENKMS_PKCS11_KEY)",
    )


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The root-of-trust fields of :class:`openkms.server.bootstrap.Settings` from the
    options (when the command has them) or else the environment."""
    root = getattr(args, "root_of_trust", None) or os.environ.get(
        "OPENKMS_ROOT_OF_TRUST", "software"
    )
    return {
        "root_of_trust": root,
        "pkcs11_module": getattr(args, "pkcs11_module", None)
        or os.environ.get("OPENKMS_PKCS11_MODULE"),
        "pkcs11_token": getattr(args, "pkcs11_token", None)
        or os.environ.get("OPENKMS_PKCS11_TOKEN"),
        "pkcs11_key": getattr(args, "pkcs11_key", None) or os.environ.get("OPENKMS_PKCS11_KEY"),
    }
