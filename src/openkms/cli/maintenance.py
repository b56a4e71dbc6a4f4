"""``openkms maintenance run``: do the lifecycle work that is due, now or as of a time.

    openkms maintenance run [--data-dir DIR | --database URL] [--at 2027-01-01T00:00:00Z]

Carries out on-demand rotations in progress, automatic rotations whose date has come,
deletions whose waiting period has ended, and the expiry of imported key material; then
forgets expired import tokens and STS sessions, and counts new audit records for
``openkms usage report``. ``--at`` does it as of that time (for
operators and tests: the server's own clock is never changed). Safe next to running
servers and on several nodes at once: each piece of work is done exactly once. Prints
what it did as JSON; exits 0. It works on existing state only: a data directory,
database or root key that is not there is refused (exit 3) and nothing is created.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from openkms.cli.admin import open_cli_state, storage_options

if TYPE_CHECKING:
    from openkms.cli.parsing import Commands


def _instant(value: str) -> float:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--at wants an ISO 8601 time such as 2027-01-01T00:00:00Z, not {value!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def add_parser(commands: Commands) -> None:
    maintenance = commands.add_parser("maintenance", help="run due lifecycle work")
    actions = maintenance.add_subparsers(
        dest="maintenance_command", metavar="COMMAND", required=True, parser_class=type(maintenance)
    )
    run = actions.add_parser(
        "run", help="rotate, delete and expire what is due (as of --at, default now)"
    )
    storage_options(run)
    run.add_argument(
        "--at",
        type=_instant,
        help="do the work due as of this UTC time (ISO 8601), e.g. 2027-01-01T00:00:00Z",
    )


def run(args: argparse.Namespace) -> int:
    from openkms.cli.exit_codes import Exit, fail, startup_failure
    from openkms.server.bootstrap import StartupError
    from openkms.service.maintenance import Maintenance
    from openkms.service.usage_rollup import roll_up
    from openkms.storage.repository import StorageError

    try:
        store, keyring = open_cli_state(args)
    except StartupError as exc:
        return startup_failure(exc)
    try:
        report = Maintenance(store, keyring).run(args.at)
        roll_up(store)  # as the server's maintenance loop does (openkms usage report)
    except StorageError as exc:
        return fail(f"database error: {exc}", Exit.DATABASE)
    finally:
        store.close()
    print(json.dumps(report.as_dict(), indent=2))
    return 0
