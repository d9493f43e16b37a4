"""otlp-ingest's one settings object."""

from __future__ import annotations

from pydantic import Field

from warden.core.settings import WardenSettings


class OtlpIngestSettings(WardenSettings):
    otlp_host: str = Field("127.0.0.1", description="Bind address; 0.0.0.0 only inside a container.")
    otlp_port: int = Field(4318, description="OTLP/HTTP's registered port; exporters post to /v1/traces on it.")
    otlp_max_body_bytes: int = Field(16 * 2**20, gt=0, description="Largest export accepted, after decompression.")
    otlp_pending_timeout_s: float = Field(
        60.0, gt=0, description="How long a chat/execute_tool span waits for its invoke_agent span before it is "
                                "dead-lettered.")
    otlp_trace_ttl_s: float = Field(600.0, gt=0, description="How long a trace's span ancestry is kept after its "
                                                             "last span (late children are named as such).")
    otlp_dedupe_capacity: int = Field(100_000, ge=1, description="Span keys remembered, so a re-sent export adds "
                                                                 "nothing.")
    otlp_tool_aliases: dict[str, str] = Field(
        default_factory=dict,
        description='Framework tool name -> Warden "tool.action", e.g. {"lookup_order": "crm.lookup"}; names '
                    'written "tool.action" or "tool__action" need none.')
    otlp_snapshot_interval_s: float = Field(
        2.0, gt=0, description="How often the dedupe memory is saved; spans left waiting are saved before the "
                               "export is answered.")
