"""A policy bundle: the Cedar policies, their schema, the workflows they rely on and the tool
schemas (tools/inventory.yaml) every call's params are checked against before Cedar, from one directory.

A bundle is parsed and validated once (cedarpy PolicySet) and identified by the hash of its
files, which every decision records. A bundle that does not parse or validate is refused as a
whole with a message naming the file and the problem: nothing half-loaded ever decides.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import cedarpy

from warden.core.errors import ConfigError
from warden.core.params import ToolSchemas, load_tool_schemas
from warden.core.shipped import POLICIES
from warden.core.workflows import Workflow, load_workflows, workflow_or_default
from warden.policy import schema_fast

DEFAULT_POLICIES = POLICIES
SCHEMA_FILE = "warden.cedarschema"
WORKFLOWS_FILE = "workflows.toml"
INVENTORY_FILE = Path("tools") / "inventory.yaml"
APPROVAL = "require_approval"


class PolicyBundleError(ConfigError):
    """The bundle does not parse or does not validate against Warden's Cedar schema."""


@dataclass(frozen=True)
class PolicyInfo:
    policy_id: str  # the @id annotation (what decisions record)
    effect: str  # permit | forbid
    outcome: str  # allow | deny | require_approval


@dataclass(frozen=True)
class Bundle:
    directory: Path
    version: str
    policy_set: cedarpy.PolicySet
    # The same policies minus the require_approval forbids: a call goes to a human only if it
    # would be allowed without them (otherwise approving it would allow what nothing permits).
    without_approvals: cedarpy.PolicySet
    policies: dict[str, PolicyInfo]  # Cedar's internal id (policy0...) -> info
    workflows: dict[str, Workflow]
    defaults: Workflow
    tool_schemas: ToolSchemas  # the strict params check (warden.core.params) runs before Cedar
    files: tuple[str, ...] = field(default=())

    def workflow(self, name: str) -> Workflow:
        return workflow_or_default(self.defaults, self.workflows, name)


def _fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def bundle_files(directory: Path) -> list[Path]:
    """What decides a call, so what the version hashes and the watcher reloads on."""
    return sorted([*directory.glob("*.cedar"), directory / SCHEMA_FILE, directory / WORKFLOWS_FILE,
                   directory / INVENTORY_FILE], key=lambda p: p.name)


def load_bundle(directory: Path = DEFAULT_POLICIES) -> Bundle:
    directory = Path(directory)
    sources = sorted(directory.glob("*.cedar"))
    if not sources:
        raise PolicyBundleError(f"no .cedar policy files in {directory}")
    for required in (SCHEMA_FILE, WORKFLOWS_FILE, INVENTORY_FILE):
        if not (directory / required).is_file():
            raise PolicyBundleError(f"{directory} has no {required}")
    try:
        tool_schemas = load_tool_schemas(directory / INVENTORY_FILE, schema_fast.compiled)
    except ConfigError as exc:
        raise PolicyBundleError(str(exc)) from exc
    text = "\n".join(p.read_text() for p in sources)
    try:
        schema = cedarpy.Schema.from_str((directory / SCHEMA_FILE).read_text())
    except ValueError as exc:
        raise PolicyBundleError(f"{directory / SCHEMA_FILE} does not parse: {exc}") from exc
    try:
        policy_set = cedarpy.PolicySet.from_str(text)
        parsed = json.loads(cedarpy.policies_to_json_str(text))["staticPolicies"]
    except ValueError as exc:
        raise PolicyBundleError(f"policies in {directory} do not parse: {exc}") from exc
    result = cedarpy.validate_policies(text, schema)
    policies: dict[str, PolicyInfo] = {}
    seen: set[str] = set()
    for internal, body in parsed.items():
        annotations = body.get("annotations", {})
        policy_id = annotations.get("id")
        if not policy_id:
            raise PolicyBundleError(f"a policy in {directory} has no @id(\"...\") annotation: {body.get('effect')} "
                                    f"on {json.dumps(body.get('action'))}")
        if policy_id in seen:
            raise PolicyBundleError(f"two policies in {directory} share @id({policy_id!r})")
        seen.add(policy_id)
        outcome = annotations.get("outcome", "allow" if body["effect"] == "permit" else "deny")
        if outcome not in {"allow", "deny", APPROVAL} or (body["effect"] == "permit" and outcome != "allow"):
            raise PolicyBundleError(f"policy {policy_id!r}: @outcome({outcome!r}) is not valid on a "
                                    f"{body['effect']}; use @outcome(\"require_approval\") on a forbid")
        policies[internal] = PolicyInfo(policy_id, body["effect"], outcome)
    if not result.validation_passed:
        names = {k: v.policy_id for k, v in policies.items()}
        problems = "; ".join(
            str(e.error).replace(e.policy_id, names.get(e.policy_id, e.policy_id)) for e in result.errors
        )
        raise PolicyBundleError(f"policies in {directory} do not validate against {SCHEMA_FILE}: {problems}")
    defaults, workflows = load_workflows(directory / WORKFLOWS_FILE, PolicyBundleError)
    files = bundle_files(directory)
    kept = {k: v for k, v in parsed.items() if policies[k].outcome != APPROVAL}
    without = cedarpy.PolicySet.from_json_str(json.dumps({"staticPolicies": kept, "templates": {},
                                                          "templateLinks": []}))
    return Bundle(directory, _fingerprint(files), policy_set, without, policies, workflows, defaults,
                  tool_schemas, tuple(p.name for p in files))


class BundleWatcher:
    """Reloads the bundle when its files change; a broken change keeps the last good bundle in force."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.bundle = load_bundle(self.directory)
        self.last_error: str | None = None
        self._stamp = self._mtimes()

    def _mtimes(self) -> tuple[tuple[str, int], ...]:
        return tuple((p.name, p.stat().st_mtime_ns) for p in bundle_files(self.directory) if p.exists())

    def check(self) -> bool:
        """True when a new bundle was loaded."""
        stamp = self._mtimes()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            fresh = load_bundle(self.directory)
        except PolicyBundleError as exc:
            self.last_error = str(exc)
            return False
        self.last_error = None
        changed = fresh.version != self.bundle.version
        self.bundle = fresh
        return changed
