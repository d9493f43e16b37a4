"""One way to reach ClickHouse: clickhouse-connect over ``chdb://`` (embedded) or ``http(s)://``.

chDB is in-process and locks its path against other processes; inside the process any number
of connections (handles) share the one engine, each with its own session state (SET, USE). A
Ledger is one connection, used under its lock; `session()` opens another, which is how analysts'
queries stay off the ledger-sink's connection (warden.ledger.readonly).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.query import QueryResult

from warden.core.errors import LedgerError
from warden.core.settings import WardenSettings


class Ledger:
    def __init__(self, url: str, database: str = "warden", user: str = "default", password: str = "",
                 settings: Mapping[str, Any] | None = None) -> None:
        """`settings`: session settings, SET in their order when the connection opens."""
        self.url = url
        self.database = database
        self._credentials = (user, password)
        self._lock = threading.RLock()
        try:
            if url.startswith("chdb://"):
                self._client: Client = clickhouse_connect.get_client(dsn=url, settings=dict(settings or {}))
            else:
                self._client = clickhouse_connect.get_client(dsn=url, username=user, password=password,
                                                             settings=dict(settings or {}))
        except Exception as exc:
            hint = " (is another process holding this chDB path? stop `warden up` or use `warden query`)" \
                if url.startswith("chdb://") else ""
            raise LedgerError(f"cannot open the ledger at {url}: {exc}{hint}") from exc

    @classmethod
    def from_settings(cls, settings: WardenSettings) -> Ledger:
        if settings.embedded_ledger:
            (settings.data_dir / "ledger").mkdir(parents=True, exist_ok=True)
        return cls(settings.ledger_url, settings.clickhouse_database, settings.clickhouse_user,
                   settings.clickhouse_password.get_secret_value())

    def session(self, settings: Mapping[str, Any]) -> Ledger:
        """Another connection to the same ledger, with its own session settings and lock: what it
        does (or fails to undo) is invisible to this one. Close it (or use it as a context manager)."""
        user, password = self._credentials
        return Ledger(self.url, self.database, user, password, settings)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @property
    def embedded(self) -> bool:
        return self.url.startswith("chdb://")

    def command(self, sql: str, settings: dict[str, Any] | None = None) -> Any:
        with self._lock:
            try:
                return self._client.command(sql, settings=settings)
            except Exception as exc:
                raise LedgerError(f"ledger command failed: {exc}\n  statement: {sql[:300]}") from exc

    def query(self, sql: str, parameters: dict[str, Any] | None = None,
              settings: dict[str, Any] | None = None) -> QueryResult:
        with self._lock:
            try:
                return self._client.query(sql, parameters=parameters, settings=settings)
            except Exception as exc:
                raise LedgerError(f"ledger query failed: {exc}\n  query: {sql[:300]}") from exc

    def stream(self, sql: str) -> Iterator[tuple[Any, ...]]:
        """Rows block by block, for scans of whole tables (`warden ledger verify`) in bounded memory."""
        with self._lock:
            try:
                with self._client.query_rows_stream(sql) as rows:
                    for row in rows:
                        yield tuple(row)
            except Exception as exc:
                raise LedgerError(f"ledger scan failed: {exc}\n  query: {sql[:300]}") from exc

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.query(sql, parameters).result_rows]

    def scalar(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        rows = self.rows(sql, parameters)
        return rows[0][0] if rows else None

    def insert(self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]) -> None:
        """Column-oriented insert: ``data[i]`` holds every value of ``columns[i]``."""
        if not data or not data[0]:
            return
        with self._lock:
            try:
                # Events of many months in one batch must not fail the insert (and loop the sink).
                self._client.insert(f"{self.database}.{table}", data=data, column_names=list(columns),
                                    column_oriented=True, settings={"max_partitions_per_insert_block": 0})
            except Exception as exc:
                raise LedgerError(f"insert of {len(data[0])} rows into {table} failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._client.close()
