"""``openkms xks-proxy``: OpenKMS as an external key store proxy for AWS KMS, and the
admin commands of its keys and credentials.

    openkms xks-proxy [--host 127.0.0.1] [--port 8800] [--uri-prefix PATH]
                      [--data-dir DIR] [--database URL] [--account-id ID]
                      [--tls-cert FILE --tls-key FILE] [--insecure-http]
                      [--request-threads N] [--audit-writer process|thread]
                      [--max-in-flight N] [root-of-trust options, as serve]
        credential: env OPENKMS_XKS_ACCESS_KEY_ID / OPENKMS_XKS_SECRET_ACCESS_KEY,
        and/or the stored ones below (several at once, for rotation)
    openkms admin xks-key create KEY_ID [--usage encrypt-decrypt|encrypt-only|
                      decrypt-only|none] [--allow-principal ARN ...]
                      [--allow-operation OP ...] [--description TEXT]
    openkms admin xks-key list | disable KEY_ID | enable KEY_ID | delete KEY_ID
    openkms admin xks-credential create [--uri-prefix PATH] | list | delete ACCESS_KEY_ID

The proxy serves ``[/PATH]/kms/xks/v1/...`` (:mod:`openkms.server.xks_app`); it takes
the same state options as ``serve`` and, like it, makes the state on first start and
serves plain HTTP only on loopback (AWS KMS requires HTTPS with a public certificate:
give ``--tls-cert``/``--tls-key``, or put a TLS-terminating proxy in front with
``--insecure-http``). ``xks-key create`` and ``xks-credential create`` make the state
too when there is none (as ``admin create-account``); the other commands only open it.
``xks-credential create`` prints the JSON file the AWS KMS console imports
(``XksProxyUriPath``, ``XksProxyAuthenticationCredential``): its secret is shown once.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import platformdirs

from openkms.cli import root_options
from openkms.domain import xks

if TYPE_CHECKING:
    from openkms.cli.parsing import Commands
    from openkms.crypto.keyring import Keyring
    from openkms.storage.repository import Store

DEFAULT_PORT = 8800
PREFIX_ENV = "OPENKMS_XKS_URI_PREFIX"


def _uri_prefix(value: str) -> str:
    if xks.uri_path(value) is None:
        raise argparse.ArgumentTypeError(
            f"not a URI path prefix: {value!r} (letters, digits, '_', '-' and '/'; the "
            f"whole path with {xks.API_PATH} at most {xks.MAX_URI_PATH} characters)"
        )
    return value.strip("/")


def _key_id(value: str) -> str:
    if not xks.is_key_id(value):
        raise argparse.ArgumentTypeError(
            f"not an external key id: {value!r} (1-128 characters from A-Z, a-z, 0-9, . _ -)"
        )
    return value


def add_parser(commands: Commands) -> None:
    """Register ``xks-proxy`` on the top-level subparsers."""
    from openkms.cli.admin import storage_options
    from openkms.cli.main import DEFAULT_ACCOUNT, _account_id, _port, _threads

    proxy = commands.add_parser("xks-proxy", help="serve the AWS KMS XKS proxy API")
    proxy.add_argument("--host", default="127.0.0.1")
    proxy.add_argument("--port", type=_port, default=DEFAULT_PORT)
    proxy.add_argument(
        "--uri-prefix",
        type=_uri_prefix,
        default=os.environ.get(PREFIX_ENV, ""),
        metavar="PATH",
        help="serve [/PATH]/kms/xks/v1 (the external key store's XksProxyUriPath; "
        f"env {PREFIX_ENV}; default none)",
    )
    storage_options(proxy)
    proxy.add_argument(
        "--account-id",
        type=_account_id,
        default=os.environ.get("OPENKMS_ACCOUNT_ID", DEFAULT_ACCOUNT),
        help="the account whose audit trail records the proxy's calls (env OPENKMS_ACCOUNT_ID)",
    )
    proxy.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS: certificate chain (PEM)")
    proxy.add_argument("--tls-key", metavar="FILE", help="serve HTTPS: private key (PEM)")
    proxy.add_argument(
        "--insecure-http",
        action="store_true",
        help="allow plain HTTP on a non-loopback address (only behind a TLS-terminating proxy)",
    )
    proxy.add_argument(
        "--request-threads",
        type=_threads,
        default=os.environ.get("OPENKMS_REQUEST_THREADS", "2"),
        help="threads answering requests that need the database (default 2)",
    )
    proxy.add_argument(
        "--audit-writer",
        choices=("process", "thread"),
        default=os.environ.get("OPENKMS_AUDIT_WRITER", "process"),
        help="store audit records from a writer process (default) or a thread",
    )
    proxy.add_argument(
        "--max-in-flight",
        type=_threads,
        default="256",
        help="requests answered at once; more are ThrottlingException (default 256)",
    )


def add_admin_parsers(actions: Any) -> None:
    """Register ``xks-key`` and ``xks-credential`` under ``openkms admin``."""
    from openkms.cli.admin import storage_options

    keys = actions.add_parser("xks-key", help="manage the XKS proxy's external keys")
    key_actions = keys.add_subparsers(
        dest="xks_action", metavar="ACTION", required=True, parser_class=type(keys)
    )
    create = key_actions.add_parser("create", help="create an external key (AES-256)")
    create.add_argument("key_id", metavar="KEY_ID", type=_key_id)
    create.add_argument("--usage", choices=sorted(xks.USAGE_CHOICES), default="encrypt-decrypt")
    create.add_argument(
        "--allow-principal",
        action="append",
        default=[],
        metavar="ARN",
        help="secondary authorization: only these awsPrincipalArn values (repeatable)",
    )
    create.add_argument(
        "--allow-operation",
        action="append",
        default=[],
        metavar="OPERATION",
        help="secondary authorization: only these kmsOperation values (repeatable)",
    )
    create.add_argument("--description", default="")
    storage_options(create)
    listing = key_actions.add_parser("list", help="list the external keys (JSON)")
    storage_options(listing)
    for action in ("disable", "enable", "delete"):
        sub = key_actions.add_parser(action, help=f"{action} an external key")
        sub.add_argument("key_id", metavar="KEY_ID", type=_key_id)
        storage_options(sub)
    creds = actions.add_parser("xks-credential", help="manage the XKS proxy's SigV4 credentials")
    cred_actions = creds.add_subparsers(
        dest="xks_action", metavar="ACTION", required=True, parser_class=type(creds)
    )
    made = cred_actions.add_parser("create", help="create a credential (printed once)")
    made.add_argument("--uri-prefix", type=_uri_prefix, default="", metavar="PATH")
    storage_options(made)
    storage_options(cred_actions.add_parser("list", help="list credentials (JSON)"))
    gone = cred_actions.add_parser("delete", help="delete a credential")
    gone.add_argument("access_key_id", metavar="ACCESS_KEY_ID")
    storage_options(gone)


def run_proxy(args: argparse.Namespace) -> int:
    import uvicorn

    from openkms import __version__
    from openkms.cli.exit_codes import Exit, fail, startup_failure
    from openkms.cli.main import _listen, _redact, _transport
    from openkms.server.bootstrap import Settings, StartupError
    from openkms.server.xks_app import XKSProxyApp
    from openkms.server.xks_runtime import build

    tls = _transport(args)
    if isinstance(tls, str):
        return fail(tls, Exit.CONFIG)
    data_dir = args.data_dir
    if data_dir is None and args.database is None:
        data_dir = platformdirs.user_data_dir("openkms")
    settings = Settings(
        data_dir=data_dir,
        database=args.database,
        account_id=args.account_id,
        request_threads=args.request_threads,
        audit_writer=args.audit_writer,
        **root_options.settings_of(args),
    )
    uri_path = xks.uri_path(args.uri_prefix)
    assert uri_path is not None  # checked by the option's type
    sock = _listen(args.host, args.port)
    if isinstance(sock, str):
        return fail(sock, Exit.CONFIG)
    with sock:
        try:
            runtime = build(settings)
        except StartupError as exc:
            return startup_failure(exc)
        where = args.database or os.path.join(data_dir or "", "openkms.db")
        print(
            f"OpenKMS {__version__} XKS proxy listening on {'https' if tls else 'http'}://"
            f"{args.host}:{args.port}{uri_path} ({runtime.credential_count} credential(s), "
            f"storage {_redact(where)})",
            flush=True,
        )
        app = XKSProxyApp(runtime, uri_path, max_in_flight=args.max_in_flight)
        config = uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            server_header=False,
            **tls,
        )
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.Server(config).run([sock])
    return 0


def run_admin(args: argparse.Namespace) -> int:
    """``openkms admin xks-key ...`` and ``openkms admin xks-credential ...``."""
    from openkms.cli.admin import open_cli_state
    from openkms.cli.exit_codes import Exit, fail, startup_failure
    from openkms.server.bootstrap import StartupError
    from openkms.storage.repository import DuplicateError, StorageError

    creating = args.xks_action == "create"
    try:
        store, keyring = open_cli_state(args, create=creating)
    except StartupError as exc:
        return startup_failure(exc)
    try:
        if args.admin_command == "xks-key":
            return _keys(args, store, keyring)
        return _credentials(args, store, keyring)
    except DuplicateError as exc:
        return fail(f"{exc} already exists", Exit.NEGATIVE)
    except LookupError as exc:
        return fail(f"{exc.args[0]} does not exist", Exit.NEGATIVE)
    except StorageError as exc:
        return fail(f"database error: {exc}", Exit.DATABASE)
    finally:
        store.close()


def _keys(args: argparse.Namespace, store: Store, keyring: Keyring) -> int:
    from openkms.domain.xks import XksKeyStatus
    from openkms.service.xks_proxy import new_key
    from openkms.storage.xks import repository as xks_records

    action = args.xks_action
    if action == "create":
        key = new_key(
            keyring,
            args.key_id,
            usage=xks.USAGE_CHOICES[args.usage],
            allowed_principals=tuple(args.allow_principal),
            allowed_operations=tuple(args.allow_operation),
            description=args.description,
            now=time.time(),
        )
        with store.transaction(write=True) as tx:
            xks_records.insert_key(tx, key)
        print(json.dumps(_key_json(key), indent=2))
        return 0
    if action == "list":
        with store.transaction() as tx:
            listed = [_key_json(key) for key in xks_records.list_keys(tx)]
        print(json.dumps(listed, indent=2))
        return 0
    with store.transaction(write=True) as tx:
        if action == "delete":
            found = xks_records.delete_key(tx, args.key_id)
        else:
            status = XksKeyStatus.ENABLED if action == "enable" else XksKeyStatus.DISABLED
            found = xks_records.set_status(tx, args.key_id, status)
    if not found:
        raise LookupError(f"external key {args.key_id}")
    print(json.dumps({"KeyId": args.key_id, "Action": action}))
    return 0


def _key_json(key: xks.XksKey) -> dict[str, Any]:
    return {
        "KeyId": key.key_id,
        "KeySpec": xks.KEY_SPEC,
        "KeyStatus": key.status.value,
        "KeyUsage": sorted(u.value for u in key.usage),
        "AllowedPrincipals": list(key.allowed_principals),
        "AllowedOperations": list(key.allowed_operations),
        "Description": key.description,
        "CreatedAt": datetime.fromtimestamp(key.created_at, UTC).isoformat(),
    }


def _credentials(args: argparse.Namespace, store: Store, keyring: Keyring) -> int:
    from openkms.crypto import contexts
    from openkms.storage.xks import repository as xks_records

    action = args.xks_action
    if action == "create":
        access_key_id = base64.b32encode(os.urandom(15)).decode()  # 24 of A-Z, 2-7
        secret = base64.b64encode(os.urandom(32)).decode()  # 44 characters, 256 bits
        wrapped = keyring.wrap(secret.encode(), contexts.xks_credential_secret(access_key_id))
        with store.transaction(write=True) as tx:
            xks_records.insert_credential(tx, access_key_id, wrapped, time.time())
        config = {
            "XksProxyUriPath": xks.uri_path(args.uri_prefix),
            "XksProxyAuthenticationCredential": {
                "AccessKeyId": access_key_id,
                "RawSecretAccessKey": secret,
            },
        }
        print(json.dumps(config, indent=2))
        return 0
    if action == "list":
        with store.transaction() as tx:
            listed = [
                {"AccessKeyId": akid, "CreatedAt": datetime.fromtimestamp(at, UTC).isoformat()}
                for akid, at in xks_records.list_credentials(tx)
            ]
        print(json.dumps(listed, indent=2))
        return 0
    with store.transaction(write=True) as tx:
        found = xks_records.delete_credential(tx, args.access_key_id)
    if not found:
        raise LookupError(f"XKS credential {args.access_key_id}")
    print(json.dumps({"AccessKeyId": args.access_key_id, "Action": "delete"}))
    return 0
