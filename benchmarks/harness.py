"""What every benchmark script shares: percentiles, the CPU model every row names, and Warden services
started as their own `warden run` processes against the benchmark's broker. Imported by the sibling scripts, which
run as `python benchmarks/NAME.py` (so this folder is first on sys.path)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from warden.core.settings import WardenSettings
from warden.stack import warden_command
from warden.supervise import child_preexec


def alert_run(body: dict[str, Any]) -> str:
    """The run a webhook body's (first) alert is about: an annotation since the notifier keeps labels bounded
    (one series per rule, tenant and workflow; 68a3473), a label before."""
    alert = body["alerts"][0]
    return str(alert.get("annotations", {}).get("run_id") or alert["labels"].get("run_id", ""))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def service_env(settings: WardenSettings, **extra: str) -> dict[str, str]:
    """This process's environment without any Warden or Kafka setting of the caller's, pointed at
    the benchmark's broker, data dir and topic prefix."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARDEN_", "KAFKA_"))}
    env.update({"KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers, "WARDEN_DATA_DIR": str(settings.data_dir),
                "WARDEN_TOPIC_PREFIX": settings.topic_prefix, **extra})
    return env


def spawn(service: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`warden run SERVICE`, its output appended to `log`; it dies with this process."""
    with open(log, "ab") as out:
        return subprocess.Popen([*warden_command(), "run", service], env=env, stdout=out,
                                stderr=subprocess.STDOUT, preexec_fn=child_preexec)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
