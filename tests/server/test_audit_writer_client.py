"""The server's side of the audit writer process, in process: records handed over from a
thread other than the event loop's (``submit``), and ``revive`` (the readiness check's
way back) after the writer process died."""

from __future__ import annotations

import asyncio
import time

from conftest import ACCOUNT
from openkms.audit.event_ids import new_event_id
from openkms.audit.records import AuditedCall
from openkms.domain.principals import Principal
from openkms.server.audit_process import ProcessAuditWriter
from openkms.server.bootstrap import Settings, build
from openkms.service.audit_trail import Entry
from openkms.storage.audit import lookup


def _entries() -> list[Entry]:
    call = AuditedCall(
        request_id=new_event_id(),
        event_id=new_event_id(),
        event_time=time.time(),
        event_source="kms.amazonaws.com",
        event_name="ListKeys",
        region="us-east-1",
        source_ip="127.0.0.1",
        user_agent="test",
        principal=Principal.root(ACCOUNT, "AKIAEXAMPLE"),
        request={},
        response={"Keys": []},
    )
    return [Entry(None, call, ACCOUNT)]


def test_records_from_another_thread_and_a_revived_writer(tmp_path) -> None:
    runtime = build(Settings(data_dir=str(tmp_path), database=None, account_id=ACCOUNT))
    writer = runtime.audit
    assert isinstance(writer, ProcessAuditWriter)

    async def run() -> None:
        writer.start()
        loop = asyncio.get_running_loop()
        try:
            # From a worker thread: the future is a thread-safe one, settled by the loop.
            await loop.run_in_executor(None, lambda: writer.submit(_entries()).result(60))
            assert writer.revive() is None  # running: nothing to do
            proc = writer._proc
            assert proc is not None
            writer._last_spawn = time.monotonic()  # as if just started, however slow the machine
            proc.kill()
            proc.wait()
            # Restarted at most once a second: at once it is only reported down...
            assert writer.revive() == "the audit writer process is down"
            await asyncio.sleep(1.1)
            # ...then started again, and it stores records as before.
            assert writer.revive() is None
            await writer.submit_async(_entries())
        finally:
            await writer.aclose()

    asyncio.run(run())
    with runtime.store.transaction() as tx:
        events, _ = lookup.lookup_events(tx, ACCOUNT, key="EventName", value="ListKeys")
    runtime.store.close()
    assert len(events) == 2
