"""openkms.testing.server without pytest's fixtures: SQLite state in the directory given,
a reset, a stop, and the storage kinds it accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from openkms.testing.server import OpenKMSServer


def test_a_server_with_sqlite_state_in_its_directory(tmp_path: Path) -> None:
    server = OpenKMSServer.start(tmp_path, storage="sqlite")
    try:
        assert (tmp_path / "data" / "openkms.db").is_file()
        kms = server.client()
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        assert [k["KeyId"] for k in kms.list_keys()["Keys"]] == [key]
        server.reset()
        assert kms.list_keys()["Keys"] == []
        assert server.environment()["AWS_ENDPOINT_URL_KMS"] == server.endpoint
    finally:
        server.stop()
    assert server.process.poll() is not None
    assert "listening on" in server.log_tail()


def test_storage_is_memory_or_sqlite(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="storage must be 'memory' or 'sqlite', not 'redis'"):
        OpenKMSServer.start(tmp_path, storage="redis")
