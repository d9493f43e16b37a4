"""policy-evaluator's one settings object."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from warden.core.settings import StatefulServiceSettings
from warden.policy.bundle import DEFAULT_POLICIES


class PolicyEvaluatorSettings(StatefulServiceSettings):
    group_id: str = "warden-policy-evaluator"
    policies_dir: Path = Field(DEFAULT_POLICIES, description="The Cedar bundle: *.cedar, schema, workflows.toml")
    reload_interval_s: float = Field(1.0, description="How often the bundle's files are checked for changes.")
    batch_max_rows: int = Field(500, ge=1)
    run_cache_size: int = Field(100_000, description="Runs whose facts (spend, denials) are kept, per partition.")
    snapshot_every_s: float = Field(5.0, gt=0, description="How often the run facts are checkpointed (the "
                                                         "decisions are confirmed delivered before each).")
