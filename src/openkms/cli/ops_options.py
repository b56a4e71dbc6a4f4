"""The operating options of ``openkms serve``: request quotas, metrics and log format.

--quotas on|off          request quotas (env OPENKMS_QUOTAS; default off with --dev,
                         on otherwise): openkms.service.throttle
--quota-nodes N          nodes sharing the database, each enforcing 1/N of every rate
                         (env OPENKMS_QUOTA_NODES, default 1)
--metrics-port PORT      serve GET /metrics (Prometheus text) on this port (env
                         OPENKMS_METRICS_PORT; default: none)
--metrics-host HOST      its address (default 127.0.0.1: loopback only)
--log-format text|json   log lines as text or one JSON object each, with the request
                         id (env OPENKMS_LOG_FORMAT, default text)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openkms.server.bootstrap import Settings
    from openkms.server.metrics_export import Exporter


def _switch(value: str) -> bool:
    if value not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, not {value!r}")
    return value == "on"


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid node count {value!r}") from None
    if not 1 <= number <= 1000:
        raise argparse.ArgumentTypeError(f"node count must be 1-1000, not {value}")
    return number


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, not {value!r}")
    return int(value)


def add_options(parser: argparse.ArgumentParser) -> None:
    from openkms.server.logs import FORMATS

    quotas = os.environ.get("OPENKMS_QUOTAS")
    parser.add_argument(
        "--quotas",
        type=_switch,
        metavar="on|off",
        default=None if quotas is None else quotas,
        help="AWS KMS's request quotas per account and Region, answered with "
        "ThrottlingException (env OPENKMS_QUOTAS; default off with --dev, on otherwise); "
        "see 'openkms admin quota list'",
    )
    parser.add_argument(
        "--quota-nodes",
        type=_count,
        default=os.environ.get("OPENKMS_QUOTA_NODES", "1"),
        metavar="N",
        help="servers sharing the database: each enforces 1/N of every quota (with "
        "--workers W, each worker 1/(N×W)) (env OPENKMS_QUOTA_NODES, default 1)",
    )
    port = os.environ.get("OPENKMS_METRICS_PORT")
    parser.add_argument(
        "--metrics-port",
        type=_port,
        default=port or None,
        metavar="PORT",
        help="serve GET /metrics in the Prometheus text format on this port "
        "(env OPENKMS_METRICS_PORT; default: no metrics)",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="the metrics port's address (default 127.0.0.1: this host only)",
    )
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        default=os.environ.get("OPENKMS_LOG_FORMAT", "text"),
        help="log lines as text or as one JSON object each, with the request id "
        "(env OPENKMS_LOG_FORMAT, default text)",
    )


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~openkms.server.bootstrap.Settings` fields of these options (the
    metrics directory is made by :func:`start_metrics`)."""
    return {
        "quotas": not args.dev if args.quotas is None else args.quotas,
        "quota_share": 1.0 / (args.workers * args.quota_nodes),
        "log_format": args.log_format,
    }


class Metrics:
    """``GET /metrics`` of one ``serve`` (if asked for), and its snapshot directory: the
    settings the server processes run with name it."""

    def __init__(self, settings: Settings, exporter: Exporter | None = None) -> None:
        self.settings = settings
        self._exporter = exporter

    def close(self) -> None:
        if self._exporter is not None:
            self._exporter.close()
        if self.settings.metrics_dir is not None:
            shutil.rmtree(self.settings.metrics_dir, ignore_errors=True)


def start_metrics(args: argparse.Namespace, settings: Settings) -> Metrics | str:
    """Start ``GET /metrics`` on a thread (nothing without ``--metrics-port``), or the
    one-line reason it cannot be served."""
    if args.metrics_port is None:
        return Metrics(settings)
    from openkms.server.metrics_export import Exporter

    directory = tempfile.mkdtemp(prefix="openkms-metrics-")
    settings = dataclasses.replace(settings, metrics_dir=directory)
    try:
        exporter = Exporter(args.metrics_host, args.metrics_port, directory, _key_counter(settings))
    except OSError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        return (
            f"cannot serve metrics on {args.metrics_host}:{args.metrics_port}: "
            f"{exc.strerror or exc}"
        )
    return Metrics(settings, exporter)


def _key_counter(settings: Settings) -> Callable[[], dict[str, int]] | None:
    """Counts keys by state on a store of the exporter's own (opened on first use); None
    for in-memory state, which only its server process can read."""
    if settings.database is None and settings.data_dir is None:
        return None
    opened: list[Any] = []

    def count() -> dict[str, int]:
        from openkms.server.bootstrap import open_store
        from openkms.storage.quotas import repository as quota_records

        if not opened:
            opened.append(open_store(settings, create=False))
        with opened[0].transaction() as tx:
            return quota_records.keys_by_state(tx)

    return count
