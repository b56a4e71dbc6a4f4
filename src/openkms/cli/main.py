"""The ``openkms`` command.

    openkms serve [--host 127.0.0.1] [--port 8700] [--data-dir DIR] [--database URL]
                  [--account-id ID] [--dev] [--workers N] [--maintenance-interval S]
                  [--regions us-east-1,eu-west-1]
                  [--request-threads N] [--audit-writer process|thread]
                  [--audit-digest-dir DIR] [--seed FILE]
                  [--db-lock-timeout S] [--db-statement-timeout S]
                  [--db-idle-in-transaction-timeout S]
                  [--tls-cert FILE --tls-key FILE] [--insecure-http] [--console]
                  [--root-of-trust pkcs11 --pkcs11-module PATH --pkcs11-token LABEL
                   --pkcs11-key LABEL]    (PIN: env OPENKMS_PKCS11_PIN)
                  [--quotas on|off] [--quota-nodes N] [--metrics-port PORT]
                  [--log-format text|json]   (see openkms.cli.ops_options)
    openkms admin create-account ACCOUNT_ID [--data-dir DIR] [--database URL]
    openkms admin list-accounts [--data-dir DIR] [--database URL]
    openkms admin rewrap --to pkcs11|software ...   (see openkms.cli.rewrap)
    openkms audit verify|seal|rotate-signing-key|export ...   (see openkms.cli.audit)
    openkms authz explain --principal ARN --action kms:Decrypt --key KEY [--context k=v ...]
    openkms maintenance run [--data-dir DIR] [--database URL] [--at 2027-01-01T00:00:00Z]
    openkms xks-proxy ...; openkms admin xks-key|xks-credential ...   (see openkms.cli.xks)
    openkms usage report [--month 2026-12] [--format table|json|csv] ...   (openkms.cli.usage)
    openkms backup --out FILE | restore FILE --data-dir DIR ...   (openkms.cli.backup)

Problems a user can fix end with one line on stderr and the exit status of their kind
(openkms.cli.exit_codes: 2 usage, 3 missing state, 4 root key, 5 database, 6
configuration), never a traceback. Only ``serve`` and ``admin create-account`` create a
data directory, database or root key; every other command refuses what is not there.

Transport: Decrypt and GenerateDataKey answers carry plaintext, so anything but a
loopback address is served over HTTPS (``--tls-cert``/``--tls-key``) unless the operator
says ``--insecure-http`` (e.g. behind a TLS-terminating proxy on the same host). The
process runs with umask 077: every file it writes is private to its user.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import ipaddress
import json
import logging
import os
import re
import socket
import ssl
import sys
from collections.abc import Callable
from typing import Any, Literal, TypedDict, TypeVar

import platformdirs

from openkms import __version__
from openkms.cli import (
    admin,
    audit,
    authz,
    backup,
    maintenance,
    ops_options,
    root_options,
    usage,
    xks,
)
from openkms.cli.parsing import Parser
from openkms.storage.engine import Timeouts

DEFAULT_PORT = 8700
DEFAULT_ACCOUNT = "111122223333"
_DEV_WARNING = (
    "WARNING: --dev mode: signatures are NOT verified and any credentials are accepted. "
    "Never use it for real keys."
)


def _account_id(value: str) -> str:
    if not re.fullmatch(r"\d{12}", value):
        raise argparse.ArgumentTypeError(f"account id must be 12 digits, not {value!r}")
    return value


def _regions(value: str) -> tuple[str, ...]:
    from openkms.auth.sigv4 import is_region_name

    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    bad = [name for name in names if not is_region_name(name)]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"not an AWS region name: {(bad or [value])[0]!r}")
    return names


def _proxies(value: str) -> tuple[str, ...]:
    """Addresses or networks (IPv4 or IPv6), comma-separated; no wildcard: trusting every
    sender of X-Forwarded-For would let any caller choose its aws:SourceIp."""
    found = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            found.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not an IP address or network: {item!r} (list the proxies, no wildcard)"
            ) from None
    return tuple(found)


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {value!r}") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, not {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="openkms", description="A self-hosted AWS KMS.")
    parser.add_argument("--version", action="version", version=f"openkms {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    serve = commands.add_parser("serve", help="run the KMS server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=DEFAULT_PORT)
    serve.add_argument(
        "--data-dir",
        help="state directory (root key, SQLite database); default: a per-user data directory",
    )
    serve.add_argument("--database", help="database URL, e.g. postgresql://user@host/db")
    serve.add_argument(
        "--account-id",
        type=_account_id,
        default=os.environ.get("OPENKMS_ACCOUNT_ID", DEFAULT_ACCOUNT),
        help="the default account (env OPENKMS_ACCOUNT_ID)",
    )
    serve.add_argument(
        "--dev",
        action="store_true",
        help="test-suite mode: no signature checks, in-memory state unless --data-dir",
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="server processes sharing the port and the database (default 1)",
    )
    serve.add_argument(
        "--maintenance-interval",
        type=_interval,
        default=os.environ.get("OPENKMS_MAINTENANCE_INTERVAL", "60"),
        help="seconds between runs of due lifecycle work (rotations, deletions, expiry) "
        "inside the server; 0 turns it off, e.g. to run 'openkms maintenance run' from "
        "cron instead (env OPENKMS_MAINTENANCE_INTERVAL, default 60)",
    )
    serve.add_argument(
        "--regions",
        type=_regions,
        default=(),
        help="comma-separated regions served (the first is the default); a credential "
        "scope naming another region is refused. Default: any well-formed region name",
    )
    serve.add_argument(
        "--request-threads",
        type=_threads,
        default=os.environ.get("OPENKMS_REQUEST_THREADS", "2"),
        help="threads answering requests in each server process (key generation has 4 "
        "more of its own); more threads contend for Python's GIL and serve fewer requests "
        "per second; database connections per process are sized from it "
        "(env OPENKMS_REQUEST_THREADS, default 2)",
    )
    serve.add_argument(
        "--audit-writer",
        choices=("process", "thread"),
        default=os.environ.get("OPENKMS_AUDIT_WRITER", "process"),
        help="store audit records from a writer process of each server process (default: "
        "the server's GIL stays free for requests) or from a thread of its own "
        "(env OPENKMS_AUDIT_WRITER)",
    )
    serve.add_argument(
        "--audit-digest-dir",
        metavar="DIR",
        default=os.environ.get("OPENKMS_AUDIT_DIGEST_DIR") or None,
        help="copy every signed audit digest to this directory (put it on another volume); "
        "'openkms audit verify --digests-from DIR' then catches a truncated trail "
        "(env OPENKMS_AUDIT_DIGEST_DIR)",
    )
    for name, default, what in (
        (
            "lock",
            Timeouts.lock,
            "a statement waits for a lock (PostgreSQL lock_timeout, "
            "SQLite busy timeout); a call that times out is answered KMSInternalException",
        ),
        ("statement", Timeouts.statement, "one statement may run (PostgreSQL statement_timeout)"),
        (
            "idle-in-transaction",
            Timeouts.idle_in_transaction,
            "a session may sit idle inside a transaction before PostgreSQL ends it and frees its "
            "locks (idle_in_transaction_session_timeout): a node frozen in a transaction holds "
            "up the audit chain of every node that long at most",
        ),
    ):
        env = "OPENKMS_DB_" + name.upper().replace("-", "_") + "_TIMEOUT"
        serve.add_argument(
            f"--db-{name}-timeout",
            type=_interval,
            metavar="S",
            default=os.environ.get(env, str(default)),
            help=f"seconds {what}; 0: no bound (env {env}, default {default:g})",
        )
    serve.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS: certificate chain (PEM)")
    serve.add_argument("--tls-key", metavar="FILE", help="serve HTTPS: private key (PEM)")
    serve.add_argument(
        "--trusted-proxies",
        type=_proxies,
        default=os.environ.get("OPENKMS_TRUSTED_PROXIES", ""),
        metavar="ADDRESSES",
        help="comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For and X-Forwarded-Proto headers are believed (the caller's address "
        "for aws:SourceIp and audit records, aws:SecureTransport); default none: the headers "
        "are ignored, whoever sends them (env OPENKMS_TRUSTED_PROXIES)",
    )
    serve.add_argument(
        "--insecure-http",
        action="store_true",
        help="allow plain HTTP on a non-loopback address (only behind a TLS-terminating proxy)",
    )
    serve.add_argument(
        "--console",
        action="store_true",
        help="serve the web console at /_openkms/console/ (always on with --dev)",
    )
    serve.add_argument(
        "--seed",
        metavar="FILE",
        help="a YAML seed file: keys with fixed ids, aliases, tags, policies, grants, IAM users "
        "with fixed access keys; applied at start and after every reset (see README)",
    )
    root_options.add_options(serve)
    ops_options.add_options(serve)
    admin.add_parser(commands)
    authz.add_parser(commands)
    audit.add_parser(commands)
    maintenance.add_parser(commands)
    xks.add_parser(commands)
    usage.add_parser(commands)
    backup.add_parsers(commands)
    return parser


_Number = TypeVar("_Number", int, float)


def _bounded(
    kind: Callable[[str], _Number], what: str, low: float, high: float
) -> Callable[[str], _Number]:
    """An argparse type: ``kind(value)`` within ``low..high``, else a one-line error."""

    def parse(value: str) -> _Number:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {what} {value!r}") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{what} must be {low:g}-{high:g}, not {value}")
        return number

    return parse


_interval = _bounded(float, "interval (seconds)", 0, 86_400)
_workers = _bounded(int, "worker count", 1, 64)
_threads = _bounded(int, "thread count", 1, 256)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


class _TLSOptions(TypedDict, total=False):
    """uvicorn's TLS keyword arguments (none: plain HTTP)."""

    ssl_certfile: str
    ssl_keyfile: str


class _ServerOptions(_TLSOptions):
    """The keyword arguments ``serve`` passes to ``uvicorn.run``."""

    host: str
    port: int
    log_level: str
    access_log: bool
    lifespan: Literal["on"]
    server_header: bool
    proxy_headers: bool
    forwarded_allow_ips: str | None
    log_config: dict[str, Any] | None


def _transport(args: argparse.Namespace) -> _TLSOptions | str:
    """uvicorn's TLS options for ``args``, or the one-line reason the server must not start."""
    if bool(args.tls_cert) != bool(args.tls_key):
        return "give both --tls-cert and --tls-key"
    if not args.tls_cert:
        if _is_loopback(args.host) or args.insecure_http:
            return _TLSOptions()
        return (
            f"refusing to serve plain HTTP on non-loopback address {args.host}: "
            "give --tls-cert and --tls-key, or --insecure-http behind a TLS-terminating proxy"
        )
    try:  # fail here with one line rather than in uvicorn with a traceback
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            args.tls_cert, args.tls_key
        )
    except ssl.SSLError as exc:  # a subclass of OSError: first
        return (
            f"cannot use the TLS certificate {args.tls_cert} and key {args.tls_key}: "
            "not a PEM certificate chain and its private key"
            + (f" ({exc.reason})" if exc.reason else "")
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return f"cannot use the TLS certificate {args.tls_cert} and key {args.tls_key}: {reason}"
    return _TLSOptions(ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key)


def _listen(host: str, port: int) -> socket.socket | str:
    """The server's listening socket, bound (as uvicorn binds it), or the one-line reason
    it cannot be: bound before anything is printed or started, so that "listening" is
    never said of a port another process holds."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    sock.set_inheritable(True)  # handed to the worker processes
    return sock


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from openkms.cli.exit_codes import Exit, fail, startup_failure
    from openkms.server.app import OpenKMSApp
    from openkms.server.bootstrap import Settings, StartupError, build
    from openkms.server.data_dir import warn_if_shared
    from openkms.server.logs import configure as configure_logs
    from openkms.server.seed import Seeder, SeedError
    from openkms.server.worker import PARENT_ENV, SETTINGS_ENV

    tls = _transport(args)
    if isinstance(tls, str):
        return fail(tls, Exit.CONFIG)
    data_dir = args.data_dir
    if data_dir is None and not args.dev:
        data_dir = platformdirs.user_data_dir("openkms")
    settings = Settings(
        data_dir=data_dir,
        database=args.database,
        account_id=args.account_id,
        dev=args.dev,
        maintenance_interval=args.maintenance_interval,
        **({"region": args.regions[0], "regions": args.regions} if args.regions else {}),
        request_threads=args.request_threads,
        audit_writer=args.audit_writer,
        audit_digest_dir=(
            os.path.abspath(args.audit_digest_dir) if args.audit_digest_dir else None
        ),
        db_lock_timeout=args.db_lock_timeout,
        db_statement_timeout=args.db_statement_timeout,
        db_idle_in_transaction_timeout=args.db_idle_in_transaction_timeout,
        **root_options.settings_of(args),
        console=args.console or args.dev,
        seed_file=os.path.abspath(args.seed) if args.seed else None,
        **ops_options.settings_of(args),
    )
    configure_logs(settings.log_format)
    if args.workers > 1 and data_dir is None and args.database is None:
        return fail(
            "--workers needs state the processes can share: give --data-dir or --database",
            Exit.CONFIG,
        )
    try:
        seeder = Seeder.load(settings)  # checked before anything is made
    except SeedError as exc:
        return fail(str(exc), Exit.CONFIG)
    if args.dev:
        print(_DEV_WARNING, file=sys.stderr, flush=True)
    sock = _listen(args.host, args.port)
    if isinstance(sock, str):
        return fail(sock, Exit.CONFIG)
    metrics = ops_options.start_metrics(args, settings)
    if isinstance(metrics, str):
        sock.close()
        return fail(metrics, Exit.CONFIG)
    settings = metrics.settings  # with its metrics directory
    with sock, contextlib.closing(metrics):
        try:
            runtime = build(settings)
            if seeder is not None:
                seeder.apply(runtime)
        except SeedError as exc:
            return fail(str(exc), Exit.CONFIG)
        except StartupError as exc:
            return startup_failure(exc)
        if data_dir is not None:
            warn_if_shared(data_dir)
        for line in runtime.banner:
            print(line, flush=True)
        where = args.database or (os.path.join(data_dir, "openkms.db") if data_dir else "memory")
        print(
            f"OpenKMS {__version__} listening on {'https' if tls else 'http'}://"
            f"{args.host}:{args.port} "
            f"(account {args.account_id}, storage {_redact(where)})",
            flush=True,
        )
        options = _ServerOptions(
            host=args.host,
            port=args.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            server_header=False,
            # X-Forwarded-For/-Proto set the caller's address (aws:SourceIp, the records'
            # sourceIPAddress) and aws:SecureTransport: believed only from proxies named here.
            proxy_headers=bool(args.trusted_proxies),
            forwarded_allow_ips=",".join(args.trusted_proxies) or None,
            # JSON logs: uvicorn's own lines go to the root logger's JSON handler too.
            log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
            **tls,
        )
        if args.workers == 1:
            with contextlib.suppress(KeyboardInterrupt):
                uvicorn.Server(uvicorn.Config(OpenKMSApp(runtime, seeder), **options)).run([sock])
            return 0
        # Each worker process builds its own runtime from the same settings; the first-start
        # work (root key, credentials) is done above, once. Workers end with this process.
        runtime.store.close()
        os.environ[SETTINGS_ENV] = json.dumps(dataclasses.asdict(settings))
        os.environ[PARENT_ENV] = str(os.getpid())
        config = uvicorn.Config(
            "openkms.server.worker:create_app", factory=True, workers=args.workers, **options
        )
        Multiprocess(config, sockets=[sock]).run()
        return 0


def _redact(url: str) -> str:
    """Hide a password in a database URL before printing it."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # it narrates every start
    os.umask(0o077)  # databases, root key, audit exports: private to this user
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "admin":
        return admin.run(args)
    if args.command == "authz":
        return authz.run(args)
    if args.command == "audit":
        return audit.run(args)
    if args.command == "maintenance":
        return maintenance.run(args)
    if args.command == "xks-proxy":
        return xks.run_proxy(args)
    if args.command == "usage":
        return usage.run(args)
    if args.command in ("backup", "restore"):
        return backup.run(args)
    return 2  # Exit.USAGE: argparse admits no other command


if __name__ == "__main__":
    sys.exit(main())
