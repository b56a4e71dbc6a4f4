"""``openkms admin quota``: see and change the quotas a server enforces.

    openkms admin quota list [--account ID] [--region REGION] [--json] [storage options]
    openkms admin quota set QUOTA VALUE --account ID|'*' [storage options]
    openkms admin quota unset QUOTA --account ID|'*' [storage options]

QUOTA is an operation's name for its own request quota (``CreateKey``), a shared one
(``crypto-symmetric``, ``crypto-hmac``, ``crypto-rsa``, ``crypto-ecc``,
``GenerateDataKeyPair:RSA_2048``, ...) or a resource quota (``keys-per-region``,
``aliases-per-key``, ``grants-per-key``, ``grants-per-principal-per-key``); VALUE is
requests per second (fractions allowed: 0.25 is one request in four seconds) or, for a
resource quota, a count. The account ``*`` sets the value for every account without one
of its own. Overrides are stored in the database; running servers apply a change within
two seconds (openkms.service.throttle), a resource quota at the next request.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from typing import TYPE_CHECKING

from openkms.domain import quotas

if TYPE_CHECKING:
    from openkms.cli.parsing import Commands
    from openkms.storage.repository import Store


def _account(value: str) -> str:
    if value != "*" and not re.fullmatch(r"\d{12}", value):
        raise argparse.ArgumentTypeError(f"account must be 12 digits or '*', not {value!r}")
    return value


def _quota(value: str) -> str:
    if not quotas.is_known(value):
        raise argparse.ArgumentTypeError(
            f"unknown quota {value!r}: 'openkms admin quota list' names them"
        )
    return value


def _value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= 1e9):
        raise argparse.ArgumentTypeError(f"value must be above 0 and at most 1e9, not {text}")
    return value


def add_parser(actions: Commands) -> None:
    """Register ``admin quota`` (called by openkms.cli.admin, whose storage options the
    subcommands take)."""
    from openkms.cli.admin import storage_options as add_storage

    quota = actions.add_parser("quota", help="list and override request and resource quotas")
    commands = quota.add_subparsers(
        dest="quota_command", metavar="COMMAND", required=True, parser_class=type(quota)
    )
    listing = commands.add_parser("list", help="every quota: AWS's default, override, value")
    listing.add_argument("--account", type=_account, help="the values of this account")
    listing.add_argument("--region", default="us-east-1", help="for Region-dependent defaults")
    listing.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    add_storage(listing)
    setting = commands.add_parser("set", help="override a quota for an account (or '*')")
    setting.add_argument("quota", metavar="QUOTA", type=_quota)
    setting.add_argument("value", metavar="VALUE", type=_value)
    setting.add_argument("--account", type=_account, required=True)
    add_storage(setting)
    unsetting = commands.add_parser("unset", help="drop an override")
    unsetting.add_argument("quota", metavar="QUOTA", type=_quota)
    unsetting.add_argument("--account", type=_account, required=True)
    add_storage(unsetting)


def run(args: argparse.Namespace) -> int:
    from openkms.cli.admin import cli_settings
    from openkms.cli.exit_codes import Exit, fail, startup_failure
    from openkms.server.bootstrap import StartupError, open_store
    from openkms.storage.repository import StorageError

    try:
        store = open_store(cli_settings(args), create=False)
    except StartupError as exc:
        return startup_failure(exc)
    try:
        if args.quota_command == "list":
            return _list(store, args.account, args.region, args.json)
        return _change(store, args)
    except StorageError as exc:
        return fail(f"database error: {exc}", Exit.DATABASE)
    finally:
        store.close()


def _change(store: Store, args: argparse.Namespace) -> int:
    from openkms.cli.exit_codes import Exit, fail
    from openkms.storage.quotas import repository as quota_records

    with store.transaction(write=True, changes_state=False) as tx:
        if args.quota_command == "set":
            value = args.value
            if args.quota in quotas.RESOURCE_DEFAULTS and not value.is_integer():
                return fail(f"{args.quota} is a count: give a whole number", Exit.USAGE)
            quota_records.set_override(tx, args.account, args.quota, value, time.time())
            print(f"{args.quota} for account {args.account}: {value:g}")
            return 0
        if not quota_records.remove_override(tx, args.account, args.quota):
            return fail(f"no override of {args.quota} for account {args.account}", Exit.NEGATIVE)
    print(f"{args.quota} for account {args.account}: AWS's default again")
    return 0


def _list(store: Store, account: str | None, region: str, as_json: bool) -> int:
    from openkms.storage.quotas import repository as quota_records

    with store.transaction() as tx:
        overrides = quota_records.overrides(tx)
    rows = []
    for name in [*quotas.known_quotas(), *quotas.RESOURCE_DEFAULTS]:
        default: float | None = quotas.RESOURCE_DEFAULTS.get(name)
        if default is None:
            default = quotas.default_rate(name, region)
        every = overrides.get((quota_records.EVERY_ACCOUNT, name))
        own = overrides.get((account, name)) if account is not None else None
        value = own if own is not None else every if every is not None else default
        rows.append(
            {
                "Quota": name,
                "Kind": "resource" if name in quotas.RESOURCE_DEFAULTS else "request rate",
                "AWSDefault": default,
                "AllAccounts": every,
                "Account": own,
                "Value": value,
            }
        )
    others = sorted({a for a, _ in overrides} - {quota_records.EVERY_ACCOUNT, account})
    if as_json:
        print(json.dumps({"Region": region, "Quotas": rows, "OtherAccounts": others}, indent=2))
        return 0
    print(f"{'QUOTA':<36} {'AWS DEFAULT':>12} {'ALL (*)':>10} {'ACCOUNT':>10} {'VALUE':>10}")
    for row in rows:
        cells = [row[k] for k in ("AWSDefault", "AllAccounts", "Account", "Value")]
        print(
            f"{row['Quota']:<36} "
            + " ".join(f"{_cell(c):>{w}}" for c, w in zip(cells, (12, 10, 10, 10), strict=True))
        )
    if others:
        print(f"other accounts with overrides: {', '.join(others)}")
    return 0


def _cell(value: object) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
