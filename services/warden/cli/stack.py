"""`warden up`, `warden run SERVICE` and `warden topics create`."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

import typer

from warden.broker.admin import ensure_topics, wait_for_broker
from warden.cli.output import console, fail, setup_logging
from warden.core.errors import WardenError
from warden.core.settings import WardenSettings
from warden.stack import OPTIONAL_SERVICES, SERVICES, Stack

topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)


def stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def up(also: list[str] = typer.Option([], "--with", help="Also run (repeat it, or a comma-separated list): "
                                     f"{', '.join(OPTIONAL_SERVICES)}")) -> None:
    """Start the stack: the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is set) and every service."""
    setup_logging()
    also = [name.strip() for value in also for name in value.split(",") if name.strip()]  # --with a,b too
    unknown = sorted(set(also) - set(OPTIONAL_SERVICES))
    if unknown:
        fail(f"--with {', '.join(unknown)}: expected one of {', '.join(OPTIONAL_SERVICES)}", 2)
    services = SERVICES + tuple(s for s in OPTIONAL_SERVICES if s in also)
    settings = WardenSettings()
    stop = threading.Event()
    stop_on_signals(stop)
    try:
        with Stack(settings, services) as stack:
            where = "embedded Tansu" if settings.embedded else "external Kafka"
            console.print(f"[green]Warden is up[/]: {where} at {stack.bootstrap}; services {', '.join(services)}")
            console.print(f"ledger: {settings.ledger_url}   logs: {stack.log_dir}")
            # The address `warden approvals`, `kill`, `revive` and `rollout` use (from WARDEN_APPROVALS_PORT
            # on this machine), printed so an operator in another shell does not have to work it out.
            console.print(f"approvals API: {settings.local_approvals_url}", highlight=False, soft_wrap=True)
            console.print("Ctrl-C stops everything.")
            stack.supervise(stop)
    except WardenError as exc:
        fail(str(exc))
    console.print("Warden stopped.")


def _services() -> dict[str, Callable[[threading.Event], None]]:
    def ledger_sink(stop: threading.Event) -> None:
        from warden.ledger_sink.service import run_service
        from warden.ledger_sink.settings import LedgerSinkSettings

        run_service(LedgerSinkSettings(), stop)

    def policy_evaluator(stop: threading.Event) -> None:
        from warden.policy_evaluator.service import run_service
        from warden.policy_evaluator.settings import PolicyEvaluatorSettings

        run_service(PolicyEvaluatorSettings(), stop)

    def risk_scorer(stop: threading.Event) -> None:
        from warden.risk_scorer.service import run_service
        from warden.risk_scorer.settings import load_settings

        run_service(load_settings(), stop)

    def approvals(stop: threading.Event) -> None:
        from warden.approvals.service import run_service
        from warden.approvals.settings import ApprovalsSettings

        run_service(ApprovalsSettings(), stop)

    def cost_aggregator(stop: threading.Event) -> None:
        from warden.cost_aggregator.service import run_service
        from warden.cost_aggregator.settings import CostAggregatorSettings

        run_service(CostAggregatorSettings(), stop)

    def tool_proxy(stop: threading.Event) -> None:
        from warden.tool_proxy.service import run_service
        from warden.tool_proxy.settings import ToolProxySettings

        run_service(ToolProxySettings(), stop)

    def otlp_ingest(stop: threading.Event) -> None:
        from warden.otlp_ingest.service import run_service
        from warden.otlp_ingest.settings import OtlpIngestSettings

        run_service(OtlpIngestSettings(), stop)

    def anomaly_alerter(stop: threading.Event) -> None:
        from warden.anomaly_alerter.service import run_service
        from warden.anomaly_alerter.settings import AnomalyAlerterSettings

        run_service(AnomalyAlerterSettings(), stop)

    def notifier(stop: threading.Event) -> None:
        from warden.notifier.service import run_service
        from warden.notifier.settings import NotifierSettings

        run_service(NotifierSettings(), stop)

    def rollout_controller(stop: threading.Event) -> None:
        from warden.rollout_controller.service import run_service
        from warden.rollout_controller.settings import RolloutControllerSettings

        run_service(RolloutControllerSettings(), stop)

    return {"ledger-sink": ledger_sink, "policy-evaluator": policy_evaluator, "risk-scorer": risk_scorer,
            "approvals": approvals, "cost-aggregator": cost_aggregator, "tool-proxy": tool_proxy,
            "otlp-ingest": otlp_ingest,
            "anomaly-alerter": anomaly_alerter, "notifier": notifier, "rollout-controller": rollout_controller}


def run(service: str = typer.Argument(..., help=f"One of: {', '.join(SERVICES + OPTIONAL_SERVICES)}")) -> None:
    """Run one service in the foreground: the entrypoint of each container in docker-compose."""
    setup_logging()
    services = _services()
    if service not in services:
        fail(f"unknown service {service!r}; expected one of {', '.join(sorted(services))}", 2)
    stop = threading.Event()
    stop_on_signals(stop)
    from warden.runtime.metrics import serve

    serve(WardenSettings(), service)  # Prometheus /metrics of this process (WARDEN_METRICS_*)
    try:
        services[service](stop)
    except WardenError as exc:
        fail(f"{service}: {exc}")


@topics_app.command("create")
def create_topics() -> None:
    """Create every Warden topic with its partitions and configs (idempotent)."""
    settings = WardenSettings()
    try:
        wait_for_broker(settings)
        created = ensure_topics(settings)
    except WardenError as exc:
        fail(str(exc))
    console.print(f"created: {', '.join(created) or 'nothing (all topics exist)'}")
