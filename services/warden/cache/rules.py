"""What the cache may keep: per workflow (policies/workflows.toml `cache`, `cache_ttl_s`) and per tool
(the tool inventory's `read_only`: every other action has a side effect, and an answer that led to one is
never kept). The SDK and `warden replay` load the same files, so they decide the same."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from warden.core.params import DEFAULT_INVENTORY
from warden.core.workflows import DEFAULT_WORKFLOWS_FILE, load_contracts


@dataclass(frozen=True)
class WorkflowCache:
    enabled: bool
    ttl_s: float


DISABLED = WorkflowCache(False, 1.0)


@dataclass(frozen=True)
class CacheRules:
    workflows: dict[str, WorkflowCache]
    read_only: frozenset[str]  # tool.action of the inventory's read-only actions

    def for_workflow(self, workflow: str) -> WorkflowCache:
        """A workflow the file does not name is not cached: nobody said its answers may be reused."""
        return self.workflows.get(workflow, DISABLED)

    def side_effect(self, tool: str, action: str) -> bool:
        """An action the inventory does not mark read-only, or does not know, has a side effect."""
        return f"{tool}.{action}" not in self.read_only

    @classmethod
    def load(cls, workflows_file: Path = DEFAULT_WORKFLOWS_FILE,
             inventory_file: Path = DEFAULT_INVENTORY) -> CacheRules:
        from warden.tool_proxy.inventory import load_inventory

        contracts = load_contracts(workflows_file)
        workflows = {name: WorkflowCache(c.cache, c.cache_ttl_s) for name, c in contracts.items()}
        return cls(workflows, load_inventory(inventory_file).read_only_actions)
