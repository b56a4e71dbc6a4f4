"""The metrics of several processes summed from their snapshot files
(openkms.server.metrics, openkms.server.metrics_export), the JSON log format
(openkms.server.logs) and the serve options' defaults (openkms.cli.ops_options)."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry
from servers import free_port

from openkms.cli.main import build_parser
from openkms.cli.ops_options import settings_of
from openkms.server import logs
from openkms.server.metrics import Recorder
from openkms.server.metrics_export import SnapshotCollector

ENCRYPT = b"TrentService.Encrypt"


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def _scrape(directory: Path) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(str(directory), lambda: {"Enabled": 3, "Disabled": 1}))
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_snapshots_of_live_and_ended_processes_are_summed(tmp_path: Path) -> None:
    recorder = Recorder(["Encrypt", "Decrypt"], str(tmp_path))
    recorder.request(ENCRYPT, 200, b"{}", 0.002, 0.001)
    recorder.request(ENCRYPT, 200, b"{}", 0.3, None)
    recorder.request(ENCRYPT, 400, b'{"__type":"ThrottlingException","message":"x"}', 0.0001, 0.0)
    recorder.request(None, 400, b"<ErrorResponse/>", 0.001, None)  # IAM/STS
    recorder.audit_waiting = 2
    recorder.sources["throttled"] = lambda: {"crypto-symmetric": 1}
    recorder.sources["caches"] = lambda: {"material": {"hits": 5, "misses": 1}}
    recorder.sources["maintenance"] = lambda: {"succeeded": 2, "failed": 0}
    recorder.flush()
    # A process that ended: its counters stay in the sums, its gauges do not.
    ended = json.loads((tmp_path / f"{os.getpid()}.json").read_text())
    ended["pid"] = _dead_pid()
    (tmp_path / f"{ended['pid']}.json").write_text(json.dumps(ended))

    found = _scrape(tmp_path)
    requests = found["openkms_requests_total"]
    ok = (("error_type", ""), ("operation", "Encrypt"), ("outcome", "success"))
    throttled = (
        ("error_type", "ThrottlingException"),
        ("operation", "Encrypt"),
        ("outcome", "error"),
    )
    assert requests[ok] == 4 and requests[throttled] == 2
    assert requests[(("error_type", "error"), ("operation", "other"), ("outcome", "error"))] == 2
    latency = found["openkms_request_duration_seconds_bucket"]
    assert latency[(("le", "0.0025"), ("operation", "Encrypt"))] == 4
    assert latency[(("le", "+Inf"), ("operation", "Encrypt"))] == 6
    assert found["openkms_request_duration_seconds_count"][(("operation", "Encrypt"),)] == 6
    assert found["openkms_throttled_requests_total"][(("quota", "crypto-symmetric"),)] == 2
    assert found["openkms_audit_queue_depth"][()] == 2  # the live process's only
    assert found["openkms_audit_commit_duration_seconds_count"][()] == 4
    assert found["openkms_cache_requests_total"][(("cache", "material"), ("result", "hit"))] == 10
    assert found["openkms_maintenance_runs_total"][(("outcome", "succeeded"),)] == 4
    assert found["openkms_keys"][(("state", "Enabled"),)] == 3
    assert found["openkms_metrics_processes"][()] == 1


def test_a_snapshot_being_replaced_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "123.json").write_text('{"pid": 1')  # cut short
    assert _scrape(tmp_path)["openkms_metrics_processes"][()] == 0


def test_json_log_lines_carry_the_request_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JSONFormatter())
    logger = logging.getLogger("openkms.test-json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("outside")
        token = logs.REQUEST_ID.set("3f1c0e9a-0000-4000-8000-000000000000")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("inside %s", "a request")
        finally:
            logs.REQUEST_ID.reset(token)
    finally:
        logger.removeHandler(handler)
    outside, inside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert outside["request_id"] is None and outside["level"] == "WARNING"
    assert inside["request_id"] == "3f1c0e9a-0000-4000-8000-000000000000"
    assert inside["message"] == "inside a request" and inside["logger"] == "openkms.test-json"
    assert "ValueError: boom" in inside["exception"]
    assert inside["time"].endswith("Z") and inside["process"] == os.getpid()


def test_quotas_off_in_dev_mode_on_otherwise(monkeypatch) -> None:
    monkeypatch.delenv("OPENKMS_QUOTAS", raising=False)

    def parsed(*argv: str) -> dict[str, object]:
        return settings_of(build_parser().parse_args(["serve", *argv]))

    assert parsed()["quotas"] is True
    assert parsed("--dev")["quotas"] is False
    assert parsed("--dev", "--quotas", "on")["quotas"] is True
    assert parsed("--quotas", "off")["quotas"] is False
    assert parsed("--workers", "4", "--quota-nodes", "2")["quota_share"] == 1 / 8
    assert parsed()["log_format"] == "text"
    monkeypatch.setenv("OPENKMS_QUOTAS", "on")
    assert parsed("--dev")["quotas"] is True


def test_a_metrics_port_in_use_is_one_line_and_status_6() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "openkms",
                "serve",
                "--dev",
                "--port",
                str(free_port()),
                "--metrics-port",
                str(port),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 6
    assert done.stderr.strip().splitlines()[-1] == (
        f"openkms: error: cannot serve metrics on 127.0.0.1:{port}: Address already in use"
    )
