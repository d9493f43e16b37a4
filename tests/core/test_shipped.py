"""The schemas and default policies are found from the source tree in a checkout; an installed wheel's
copy is checked by tests/sdk/test_light_sdk_install.py, which installs one."""

from __future__ import annotations

from pathlib import Path

from warden.core import catalog, shipped
from warden.core.workflows import DEFAULT_WORKFLOWS_FILE
from warden.policy.bundle import DEFAULT_POLICIES

ROOT = Path(__file__).resolve().parents[2]


def test_a_checkout_reads_the_repository_s_schemas_and_policies() -> None:
    assert shipped.SCHEMAS == ROOT / "schemas" == catalog.SCHEMAS_DIR
    assert shipped.POLICIES == ROOT / "policies" == DEFAULT_POLICIES
    assert DEFAULT_WORKFLOWS_FILE == ROOT / "policies" / "workflows.toml"
    assert "warden.AgentEvent" in catalog.load_schemas()

