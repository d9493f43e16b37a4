"""Schema registries: where a schema id on the wire maps to a writer schema.

Embedded mode keeps ids in a JSON file (stable across restarts, shared by every
process on the machine through a file lock); distributed mode talks to any
Confluent-compatible registry over HTTP. Subjects follow the record-name strategy,
so topic prefixes never change ids.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from warden.core.errors import SchemaError


def canonical(schema: dict[str, Any] | str) -> str:
    """One text per schema, so the same schema always finds the same id."""
    parsed = json.loads(schema) if isinstance(schema, str) else schema
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Registered:
    """One version of one subject, as `warden schemas list` shows it."""

    subject: str
    version: int
    schema_id: int
    schema: dict[str, Any]


class SchemaRegistry(Protocol):
    def register(self, subject: str, schema: dict[str, Any]) -> int: ...

    def schema(self, schema_id: int) -> dict[str, Any]: ...


class FileSchemaRegistry:
    """Ids persisted in one JSON file: ``{"schemas": {"1": {...}}, "subjects": {"name": [1, 2]}}``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._cache: dict[int, dict[str, Any]] = {}

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"schemas": {}, "subjects": {}}
        try:
            data: dict[str, Any] = json.loads(self.path.read_text() or "{}")
        except ValueError as exc:
            raise SchemaError(f"schema registry file {self.path} is not JSON: {exc}") from exc
        data.setdefault("schemas", {})
        data.setdefault("subjects", {})
        return data

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        text = canonical(schema)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._load()
            for sid, stored in data["schemas"].items():
                if canonical(stored) == text:
                    schema_id = int(sid)
                    break
            else:
                schema_id = max((int(s) for s in data["schemas"]), default=0) + 1
                data["schemas"][str(schema_id)] = json.loads(text)
            versions = data["subjects"].setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
                tmp = self.path.with_suffix(f".tmp{os.getpid()}")
                tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
                tmp.replace(self.path)
        self._cache[schema_id] = json.loads(text)
        return schema_id

    def schema(self, schema_id: int) -> dict[str, Any]:
        if schema_id not in self._cache:
            stored = self._load()["schemas"].get(str(schema_id))
            if stored is None:
                raise SchemaError(f"unknown schema id {schema_id}: not in registry file {self.path}")
            self._cache[schema_id] = stored
        return self._cache[schema_id]

    def subjects(self) -> list[Registered]:
        """Every version of every subject, versions numbered from 1 in the order they were registered."""
        data = self._load()
        return [Registered(subject, number, sid, data["schemas"][str(sid)])
                for subject, ids in sorted(data["subjects"].items())
                for number, sid in enumerate(ids, start=1)]


class HttpSchemaRegistry:
    """Client for the Confluent Schema Registry REST API (and compatible servers)."""

    def __init__(self, url: str, auth: tuple[str, str] | None = None, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, auth=auth, timeout=timeout_s)
        self._cache: dict[int, dict[str, Any]] = {}

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(
                method, path, headers={"Content-Type": "application/vnd.schemaregistry.v1+json"}, **kwargs
            )
        except httpx.HTTPError as exc:
            raise SchemaError(f"schema registry at {self.url} is unreachable: {exc}") from exc
        if response.status_code == 404:
            raise SchemaError(f"schema registry at {self.url}: {path} not found ({response.text[:200]})")
        if response.status_code >= 400:
            raise SchemaError(
                f"schema registry at {self.url} refused {method} {path}: "
                f"HTTP {response.status_code} {response.text[:200]}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise SchemaError(f"schema registry at {self.url}: {method} {path} did not return JSON "
                              f"({response.text[:80]!r})") from exc

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        body = self._call("POST", f"/subjects/{quote(subject, safe='')}/versions", json={"schema": canonical(schema)})
        schema_id = int(body["id"])
        self._cache[schema_id] = json.loads(canonical(schema))
        return schema_id

    def schema(self, schema_id: int) -> dict[str, Any]:
        if schema_id not in self._cache:
            try:
                body = self._call("GET", f"/schemas/ids/{schema_id}")
            except SchemaError as exc:
                raise SchemaError(f"unknown schema id {schema_id}: {exc}") from exc
            self._cache[schema_id] = json.loads(body["schema"])
        return self._cache[schema_id]

    def subjects(self) -> list[Registered]:
        """Every version of every subject (GET /subjects, then each subject's versions)."""
        found = []
        for subject in sorted(self._get_list("/subjects")):
            path = f"/subjects/{quote(subject, safe='')}/versions"
            for number in sorted(self._get_list(path)):
                body = self._call("GET", f"{path}/{number}")
                found.append(Registered(subject, int(body["version"]), int(body["id"]), json.loads(body["schema"])))
        return found

    def _get_list(self, path: str) -> list[Any]:
        body: Any = self._call("GET", path)
        if not isinstance(body, list):
            raise SchemaError(f"schema registry at {self.url}: GET {path} returned {str(body)[:80]}, expected a list")
        return body
