"""``openkms admin rewrap --to pkcs11|software``: move every stored secret to the other
root of trust (:mod:`openkms.server.rewrap`; stop every server first).

    openkms admin rewrap --to pkcs11 --pkcs11-module PATH --pkcs11-token LABEL
                         --pkcs11-key LABEL [--data-dir DIR | --database URL]
    openkms admin rewrap --to software --pkcs11-module ... [--data-dir DIR | --database URL]

Both roots are opened: the software root key as ``serve`` finds it (``OPENKMS_ROOT_KEY``,
``OPENKMS_ROOT_PASSPHRASE`` or the data directory's ``root.key``; with ``--to software``
made when there is none) and the HSM key (PIN from ``OPENKMS_PKCS11_PIN``; with
``--to pkcs11`` generated in the token when absent). Prints what it did as JSON. Exit
statuses as every command's (openkms.cli.exit_codes); an HSM fault midway exits 6 and the
rewrap can be run again to go on.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from openkms.cli import root_options

if TYPE_CHECKING:
    from openkms.cli.parsing import Commands


def add_parser(actions: Commands) -> None:
    rewrap = actions.add_parser(
        "rewrap", help="re-seal every stored secret under another root of trust"
    )
    rewrap.add_argument("--to", required=True, choices=root_options.ROOTS)
    rewrap.add_argument("--batch", type=int, default=200, help="rows per transaction (default 200)")


def run(args: argparse.Namespace) -> int:
    from openkms.cli.admin import cli_settings
    from openkms.cli.exit_codes import Exit, fail, startup_failure
    from openkms.crypto.keyring import (
        PKCS11,
        SOFTWARE,
        KeyringUnavailableError,
        Sealer,
        SoftwareKeyring,
        derived_fingerprint_key,
    )
    from openkms.server.bootstrap import StartupError, open_store, software_root_key
    from openkms.server.rewrap import RewrapError, WrongRootError, rewrap
    from openkms.server.root_of_trust import open_hsm_sealer
    from openkms.storage.repository import StorageError

    if args.batch < 1:
        return fail("--batch must be at least 1", Exit.USAGE)
    settings = cli_settings(args)
    try:
        store = open_store(settings, create=False)
    except StartupError as exc:
        return startup_failure(exc)
    sealer = None
    try:
        root_key = software_root_key(settings, store, create=args.to == SOFTWARE)
        sealer = open_hsm_sealer(settings, create=args.to == PKCS11)
        keyrings: dict[str, Sealer] = {SOFTWARE: SoftwareKeyring(root_key), PKCS11: sealer}
        result = rewrap(
            store,
            keyrings,
            args.to,
            derived_fingerprint_key=derived_fingerprint_key(root_key),
            batch=args.batch,
        )
    except StartupError as exc:
        return startup_failure(exc)
    except WrongRootError as exc:
        return fail(str(exc), Exit.ROOT_KEY)
    except (RewrapError, KeyringUnavailableError) as exc:
        return fail(f"{exc}; run the rewrap again to go on", Exit.CONFIG)
    except StorageError as exc:
        return fail(f"database error: {exc}; run the rewrap again to go on", Exit.DATABASE)
    finally:
        if sealer is not None:
            sealer.close()
        store.close()
    print(
        json.dumps(
            {
                "RootOfTrust": args.to,
                "Resealed": result.resealed,
                "AlreadySealed": result.already,
                "Transactions": result.batches,
            },
            indent=2,
        )
    )
    return 0
