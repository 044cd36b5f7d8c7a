"""The audit sink never blocks nor fails a call: a full queue drops (and counts) records, a failed
write is counted and logged; what is written goes to the database and to JSON lines."""

from __future__ import annotations

import asyncio
import json
import logging

import sqlalchemy as sa

from flowport.auth import audit
from flowport.auth.audit import AuditRecord
from flowport.auth.config import AuditConfig
from flowport.auth.store import AuthStore
from flowport.gateway.audit_sink import AuditSink
from flowport.v1 import auth_pb2


def _record(i: int) -> AuditRecord:
    return AuditRecord(
        event_time=i, request_id=f"r{i}", principal="alice", principal_kind="user", auth_method="token",
        groups=[], source_ip="127.0.0.1", user_agent="test", workspace="default", backend="local",
        service_name="AuthService", action="CreateUser", resources=[], request_params={},
        request=auth_pb2.CreateUser(username=f"u{i}", password="hunter2"), outcome="allowed",
        status_code=200, error_code="", latency_ms=0.1,
    )  # fmt: skip


def test_records_reach_the_database_and_the_jsonl_file_with_secrets_masked(tmp_path):
    store = AuthStore(f"sqlite:///{tmp_path / 'gateway.db'}")
    sink = AuditSink(AuditConfig(jsonl=str(tmp_path / "audit.jsonl")), store.engine)

    async def go():
        sink.start()
        for i in range(1200):  # more than one batch
            sink.record(_record(i))
        assert await sink.flush()
        await sink.close()

    asyncio.run(go())
    assert (sink.written, sink.dropped, sink.failed) == (1200, 0, 0)
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 1200 and json.loads(lines[7])["request_params"] == {
        "username": "u7",
        "password": "****",
    }
    stored = audit.search(store.engine, audit.AuditQuery(limit=5000))
    assert len(stored) == 1200 and "hunter2" not in (tmp_path / "audit.jsonl").read_text()
    store.close()


def test_a_full_queue_drops_and_counts_instead_of_waiting(tmp_path, caplog):
    sink = AuditSink(AuditConfig(queue_size=3, database=False), None)

    async def go():  # no writer running: the queue only fills
        for i in range(10):
            sink.record(_record(i))

    with caplog.at_level(logging.WARNING, logger="flowport.audit"):
        asyncio.run(asyncio.wait_for(go(), timeout=5))
    assert (sink.accepted, sink.dropped) == (3, 7)
    # Queued behind a lagging writer, records hold a summary, not the request itself.
    queued = [sink.queue.get_nowait() for _ in range(3)]
    assert [r.request is None for r in queued] == [False, True, True]
    assert queued[2].request_params == {"username": "u2", "password": "****"}
    assert any("audit queue full" in r.message for r in caplog.records)


def test_a_failing_write_is_counted_and_logged_and_the_writer_carries_on(tmp_path, caplog):
    store = AuthStore(f"sqlite:///{tmp_path / 'gateway.db'}")
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE audit_events"))
    sink = AuditSink(AuditConfig(jsonl=str(tmp_path / "audit.jsonl")), store.engine)

    async def go():
        sink.start()
        sink.record(_record(1))
        assert await sink.flush()
        sink.record(_record(2))
        assert await sink.flush()
        await sink.close()

    with caplog.at_level(logging.ERROR, logger="flowport.audit"):
        asyncio.run(go())
    assert sink.failed == 2 and sink.written == 0
    assert any("could not be written: OperationalError" in r.message for r in caplog.records)
    assert not any("hunter2" in r.getMessage() for r in caplog.records)
    store.close()
