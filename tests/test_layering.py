"""The package layout shows the architecture, and cannot drift back (issue 14 point 6).

- The contract (warden.core) imports nothing else of Warden.
- The Kafka client layer (warden.kafka) imports only the contract; the SDK (warden.sdk) only the
  contract and that layer. These three are the warden-sdk distribution, so they import no third-party
  package the distribution does not require, and never chDB, cedarpy, FastAPI, pandas or pyarrow.
- A core (the policy, risk, cost, alerting, rollout and ledger_rows packages, and every service's
  processor.py with the pure modules beside it that it reads) imports only the contract and other
  cores, and no I/O library: Kafka, ClickHouse and HTTP live in the shells.

The graph is grimp's (the library import-linter is built on), checked here as allow-lists: import-linter's
contracts are deny-lists (forbidden) or package-level layers, and neither can say "only these" of a
processor module inside a service package, so a new package or a new import would slip past them.
Imports inside functions and under TYPE_CHECKING count: a lazy import is still a dependency.
"""

from __future__ import annotations

import re
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

import grimp
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = "warden.core"
CLIENT_LAYER = "warden.kafka"
SDK = "warden.sdk"
SDK_CACHE = "warden.cache"  # the SDK cache's keys, rules, decisions and stores (run.cache; replay reads it too)
SDK_ROUTING = "warden.routing"  # the routing file and its matcher (run.route; replay and the CLI read it too)
LIGHT = (CONTRACT, CLIENT_LAYER, SDK, SDK_CACHE, SDK_ROUTING)  # the warden-sdk distribution
CORE_PACKAGES = ("warden.policy", "warden.risk", "warden.cost", "warden.alerting", "warden.rollout", "warden.routing",
                 "warden.ledger_rows")
# The runtime's own processor.py declares what a processor is (its topics, its fetch settings): runtime.
NOT_A_SERVICE_PROCESSOR = {"warden.runtime.processor"}
# Pure modules beside a processor, read by it (no I/O of their own). A new one is added here on purpose.
PROCESSOR_HELPERS = {
    "warden.approvals.scopes", "warden.notifier.alertmanager", "warden.notifier.formats", "warden.notifier.settings",
    "warden.otlp_ingest.semconv",
    "warden.otlp_ingest.spans", "warden.tool_proxy.access", "warden.tool_proxy.inventory",
    "warden.tool_proxy.limits", "warden.tool_proxy.tokens",
}
IO_LIBRARIES = {"confluent_kafka", "chdb", "clickhouse_connect", "fastapi", "starlette", "uvicorn", "httpx",
                "aiohttp", "niquests", "requests", "urllib3", "grafana_client", "mcp", "socket", "http", "subprocess"}
HEAVY = {"chdb", "cedarpy", "fastapi", "pandas", "pyarrow"}  # issue 16.3: never in the light SDK


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("warden", include_external_packages=True, cache_dir=None)


def inside(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def modules_of(*packages: str) -> set[str]:
    return {m for m in graph().modules if inside(m, *packages)}


def warden_imports(module: str) -> set[str]:
    return {m for m in graph().find_modules_directly_imported_by(module) if inside(m, "warden")}


def external_imports(module: str) -> set[str]:
    return {m.split(".")[0] for m in graph().find_modules_directly_imported_by(module)
            if not inside(m, "warden") and m.split(".")[0] not in sys.stdlib_module_names and m != "__future__"}


def outside(sources: set[str], allowed: set[str]) -> list[str]:
    """Every import of a source module that leaves the allowed modules, as "importer -> imported"."""
    return sorted(f"{m} -> {d}" for m in sources for d in warden_imports(m) if d not in allowed)


def cores() -> set[str]:
    processors = {m for m in graph().modules if m.endswith(".processor")} - NOT_A_SERVICE_PROCESSOR
    return modules_of(*CORE_PACKAGES) | processors | PROCESSOR_HELPERS


def test_the_contract_imports_nothing_else_of_warden() -> None:
    assert outside(modules_of(CONTRACT), modules_of(CONTRACT)) == []


def test_the_client_layer_imports_only_the_contract() -> None:
    assert outside(modules_of(CLIENT_LAYER), modules_of(CONTRACT, CLIENT_LAYER)) == []


def test_the_sdk_imports_only_the_contract_and_the_client_layer() -> None:
    assert outside(modules_of(SDK), modules_of(*LIGHT)) == []


def test_a_core_imports_only_the_contract_and_other_cores() -> None:
    core = cores()
    assert outside(core, core | modules_of(CONTRACT)) == []


def test_a_core_uses_no_io_library() -> None:
    assert sorted(f"{m} -> {e}" for m in cores() for e in external_imports(m) & IO_LIBRARIES) == []


def test_the_processor_helpers_exist() -> None:
    """A helper renamed or removed would otherwise leave a stale name allowed here."""
    assert graph().modules >= PROCESSOR_HELPERS


def _requirement_closure(requirements: list[str]) -> set[str]:
    """Distribution names the requirements bring in, with their own requirements (as installed here)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        todo += [Requirement(r) for r in metadata.requires(req.name) or []]
    return seen


def test_the_light_sdk_imports_only_what_its_distribution_requires() -> None:
    project = tomllib.loads((ROOT / "sdk" / "pyproject.toml").read_text())["project"]
    extras = [r for group in project.get("optional-dependencies", {}).values() for r in group]  # e.g. [redis]
    available = _requirement_closure([*project["dependencies"], *extras])
    providers = metadata.packages_distributions()
    used = {e: m for m in modules_of(*LIGHT) for e in external_imports(m)}
    missing = sorted(f"{m} imports {e} (distribution {', '.join(providers.get(e, ['?']))})"
                     for e, m in used.items()
                     if not {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(e, [])} & available)
    assert missing == []
    assert not set(used) & HEAVY
    assert not {re.sub(r"[-_.]+", "-", d).lower() for h in HEAVY for d in providers.get(h, [])} & available


def test_the_two_distributions_split_the_tree_at_the_light_packages() -> None:
    """sdk/hatch_build.py ships exactly the light packages; the server's wheel excludes exactly them."""
    hook = (ROOT / "sdk" / "hatch_build.py").read_text()
    shipped = set(re.findall(r'"\.\./services/(warden/[a-z_]+)"', hook))
    assert shipped == {p.replace(".", "/") for p in LIGHT}
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert set(server["exclude"]) == {f"services/{p}" for p in shipped} | {"services/warden/__init__.py"}
