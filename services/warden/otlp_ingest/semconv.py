"""The OpenTelemetry GenAI semantic conventions this receiver implements, pinned to one release.

Version 1.41.0 of open-telemetry/semantic-conventions (2026-04-28) is the last release whose
docs/gen-ai/ holds the GenAI spans (later releases point to a separate repository); its GenAI
attributes have the status "Development", so the version is named wherever a mapping relies on it
(README, "OTLP ingest"). Attributes of the older conventions still emitted widely are read as
fall-backs, never in preference: ``gen_ai.system`` (before ``gen_ai.provider.name``).
"""

from __future__ import annotations

SEMCONV_VERSION = "1.41.0"
SEMCONV_URL = "https://github.com/open-telemetry/semantic-conventions/tree/v1.41.0/docs/gen-ai"

OPERATION = "gen_ai.operation.name"
INVOKE_AGENT = "invoke_agent"
EXECUTE_TOOL = "execute_tool"
INFERENCE = frozenset({"chat", "generate_content", "text_completion"})  # the "Inference" span's operations

AGENT_ID = "gen_ai.agent.id"
AGENT_NAME = "gen_ai.agent.name"
AGENT_VERSION = "gen_ai.agent.version"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
PROVIDER = "gen_ai.provider.name"
SYSTEM_DEPRECATED = "gen_ai.system"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
ERROR_TYPE = "error.type"
SERVICE_NAME = "service.name"
SERVICE_VERSION = "service.version"
USER_ID = "user.id"
ENDUSER_ID_DEPRECATED = "enduser.id"

# Warden's own attributes, on the resource (one per process) or on the invoke_agent span (per run;
# the span's value wins, so one process can serve many tenants).
TENANT = "warden.tenant_id"
WORKFLOW = "warden.workflow"
WORKFLOW_VERSION = "warden.workflow_version"
PROMPT_VERSION = "warden.prompt_version"
RELEASE = "warden.release"
WARDEN_USER = "warden.user_id"

# OTLP span status codes (opentelemetry/proto/trace/v1/trace.proto, Status.StatusCode).
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
