"""The settings of one server process (``openkms serve`` options, environment), as
:mod:`openkms.server.bootstrap` and everything it starts read them; pickled to the audit
writer process."""

from __future__ import annotations

from dataclasses import dataclass

from openkms.storage.engine import Timeouts


@dataclass(frozen=True)
class Settings:
    data_dir: str | None
    database: str | None
    account_id: str
    dev: bool = False
    region: str = "us-east-1"
    #: Regions a credential scope may name (``serve --regions``); empty: every
    #: well-formed region name. ``region`` (the default) is the first of them.
    regions: tuple[str, ...] = ()
    #: Seconds between in-server maintenance runs (0: none; see openkms.service.maintenance).
    maintenance_interval: float = 60.0
    #: Threads answering requests in each server process (see openkms.server.app).
    request_threads: int = 2
    #: Where audit records are stored from: "process" (a writer process per server
    #: process, openkms.server.audit_process) or "thread" (a thread of the server's own).
    #: In-memory state is always written inline.
    audit_writer: str = "process"
    #: A directory (on another volume) each signed audit digest is copied to
    #: (``serve --audit-digest-dir``; see openkms.audit.digest_files).
    audit_digest_dir: str | None = None
    #: Bounds on waiting for the database, in seconds, 0 for none (openkms.storage.engine
    #: Timeouts; ``serve --db-lock-timeout`` and the like).
    db_lock_timeout: float = Timeouts.lock
    db_statement_timeout: float = Timeouts.statement
    db_idle_in_transaction_timeout: float = Timeouts.idle_in_transaction

    def timeouts(self) -> Timeouts:
        return Timeouts(
            lock=self.db_lock_timeout,
            statement=self.db_statement_timeout,
            idle_in_transaction=self.db_idle_in_transaction_timeout,
        )

    #: "software" (the root key above) or "pkcs11": a key in a PKCS#11 HSM, named by the
    #: three options below (openkms.server.root_of_trust; the PIN from the environment).
    root_of_trust: str = "software"
    pkcs11_module: str | None = None
    pkcs11_token: str | None = None
    pkcs11_key: str | None = None
    #: Serve the web console (``serve --console``; set with ``--dev``): server/console_files.py.
    console: bool = False
    #: A seed file applied at start and after each dev reset (openkms.server.seed).
    seed_file: str | None = None
    #: Request quotas on, and this process's share of each rate; the metrics snapshot
    #: directory (None: no metrics); the log format (openkms.cli.ops_options).
    quotas: bool = False
    quota_share: float = 1.0
    metrics_dir: str | None = None
    log_format: str = "text"
