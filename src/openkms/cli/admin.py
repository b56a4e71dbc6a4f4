"""``openkms admin``: account administration on the server's database.

    openkms admin create-account ACCOUNT_ID [--data-dir DIR] [--database URL]
    openkms admin list-accounts [--data-dir DIR] [--database URL]
    openkms admin rewrap --to pkcs11|software ...   (openkms.cli.rewrap)
    openkms admin quota list|set|unset ...   (openkms.cli.quota)
    openkms admin hsm-cluster add|list|remove ...    (openkms.cli.hsm_cluster)

``create-account`` registers an account (it makes the data directory, database and root
key on first use, as ``serve`` does; ``list-accounts`` only opens them and creates
nothing) and creates its root user's access key; it
prints ``{"AccountId", "AccessKeyId", "SecretAccessKey"}`` as JSON (the secret is shown
once; it is stored only wrapped under the root key). ``list-accounts`` prints every
account (registered here, or the server's own through its root key) as a JSON list.
Both open the database and root key exactly as ``openkms serve`` does (so a server on
PostgreSQL whose root key file is in ``--data-dir`` needs both options here too), and
work next to a running server: it sees a new account's key on its first request.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import platformdirs

from openkms.cli import hsm_cluster, quota, rewrap, root_options, xks
from openkms.storage import shared as shared_records

if TYPE_CHECKING:
    from openkms.cli.parsing import Commands
    from openkms.crypto.keyring import Keyring
    from openkms.server.bootstrap import Settings
    from openkms.storage.repository import Store


def _account_id(value: str) -> str:
    if not re.fullmatch(r"\d{12}", value):
        raise argparse.ArgumentTypeError(f"account id must be 12 digits, not {value!r}")
    return value


def storage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="state directory (root key, SQLite database), as "
        "for serve; default: the per-user data directory",
    )
    parser.add_argument("--database", help="database URL, e.g. postgresql://user@host/db")
    root_options.add_options(parser)


def cli_settings(args: argparse.Namespace, account_id: str = "000000000000") -> Settings:
    """The bootstrap settings named by ``--data-dir``/``--database`` (default: the per-user
    data directory, as for ``serve``)."""
    from openkms.server.bootstrap import Settings

    data_dir = args.data_dir
    if data_dir is None and args.database is None:
        data_dir = platformdirs.user_data_dir("openkms")
    return Settings(
        data_dir=data_dir,
        database=args.database,
        account_id=account_id,
        **root_options.settings_of(args),
    )


def open_cli_state(
    args: argparse.Namespace, account_id: str = "000000000000", *, create: bool = False
) -> tuple[Store, Keyring]:
    """The store and root keyring named by ``--data-dir``/``--database``, opened as ``serve``
    opens them (raises :class:`openkms.server.bootstrap.StartupError`). Only ``create``
    makes a missing data directory, database or root key; by default they must exist."""
    from openkms.server.bootstrap import open_state

    return open_state(cli_settings(args, account_id), create=create)


def add_parser(commands: Commands) -> None:
    """Register ``admin`` and its subcommands on the top-level subparsers."""
    admin = commands.add_parser("admin", help="administer accounts")
    actions = admin.add_subparsers(
        dest="admin_command", metavar="COMMAND", required=True, parser_class=type(admin)
    )
    create = actions.add_parser("create-account", help="create an account and its root key")
    create.add_argument("account_id", metavar="ACCOUNT_ID", type=_account_id)
    storage_options(create)
    listing = actions.add_parser("list-accounts", help="list the accounts (JSON)")
    storage_options(listing)
    rewrap.add_parser(actions)
    storage_options(actions.choices["rewrap"])
    xks.add_admin_parsers(actions)
    quota.add_parser(actions)
    for verb in hsm_cluster.add_parser(actions):
        storage_options(verb)


def run(args: argparse.Namespace) -> int:
    from openkms.cli.exit_codes import Exit, fail, startup_failure
    from openkms.server.bootstrap import StartupError
    from openkms.storage.repository import StorageError

    if args.admin_command == "rewrap":
        return rewrap.run(args)
    if args.admin_command in ("xks-key", "xks-credential"):
        return xks.run_admin(args)
    if args.admin_command == "quota":
        return quota.run(args)
    if args.admin_command == "hsm-cluster":
        return hsm_cluster.run(args)
    account = getattr(args, "account_id", "000000000000")
    creating = args.admin_command == "create-account"
    try:
        store, keyring = open_cli_state(args, account, create=creating)
    except StartupError as exc:
        return startup_failure(exc)
    try:
        if creating:
            return _create_account(store, keyring, account)
        return _list_accounts(store)
    except StorageError as exc:
        return fail(f"database error: {exc}", Exit.DATABASE)
    finally:
        store.close()


def _create_account(store: Store, keyring: Keyring, account: str) -> int:
    from openkms.crypto import contexts
    from openkms.domain import identities as ids
    from openkms.domain.principals import root_arn
    from openkms.storage.identity import repository as identity_records
    from openkms.storage.repository import DuplicateError

    access_key_id, secret = ids.new_access_key_id(), ids.new_secret_access_key()
    wrapped = keyring.wrap(secret.encode(), contexts.access_key_secret(access_key_id))
    now = time.time()
    try:
        with store.transaction(write=True) as tx:
            if identity_records.root_key_ids(tx, account):
                raise DuplicateError(account)
            identity_records.insert_account(tx, account, now)
            shared_records.put_access_key(
                tx, access_key_id, account, root_arn(account), wrapped, now
            )
    except DuplicateError:
        from openkms.cli.exit_codes import Exit, fail

        return fail(f"account {account} already exists", Exit.NEGATIVE)
    result = {"AccountId": account, "AccessKeyId": access_key_id, "SecretAccessKey": secret}
    print(json.dumps(result, indent=2))
    return 0


def _list_accounts(store: Store) -> int:
    from openkms.storage.identity import repository as identity_records

    with store.transaction() as tx:
        accounts = identity_records.list_accounts(tx)
        listed = [
            {
                "AccountId": account,
                "CreatedAt": None
                if created is None
                else datetime.fromtimestamp(created, UTC).isoformat(),
                "RootAccessKeyIds": identity_records.root_key_ids(tx, account),
            }
            for account, created in accounts.items()
        ]
    print(json.dumps(listed, indent=2))
    return 0
