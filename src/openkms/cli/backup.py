"""``openkms backup`` and ``openkms restore`` (see :mod:`openkms.server.backup`).

    openkms backup --out FILE [--data-dir DIR | --database URL]
    openkms restore FILE (--data-dir DIR | --database URL [--data-dir DIR])

``backup`` works next to running servers (a consistent online snapshot) and prints what
it holds as JSON. ``restore`` puts a backup in place as a new data directory's database
(``--data-dir``), or in a PostgreSQL database without OpenKMS state (``--database``;
the root key is then found as ``serve`` finds it: ``--data-dir``'s ``root.key`` or the
environment). It first checks that this root opens the backup; a backup sealed under
another root is refused with one line (exit 4). The root key itself is never in a backup:
keep it apart, as ``serve`` expects it.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from openkms.cli.admin import cli_settings, storage_options

if TYPE_CHECKING:
    from openkms.cli.parsing import Commands
    from openkms.server.backup import Copied


def add_parsers(commands: Commands) -> None:
    made = commands.add_parser("backup", help="write a consistent snapshot of the state")
    made.add_argument("--out", metavar="FILE", required=True, help="the backup file (new)")
    storage_options(made)
    restore = commands.add_parser("restore", help="restore a backup into new state")
    restore.add_argument("file", metavar="FILE", help="a file made by openkms backup")
    storage_options(restore)


def run(args: argparse.Namespace) -> int:
    from openkms.cli.exit_codes import Exit, fail, startup_failure
    from openkms.server import backup
    from openkms.server.bootstrap import StartupError
    from openkms.storage.repository import StorageError

    if args.command == "restore" and args.data_dir is None and args.database is None:
        return fail("give --data-dir DIR (or --database URL) to restore into", Exit.USAGE)
    settings = cli_settings(args)
    try:
        if args.command == "backup":
            copied = backup.backup(settings, args.out)
        else:
            copied = backup.restore(args.file, settings)
    except backup.BackupError as exc:
        return fail(str(exc), Exit.NEGATIVE)
    except StartupError as exc:
        return startup_failure(exc)
    except StorageError as exc:
        return fail(f"database error: {exc}", Exit.DATABASE)
    except OSError as exc:
        return fail(f"{exc.filename or ''}: {exc.strerror}", Exit.CONFIG)
    print(json.dumps(_summary(copied), indent=2))
    return 0


def _summary(copied: Copied) -> dict[str, object]:
    return {"AuditSeq": copied.audit_seq, "Rows": copied.rows}
