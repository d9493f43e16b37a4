"""Kill switches and read-only mode: the latest Control record per key, checked before any policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from warden.core.records import Control, ControlKind
from warden.core.workflows import StopShipScope

AUTOMATIC_ACTOR_PREFIX = "warden:"  # switches Warden sets itself from events (stop-ship, budgets)
STOP_SHIP_ACTOR = "warden:stop-ship"
BUDGET_ACTOR = "warden:budget"


def tenant_workflow_scope(tenant_id: str, workflow: str) -> str:
    """One tenant's runs of one workflow: where a stop-ship with stop_ship_scope = tenant_workflow reaches."""
    return f"tenant:{tenant_id}/workflow:{workflow}"


def stop_ship_scope(scope: StopShipScope, tenant_id: str, workflow: str) -> str:
    return f"workflow:{workflow}" if scope == StopShipScope.WORKFLOW else tenant_workflow_scope(tenant_id, workflow)


def _what(kind: ControlKind) -> str:
    return "kill switch" if kind == ControlKind.KILL else "read-only mode"


def revive_refusal(active: dict[str, Control], kind: ControlKind, scope: str) -> str | None:
    """Why a revive of ``kind`` on ``scope`` is refused: the other kind of switch is set there and this one is
    not, so calls would stay denied while the revive answered "off" (what it used to do). None: the revive
    goes ahead (it clears this switch, or, with neither set, records an "off" that changes nothing, so a
    revive stays safe to repeat)."""
    other = ControlKind.READ_ONLY if kind == ControlKind.KILL else ControlKind.KILL
    if f"{kind.value}:{scope}" in active or f"{other.value}:{scope}" not in active:
        return None
    how = ("with --read-only (read_only: true over the API)" if other == ControlKind.READ_ONLY
           else "without --read-only (read_only: false over the API)")
    return f"{scope} has no {_what(kind)} on; {_what(other)} is on: revive it {how}"


@dataclass(frozen=True)
class Block:
    control: Control

    @property
    def switch_id(self) -> str:
        """How a decision names the switch among its policy ids."""
        return f"switch:{self.control.key}"

    @property
    def reason(self) -> str:
        c = self.control
        return f"{_what(c.kind)} {c.scope} set by {c.actor} at {c.at:%Y-%m-%dT%H:%M:%SZ}: {c.reason}"


@dataclass
class Switches:
    active: dict[str, Control] = field(default_factory=dict)

    def apply(self, control: Control) -> None:
        if not control.is_switch:
            return  # a rollout's stage or command (warden.core.rollout_book follows those)
        if control.active:
            self.active[control.key] = control
        else:
            self.active.pop(control.key, None)

    @staticmethod
    def scopes(tenant_id: str, workflow: str, tool: str, action: str) -> list[str]:
        """Read-only mode is checked on the first three; kills on all of them."""
        return ["global", f"tenant:{tenant_id}", f"workflow:{workflow}", f"tool:{tool}", f"tool:{tool}.{action}",
                tenant_workflow_scope(tenant_id, workflow)]

    def blocking(self, tenant_id: str, workflow: str, tool: str, action: str,
                 read_only_tools: frozenset[str], at: datetime | None = None) -> Block | None:
        """The switch that refuses this call, if any: kills first, then read-only mode.

        An operator's switch refuses every call from the moment it is read, whatever the call's
        event time (a slow clock or a backdated event must not slip past it). A switch Warden set
        itself from events (a stop-ship condition, a hard budget) only refuses calls at or after its
        event time ``at``, so the live evaluator and `warden replay` agree on recorded events.
        """
        if not self.active:
            return None

        def applies(control: Control | None) -> bool:
            if control is None:
                return False
            return at is None or not control.actor.startswith(AUTOMATIC_ACTOR_PREFIX) or at >= control.at

        scopes = self.scopes(tenant_id, workflow, tool, action)
        for scope in scopes:
            kill = self.active.get(f"kill:{scope}")
            if applies(kill):
                return Block(kill)  # type: ignore[arg-type]
        if f"{tool}.{action}" in read_only_tools or tool in read_only_tools:
            return None
        for scope in scopes[:3]:
            read_only = self.active.get(f"read_only:{scope}")
            if applies(read_only):
                return Block(read_only)  # type: ignore[arg-type]
        return None

    def killed(self, tenant_id: str, workflow: str) -> Control | None:
        """The kill switch that stops this tenant's runs of the workflow (global, the tenant, the workflow, or the
        two together), if any. Read-only mode is not one: it lets runs go on with their read-only tools (the
        per-call checks above refuse the rest), so it does not send a run to its fallback."""
        if not self.active:
            return None
        scopes = ("global", f"tenant:{tenant_id}", f"workflow:{workflow}", tenant_workflow_scope(tenant_id, workflow))
        for scope in scopes:
            if (kill := self.active.get(f"kill:{scope}")) is not None:
                return kill
        return None

    def is_enabled(self, tenant_id: str, workflow: str, tool: str = "", action: str = "",
                   read_only_tools: frozenset[str] = frozenset()) -> bool:
        """The cheap check an agent makes before a call, to fall back without calling the tool."""
        return self.blocking(tenant_id, workflow, tool, action, read_only_tools) is None
