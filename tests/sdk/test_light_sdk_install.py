"""Issue 16.3: the light SDK, built from this tree and installed into a fresh virtual environment, emits
to the embedded broker, finds its packaged schemas and policies, and brings none of the server with it.

Offline-capable: the wheel is built from the local tree with the dev environment's hatchling (no build
isolation), and the fresh environment installs from a wheelhouse (WARDEN_WHEELHOUSE, default
~/.cache/warden/wheelhouse) without an index; only when the wheelhouse lacks a dependency is it filled
from the package index first, once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.sdk.test_client import assert_one_run_in_order, read_back
from warden.core.events import ToolCallCompleted
from warden.core.settings import WardenSettings

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = Path(os.environ.get("WARDEN_WHEELHOUSE", Path.home() / ".cache" / "warden" / "wheelhouse"))
SERVER_ONLY = ("chdb", "cedarpy", "fastapi", "pandas", "pyarrow", "clickhouse_connect", "uvicorn",
               "warden.cli", "warden.policy", "warden.runtime", "warden.ledger")
# Installed by `python -m venv` itself, not by warden-sdk: left out of the measured size.
VENV_OWN = ("pip", "setuptools", "_distutils_hack", "distutils-precedence.pth", "pkg_resources")


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=600)


def check(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def install(python: Path, wheel: Path) -> None:
    offline = ("-m", "pip", "install", "--quiet", "--no-index", "--find-links", WHEELHOUSE, wheel)
    if run(python, *offline).returncode == 0:
        return
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)  # first run on this machine: fetch the dependencies once
    check(run(python, "-m", "pip", "download", "--quiet", "--dest", WHEELHOUSE, wheel))
    for stale in WHEELHOUSE.glob("warden_sdk-*.whl"):  # pip copies the wheel too: only the dependencies stay
        stale.unlink()
    check(run(python, *offline))


def size_mb(site: Path) -> float:
    files = [f for top in site.iterdir() if not top.name.startswith(VENV_OWN) for f in
             ([top] if top.is_file() else top.rglob("*")) if f.is_file() and "__pycache__" not in f.parts]
    return sum(f.stat().st_size for f in files) / 1e6


@pytest.fixture(scope="module")
def light(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with only warden-sdk (and its dependencies) installed: its python."""
    work = tmp_path_factory.mktemp("light-sdk")
    check(run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
              "--wheel-dir", work / "dist", ROOT / "sdk"))
    (wheel,) = (work / "dist").glob("warden_sdk-*.whl")
    check(run(sys.executable, "-m", "venv", work / "venv"))
    python = work / "venv" / "bin" / "python"
    install(python, wheel)
    return python


def test_the_light_sdk_has_none_of_the_server(light: Path) -> None:
    probe = ("import importlib.util, json\n"
             "def found(name):\n"
             "    try:\n"
             "        return importlib.util.find_spec(name) is not None\n"
             "    except ModuleNotFoundError:\n"
             "        return False\n"
             f"print(json.dumps([m for m in {SERVER_ONLY!r} if found(m)]))")
    assert json.loads(check(run(light, "-c", probe))) == []
    listed = check(run(light, "-m", "pip", "list", "--format", "json"))
    assert "warden-sdk" in {p["name"] for p in json.loads(listed)}
    assert "warden" not in {p["name"] for p in json.loads(listed)}
    site = Path(check(run(light, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")).strip())
    print(f"light SDK installed: {size_mb(site):.1f} MB in {site}, warden-sdk itself {size_mb(site / 'warden'):.2f} MB")


EMIT = """
import json, os
import warden.core.catalog, warden.core.workflows, warden.sdk
from warden.sdk import WardenClient

with WardenClient(max_wait_s=20) as client:
    run = client.run("acme", "refund_ticket", "agent-light", run_id=os.environ["RUN_ID"])
    run.started("v1", "p1", "gpt-4o-mini")
    call = run.tool_call_requested("crm", "lookup", {"customer_id": "c1"})
    run.tool_call_completed(call, "crm", "ok", 12.0, output={"email": "jane.doe@example.com"})
    run.completed("succeeded")
    enabled = client.is_enabled("acme", "refund_ticket", "crm", "lookup")
    client.flush()
    stats = client.stats
print(json.dumps({"sdk": warden.sdk.__file__, "schemas": str(warden.core.catalog.SCHEMAS_DIR),
                  "workflows": str(warden.core.workflows.DEFAULT_WORKFLOWS_FILE), "enabled": enabled,
                  "stats": stats}))
"""


@pytest.mark.integration
def test_the_light_sdk_emits_to_the_embedded_broker(light: Path, topics: WardenSettings) -> None:
    run_id = str(uuid.uuid4())
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(Path.home()), "RUN_ID": run_id,
           "WARDEN_KAFKA_BOOTSTRAP_SERVERS": topics.bootstrap_servers, "WARDEN_TOPIC_PREFIX": topics.topic_prefix,
           "WARDEN_DATA_DIR": str(topics.data_dir)}  # the file schema registry both sides read
    out = json.loads(check(run(light, "-c", EMIT, env=env)).strip().splitlines()[-1])
    venv = light.parents[1]
    for key in ("sdk", "schemas", "workflows"):  # package data of the installed wheel, not this checkout
        assert Path(out[key]).is_relative_to(venv), (key, out[key])
    assert out["enabled"] is True and out["stats"] == {"emitted": 4, "delivered": 4, "failed": 0}
    events = assert_one_run_in_order(read_back(topics, 4), run_id, 4)
    assert [e.event_type for e in events] == ["run_started", "tool_call_requested", "tool_call_completed",
                                              "run_completed"]
    completed = events[2].body
    assert isinstance(completed, ToolCallCompleted)
    assert "jane.doe@example.com" not in (completed.output or "") and "[REDACTED:" in (completed.output or "")
