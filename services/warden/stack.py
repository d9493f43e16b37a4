"""`warden up`: the embedded stack as one supervised process tree.

The embedded broker (when no KAFKA_BOOTSTRAP_SERVERS is set: Tansu on SeaweedFS, see
warden.broker.embedded) plus one `warden run SERVICE` child per service, exactly what the
distributed deployment runs one container each. Children get PDEATHSIG so nothing outlives the
supervisor. A service that crashes is restarted (it resumes from its committed offsets), and so
is the embedded broker: on durable storage it comes back with every record, offset and switch
it had acknowledged, on the same port, and the services' clients reconnect to it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from warden.broker.admin import ensure_topics, wait_for_broker
from warden.broker.embedded import EmbeddedBroker, trimmer
from warden.broker.history import HistoryWatch
from warden.broker.tansu import CLUSTER_ID
from warden.broker.trim import BatchTrimmer
from warden.core.errors import ConfigError, WardenError
from warden.core.settings import WardenSettings
from warden.cost_aggregator.settings import CostAggregatorSettings
from warden.kafka import clients
from warden.ledger.endpoint import ENDPOINT_FILE
from warden.state.reset import forget_offsets
from warden.supervise import child_preexec

log = logging.getLogger("warden.stack")

# Services in start order.
SERVICES: tuple[str, ...] = ("ledger-sink", "policy-evaluator", "risk-scorer", "approvals", "cost-aggregator",
                             "anomaly-alerter", "notifier", "rollout-controller")
# `warden run` and the compose file know these too; `warden up` starts them only when asked
# (`warden up --with tool-proxy`): the demo does not use them and they need keys and secrets
# (tool-proxy) or an agent exporting OpenTelemetry spans (otlp-ingest).
OPTIONAL_SERVICES: tuple[str, ...] = ("tool-proxy", "otlp-ingest")
HEALTHY_AFTER_S = 120.0


def warden_command() -> list[str]:
    exe = Path(sys.executable).with_name("warden")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "warden.cli.main"]


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    restarts: int = 0
    started: float = field(default_factory=time.monotonic)


class Stack:
    def __init__(self, settings: WardenSettings, services: tuple[str, ...] = SERVICES,
                 env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.extra_env = dict(env or {})  # e.g. the demo's approver token for the approvals service
        self.services = services
        self.data_dir = settings.data_dir.resolve()
        self.log_dir = self.data_dir / "logs"
        self.broker: EmbeddedBroker | None = None
        self.broker_restarts = 0
        self.history: HistoryWatch | None = None  # batch counts on durable storage (warden.broker.history)
        self.trimmer: BatchTrimmer | None = None  # deletes what the services have read (warden.broker.trim)
        self.children: dict[str, Child] = {}
        self.bootstrap = settings.bootstrap_servers
        self._stopping = threading.Event()

    @property
    def endpoint_file(self) -> Path:
        return self.data_dir / ENDPOINT_FILE

    def client_settings(self) -> WardenSettings:
        """These settings pointed at the running stack's broker by its address, still knowing what it is."""
        return self.settings.model_copy(update={"kafka_bootstrap_servers": self.bootstrap,
                                                "broker_storage": self.settings.tansu_storage})

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KAFKA_BOOTSTRAP_SERVERS"] = self.bootstrap
        env.pop("WARDEN_BROKER_STORAGE", None)
        if (storage := self.settings.tansu_storage) is not None:
            env["WARDEN_BROKER_STORAGE"] = storage  # children reach Tansu by address: say what it keeps
        env["WARDEN_DATA_DIR"] = str(self.data_dir)
        env["WARDEN_TOPIC_PREFIX"] = self.settings.topic_prefix
        env["WARDEN_QUERY_PORT"] = str(self.settings.query_port)
        env.update(self.extra_env)
        env.pop("WARDEN_METRICS_PORT", None)  # one port per process: each child takes base + its offset
        return env

    def start(self, ready_timeout_s: float | None = None) -> Stack:
        """One time budget (WARDEN_STACK_READY_TIMEOUT_S) for the whole start: each part waits on its real
        condition (SeaweedFS: a write reads back; Tansu: metadata answers; ledger-sink: serves queries)
        and the error names the part that was not ready."""
        refuse_shared_group()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        budget = self.settings.stack_ready_timeout_s if ready_timeout_s is None else ready_timeout_s
        deadline = time.monotonic() + budget
        try:
            if self.settings.embedded:
                if self.settings.embedded_storage == "memory":
                    # A memory broker starts empty: it has none of the records that processor
                    # snapshots point into, so their offsets would skip the new input.
                    forget_offsets(self.settings.state_dir)  # the notifier's outbox stays (warden.state.reset)
                self.broker = EmbeddedBroker(self.settings, self.log_dir).start(budget)
                self.bootstrap = self.broker.bootstrap
            self._ensure_topics(max(5.0, deadline - time.monotonic()))
            self._watch_storage()
            self.endpoint_file.unlink(missing_ok=True)
            for name in self.services:
                self._spawn(name)
            self._wait_ready(max(5.0, deadline - time.monotonic()), budget)
        except BaseException:
            self.stop()
            raise
        return self

    def _ensure_topics(self, timeout_s: float = 15.0) -> None:
        probe = self.client_settings()
        wait_for_broker(probe, timeout_s)
        ensure_topics(probe)

    def _watch_storage(self) -> None:
        """On durable storage: delete the batches every service has read (ADR 0028), and warn before a partition
        holds so many that tailing consumers stall."""
        storage = self.broker.storage if self.broker is not None else None
        if storage is None:
            return
        # Every topic stored, not only TOPICS: the services' changelog topics are compacted, so no TTL bounds them.
        self.history = HistoryWatch(lambda: storage.s3_url, CLUSTER_ID, None,
                                    self.settings.embedded_fetch_wait_ms).start()
        admin = clients.admin(self.client_settings(), log_level=0)
        # The cost-aggregator's own settings say whether it runs its budgets stage (read from the environment and
        # warden.env, as the children read them): a group that never starts must not hold cost.rollups.
        budgets = "cost-aggregator" in self.services and CostAggregatorSettings().budgets_enabled
        self.trimmer = trimmer(self.settings, lambda: storage.s3_url, admin, self.services, budgets).start()

    def _spawn(self, name: str, restarts: int = 0) -> None:
        out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        process = subprocess.Popen(
            [*warden_command(), "run", name], env=self._env(), stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=child_preexec,
        )
        out.close()
        self.children[name] = Child(name, process, restarts)

    def _wait_ready(self, timeout_s: float, budget_s: float) -> None:
        """The stack is ready when the ledger-sink serves queries (it has migrated and subscribed)."""
        if "ledger-sink" not in self.services or not self.settings.embedded_ledger:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.endpoint_file.exists():
                return
            child = self.children["ledger-sink"]
            if child.process.poll() is not None:
                raise WardenError(
                    f"ledger-sink exited with code {child.process.returncode} at start; "
                    f"see {self.log_dir / 'ledger-sink.log'}:\n{tail(self.log_dir / 'ledger-sink.log')}"
                )
            time.sleep(0.1)
        raise WardenError(f"ledger-sink did not serve queries within the stack's {budget_s:.0f} s start budget "
                          f"(WARDEN_STACK_READY_TIMEOUT_S); see {self.log_dir / 'ledger-sink.log'}:\n"
                          f"{tail(self.log_dir / 'ledger-sink.log')}")

    def supervise(self, stop: threading.Event, max_restarts: int = 5) -> None:
        """Restart the broker and crashed services (they resume from committed offsets) until ``stop`` is set."""
        while not stop.wait(0.5):
            if self.broker is not None and self.broker.dead() and not self._stopping.is_set():
                self._revive_broker(max_restarts)
            for name, child in list(self.children.items()):
                code = child.process.poll()
                if code is None or self._stopping.is_set():
                    continue
                # A service that ran a while before crashing starts a fresh restart budget.
                restarts = 0 if time.monotonic() - child.started > HEALTHY_AFTER_S else child.restarts
                if restarts >= max_restarts:
                    raise WardenError(f"{name} crashed {restarts + 1} times in a row; last exit code {code}; "
                                      f"see {self.log_dir / (name + '.log')}")
                log.warning("%s exited with code %s; restarting", name, code)
                if stop.wait(min(30.0, 0.5 * 2 ** restarts)):  # back off while it keeps failing
                    return
                self._spawn(name, restarts + 1)

    def _revive_broker(self, max_restarts: int) -> None:
        """The services keep running: their clients reconnect to the same port once it is back."""
        assert self.broker is not None
        dead = ", ".join(self.broker.dead())
        if self.broker_restarts >= max_restarts:
            raise WardenError(f"the embedded broker ({dead}) could not be restarted {self.broker_restarts} "
                              f"times in a row; see {self.log_dir / 'tansu.log'} and {self.log_dir / 'seaweedfs.log'}")
        log.warning("embedded broker exited (%s); restarting it", dead)
        try:
            restarted = self.broker.revive()
            if self.settings.embedded_storage == "memory":
                self._ensure_topics()  # a memory broker comes back empty
        except WardenError as exc:
            self.broker_restarts += 1
            log.warning("restarting the embedded broker failed: %s", exc)
            return
        self.broker_restarts = 0
        log.warning("embedded broker restarted: %s", ", ".join(restarted))

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stopping.set()
        for watch in (self.history, self.trimmer):
            if watch is not None:
                watch.stop()
        for child in self.children.values():
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for child in self.children.values():
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        if self.broker is not None:
            self.broker.stop()
        self.endpoint_file.unlink(missing_ok=True)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def refuse_shared_group() -> None:
    """WARDEN_GROUP_ID (in the environment or warden.env) is read by every service's settings: under `warden up`
    it put all of them in one consumer group (each got some partitions of agent.events and no service saw them
    all), and the embedded trimmer, which waits for the stack's own group names, deleted batches that group had
    not read. Each service of the stack has its own group; the setting is for `warden run` of one service."""
    found = CostAggregatorSettings().group_id
    if found != CostAggregatorSettings.model_fields["group_id"].default:
        raise ConfigError(f"WARDEN_GROUP_ID={found!r} would put every service of `warden up` in one consumer group; "
                          "unset it (in the environment and warden.env): each service has its own group, and "
                          "WARDEN_GROUP_ID is for `warden run SERVICE` of one service")


def tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
