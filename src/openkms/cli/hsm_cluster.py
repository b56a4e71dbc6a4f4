"""``openkms admin hsm-cluster``: the PKCS#11 tokens that AWS_CLOUDHSM custom key stores
use as their CloudHSM clusters.

    openkms admin hsm-cluster add --id cluster-ID --module PATH --token LABEL
                                  [--trust-anchor CERT.pem] [--data-dir DIR | --database URL]
    openkms admin hsm-cluster list [--data-dir DIR | --database URL]
    openkms admin hsm-cluster remove --id cluster-ID [--data-dir DIR | --database URL]

The id is an AWS cluster id (``cluster-`` and 11 to 16 letters or digits 2-7), which
CreateCustomKeyStore then names as its CloudHsmClusterId. ``add`` checks that the module
loads and offers the token (no PIN: the store's KeyStorePassword is the token's user
PIN); with ``--trust-anchor``, CreateCustomKeyStore must present that certificate
(IncorrectTrustAnchorException otherwise). ``remove`` refuses a cluster a custom key
store still uses. Each prints JSON; the server sees a change on its next request.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openkms.cli.parsing import Commands
    from openkms.domain.custom_key_stores import HSMCluster
    from openkms.storage.repository import Store


def add_parser(actions: Commands) -> list[argparse.ArgumentParser]:
    """Register ``hsm-cluster`` and its verbs; the verbs' parsers (for the storage options)."""
    cluster = actions.add_parser(
        "hsm-cluster", help="register PKCS#11 tokens as CloudHSM clusters for custom key stores"
    )
    verbs = cluster.add_subparsers(
        dest="cluster_command", metavar="COMMAND", required=True, parser_class=type(cluster)
    )
    add = verbs.add_parser("add", help="register a token as a cluster")
    add.add_argument("--id", required=True, dest="cluster_id", help="cluster-...")
    add.add_argument("--module", required=True, help="the PKCS#11 module (shared library)")
    add.add_argument("--token", required=True, help="the token's label")
    add.add_argument("--trust-anchor", metavar="CERT.pem", help="the cluster's trust anchor")
    listing = verbs.add_parser("list", help="list the registered clusters (JSON)")
    remove = verbs.add_parser("remove", help="forget a cluster no key store uses")
    remove.add_argument("--id", required=True, dest="cluster_id")
    listing.set_defaults(cluster_id=None)
    return [add, listing, remove]


def run(args: argparse.Namespace) -> int:
    from openkms.cli.admin import cli_settings
    from openkms.cli.exit_codes import Exit, fail, startup_failure
    from openkms.domain.custom_key_stores import CLUSTER_ID_PATTERN
    from openkms.server.bootstrap import StartupError, open_store
    from openkms.storage.repository import StorageError

    if args.cluster_id is not None and not CLUSTER_ID_PATTERN.fullmatch(args.cluster_id):
        return fail(
            f"{args.cluster_id!r} is not a CloudHSM cluster id: cluster- and 11 to 16 letters "
            "or digits 2-7 (AWS's pattern, e.g. cluster-openkmsdemo)",
            Exit.USAGE,
        )
    try:
        store = open_store(cli_settings(args), create=False)
    except StartupError as exc:
        return startup_failure(exc)
    try:
        if args.cluster_command == "add":
            return _add(store, args)
        if args.cluster_command == "remove":
            return _remove(store, args.cluster_id)
        return _list(store)
    except StorageError as exc:
        return fail(f"database error: {exc}", Exit.DATABASE)
    finally:
        store.close()


def _describe(cluster: HSMCluster, stores: list[str]) -> dict[str, object]:
    return {
        "CloudHsmClusterId": cluster.cluster_id,
        "Module": cluster.module,
        "Token": cluster.token,
        "TrustAnchorCertificate": cluster.trust_anchor,
        "CustomKeyStoreIds": stores,
        "CreatedAt": datetime.fromtimestamp(cluster.created_at, UTC).isoformat(),
    }


def _add(store: Store, args: argparse.Namespace) -> int:
    from openkms.cli.admin import cli_settings
    from openkms.cli.exit_codes import Exit, fail
    from openkms.crypto.certificates import CertificateError, certificate_der
    from openkms.crypto.hsm_keys import HSMKeysError, check_token
    from openkms.domain.custom_key_stores import HSMCluster
    from openkms.storage.key_stores import repository as store_records
    from openkms.storage.repository import DuplicateError

    anchor = None
    if args.trust_anchor is not None:
        try:
            with open(args.trust_anchor, encoding="utf-8") as fh:
                anchor = fh.read()
            certificate_der(anchor)
        except (OSError, UnicodeDecodeError) as exc:
            return fail(f"cannot read {args.trust_anchor}: {exc}", Exit.USAGE)
        except CertificateError:
            return fail(f"{args.trust_anchor} holds no PEM X.509 certificate", Exit.USAGE)
    module = os.path.abspath(args.module)
    try:
        check_token(module, args.token)
    except HSMKeysError as exc:  # the module, the token or its mechanisms
        return fail(str(exc), Exit.CONFIG)
    settings = cli_settings(args)
    if settings.root_of_trust == "pkcs11" and settings.pkcs11_token == args.token:
        return fail(
            f"token {args.token!r} holds the root of trust: a cluster needs a token of its own",
            Exit.USAGE,
        )
    cluster = HSMCluster(args.cluster_id, module, args.token, anchor, time.time())
    try:
        with store.transaction(write=True) as tx:
            taken = [
                known.cluster_id
                for known in store_records.list_clusters(tx)
                if (known.module, known.token) == (module, args.token)
            ]
            if taken:
                return fail(
                    f"token {args.token!r} is already cluster {taken[0]}: each cluster needs "
                    "a token of its own",
                    Exit.NEGATIVE,
                )
            store_records.insert_cluster(tx, cluster)
    except DuplicateError:
        return fail(f"cluster {args.cluster_id} is already registered", Exit.NEGATIVE)
    print(json.dumps(_describe(cluster, []), indent=2))
    return 0


def _list(store: Store) -> int:
    from openkms.storage.key_stores import repository as store_records

    with store.transaction() as tx:
        listed = [
            _describe(cluster, store_records.stores_of_cluster(tx, cluster.cluster_id))
            for cluster in store_records.list_clusters(tx)
        ]
    print(json.dumps(listed, indent=2))
    return 0


def _remove(store: Store, cluster_id: str) -> int:
    from openkms.cli.exit_codes import Exit, fail
    from openkms.storage.key_stores import repository as store_records

    with store.transaction(write=True) as tx:
        if store_records.get_cluster(tx, cluster_id) is None:
            return fail(f"no cluster {cluster_id} is registered", Exit.NEGATIVE)
        users = store_records.stores_of_cluster(tx, cluster_id)
        if users:
            return fail(
                f"cluster {cluster_id} is used by custom key store {', '.join(users)}: "
                "delete the store first (DeleteCustomKeyStore)",
                Exit.NEGATIVE,
            )
        store_records.delete_cluster(tx, cluster_id)
    print(json.dumps({"Removed": cluster_id}))
    return 0
