"""The Avro schemas in schemas/ (the source of truth) and the typed model for each record."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from warden.core import records
from warden.core.errors import SchemaError
from warden.core.events import AgentEvent
from warden.core.shipped import SCHEMAS

SCHEMAS_DIR = SCHEMAS

MODELS: dict[str, type[BaseModel]] = {
    "warden.AgentEvent": AgentEvent,
    "warden.PolicyDecision": records.PolicyDecision,
    "warden.RiskScore": records.RiskScore,
    "warden.ApprovalDecision": records.ApprovalDecision,
    "warden.CostRollup": records.CostRollup,
    "warden.Alert": records.Alert,
    "warden.DeadLetter": records.DeadLetter,
    "warden.Control": records.Control,
    "warden.ProxyCall": records.ProxyCall,
    "warden.EvalRun": records.EvalRun,
    "warden.EvalResult": records.EvalResult,
    "warden.RolloutDecision": records.RolloutDecision,
}


@cache
def load_schemas(directory: Path = SCHEMAS_DIR) -> dict[str, dict[str, Any]]:
    """Full record name -> schema JSON, for every .avsc file in the directory."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.avsc")):
        try:
            schema = json.loads(path.read_text())
        except ValueError as exc:
            raise SchemaError(f"{path} is not valid JSON: {exc}") from exc
        name = f"{schema.get('namespace', '')}.{schema['name']}".lstrip(".")
        found[name] = schema
    if not found:
        raise SchemaError(f"no .avsc schemas found in {directory}")
    return found
