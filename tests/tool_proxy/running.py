"""A tool proxy on the test topics behind FastAPI's test client, and a reader of what it published."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx2
from confluent_kafka import Consumer, TopicPartition
from fastapi.testclient import TestClient

from tests.tool_proxy.helpers import proxy_settings
from warden.core.events import AgentEvent
from warden.core.headers import routing_from_event, routing_of
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.tool_proxy.http_api import create_app
from warden.tool_proxy.proxy import ToolProxy
from warden.tool_proxy.reference_upstream import Upstream


class Proxy:
    def __init__(self, topics: WardenSettings, tmp_path: Path, upstream: Upstream, test_client: bool = True,
                 **extra: Any) -> None:
        """``test_client=False``: no app in a test client (the test serves one under uvicorn itself)."""
        self.settings = proxy_settings(topics, tmp_path, upstream.url, **extra)
        self.service = ToolProxy(self.settings)
        self.client = TestClient(create_app(self.service))
        self._entered = test_client
        if test_client:
            self.client.__enter__()

    def token(self, workflow: str = "refund_ticket", run: str | None = None, tenant: str = "acme",
              **kwargs: Any) -> str:
        token, _ = self.service.keyring.issue(tenant_id=tenant, workflow=workflow, run_id=run or uuid.uuid4().hex,
                                              agent_id="agent-1", tools=self.service.bundle.bundle.workflow(
                                                  workflow).tools, now=kwargs.pop("now", time.time()), **kwargs)
        return token

    def call(self, token: str | None, tool: str, action: str, payload: Any, **envelope: Any) -> httpx2.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.post(f"/v1/tools/{tool}/{action}", json={"input": payload, **envelope}, headers=headers)

    def close(self) -> None:
        if self._entered:
            self.client.__exit__(None, None, None)
        self.service.close()


def read(settings: WardenSettings, topic: str, record: str, until: Any, timeout_s: float = 30) -> list[Any]:
    """Every record on the topic from the start, until ``until(records)`` holds; an event's routing headers
    are checked against its body."""
    consumer = Consumer({**settings.kafka_config(), "group.id": f"read-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    name = settings.topic(topic)
    parts = consumer.list_topics(name, timeout=10).topics[name].partitions
    consumer.assign([TopicPartition(name, p, 0) for p in parts])
    wire = wire_for(settings)
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not until(out):
            for msg in consumer.consume(500, 0.2):
                if msg.error() is None and msg.value() is not None:
                    value = wire.decode(msg.value(), record)
                    if isinstance(value, AgentEvent):  # the proxy writes its routing headers (ADR 0019)
                        assert routing_of(msg.headers()) == routing_from_event(value)
                    out.append(value)
    finally:
        consumer.close()
    assert until(out), f"{topic}: {len(out)} records, condition not met"
    return out
