"""``openkms authz explain``: which statements and grants allow or deny a request, and why.

    openkms authz explain --principal ARN --action kms:Decrypt --key KEY
                          [--context k=v ...] [--region us-east-1]
                          [--data-dir DIR] [--database URL]

Exit status 0 when the request would be allowed, 1 when it would be denied, 2 for
usage errors (including a principal or key that does not exist), and the startup
statuses of openkms.cli.exit_codes when the state cannot be opened. Read-only: a data
directory, database or root key that is not there is refused, and nothing is created.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openkms.cli.parsing import Commands


def _pair(value: str) -> tuple[str, str]:
    name, sep, rest = value.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, not {value!r}")
    return name, rest


def add_parser(commands: Commands) -> None:
    authz = commands.add_parser("authz", help="inspect authorization decisions")
    actions = authz.add_subparsers(
        dest="authz_command", metavar="COMMAND", required=True, parser_class=type(authz)
    )
    ex = actions.add_parser("explain", help="explain why a request is allowed or denied")
    ex.add_argument("--principal", required=True, help="caller ARN (root, user, assumed role)")
    ex.add_argument("--action", required=True, help="e.g. kms:Decrypt")
    ex.add_argument("--key", required=True, help="key id, key ARN, alias name or alias ARN")
    ex.add_argument(
        "--context",
        type=_pair,
        action="append",
        default=[],
        metavar="K=V",
        help="encryption context pair (repeatable)",
    )
    ex.add_argument("--region", default="us-east-1")
    ex.add_argument("--data-dir", help="state directory, as for serve")
    ex.add_argument("--database", help="database URL, e.g. postgresql://user@host/db")


def run(args: argparse.Namespace) -> int:
    from openkms.cli.admin import open_cli_state
    from openkms.cli.exit_codes import Exit, fail, startup_failure
    from openkms.errors import AWSError
    from openkms.server.bootstrap import StartupError
    from openkms.service.kms.explain import explain_access, principal_from_arn
    from openkms.storage.repository import StorageError

    try:
        store, _ = open_cli_state(args)
    except StartupError as exc:
        return startup_failure(exc)
    try:
        principal = principal_from_arn(store, args.principal)
        allowed, text = explain_access(
            store, principal, args.action, args.key, args.region, dict(args.context)
        )
    except (ValueError, AWSError) as exc:
        message = exc.message if isinstance(exc, AWSError) else str(exc)
        return fail(message, Exit.USAGE)
    except StorageError as exc:
        return fail(f"database error: {exc}", Exit.DATABASE)
    finally:
        store.close()
    print(text)
    return int(Exit.OK if allowed else Exit.NEGATIVE)
