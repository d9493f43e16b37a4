"""`warden dashboards push`: provision the ClickHouse data source and the dashboards over Grafana's API.

The data source is the one docker-compose provisions (infra/grafana/provisioning/datasources), so a
Grafana set up either way serves the same dashboards against the same data source uid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import niquests
import yaml
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError

from warden.core.errors import ConfigError, WardenError
from warden.dashboards.model import DATASOURCE_UID, Dashboard

PROVISIONING = Path(__file__).resolve().parents[3] / "infra" / "grafana" / "provisioning"
DATASOURCE_FILE = PROVISIONING / "datasources" / "clickhouse.yaml"
FOLDER_UID = "warden"
FOLDER_TITLE = "Warden"


class GrafanaError(WardenError):
    """Grafana is unreachable, refused the token, or refused what was pushed."""


@dataclass
class PushResult:
    grafana_version: str
    datasource: str  # created | updated
    dashboards: list[str] = field(default_factory=list)


def provisioned_datasource(path: Path = DATASOURCE_FILE) -> dict[str, Any]:
    try:
        found = yaml.safe_load(path.read_text())["datasources"][0]
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError) as exc:
        raise ConfigError(f"cannot read the provisioned data source from {path}: {exc}") from exc
    return dict(found)


def datasource_body(host: str | None = None, port: int | None = None, protocol: str | None = None,
                    username: str | None = None, password: str = "", database: str | None = None) -> dict[str, Any]:
    """The provisioned data source, pointed at the given ClickHouse (unset: as provisioned for compose)."""
    source = provisioned_datasource()
    json_data = dict(source.get("jsonData", {}))
    for key, value in (("host", host), ("port", port), ("protocol", protocol), ("username", username),
                       ("defaultDatabase", database)):
        if value is not None:
            json_data[key] = value
    if source.get("uid") != DATASOURCE_UID:
        raise ConfigError(f"{DATASOURCE_FILE} provisions uid {source.get('uid')!r}; the dashboards use "
                          f"{DATASOURCE_UID!r}")
    return {"name": source["name"], "uid": source["uid"], "type": source["type"], "access": "proxy",
            "isDefault": bool(source.get("isDefault", False)), "jsonData": json_data,
            "secureJsonData": {"password": password}}


def _explain(exc: Exception, url: str, doing: str) -> GrafanaError:
    if isinstance(exc, GrafanaUnauthorizedError):
        return GrafanaError(f"Grafana at {url} refused the token while {doing} (HTTP 401): check --token; "
                            "it must be a valid service account token (or API key) of this Grafana")
    if isinstance(exc, GrafanaClientError) and exc.status_code == 403:
        return GrafanaError(f"Grafana at {url} accepted the token but refused {doing} (HTTP 403): the service "
                            "account needs the Admin role to create data sources (Editor for dashboards)")
    if isinstance(exc, GrafanaException) and exc.status_code:
        return GrafanaError(f"Grafana at {url} failed {doing}: HTTP {exc.status_code}: {exc.message}")
    text = str(exc)
    reason = re.search(r"\[Errno -?\d+\] [^'\")]+|timed out|Name or service not known", text)
    return GrafanaError(f"Grafana at {url} is unreachable ({doing}): {reason.group(0) if reason else text[:300]}; "
                        "check --grafana-url and that Grafana is running")


def push(url: str, token: str, dashboards: list[Dashboard], datasource: dict[str, Any],
         timeout_s: float = 10.0) -> PushResult:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--grafana-url must be http(s)://host:port, got {url!r}")
    if not token:
        raise ConfigError("a Grafana token is required (--token or WARDEN_GRAFANA_TOKEN)")
    api = GrafanaApi.from_url(url.rstrip("/"), credential=token, timeout=timeout_s)
    step = "reading its version"
    try:
        health = api.health.check()
        step = "reading the data source"
        try:
            api.datasource.get_datasource_by_uid(datasource["uid"])
            exists = True
        except GrafanaClientError as exc:
            if exc.status_code != 404:
                raise
            exists = False
        step = "saving the ClickHouse data source"
        if exists:
            api.datasource.update_datasource_by_uid(datasource["uid"], datasource)
        else:
            api.datasource.create_datasource(datasource)
        step = "creating the Warden folder"
        try:
            api.folder.get_folder(FOLDER_UID)
        except GrafanaClientError as exc:
            if exc.status_code != 404:
                raise
            api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
        result = PushResult(str(health.get("version", "?")) if isinstance(health, dict) else "?",
                            "updated" if exists else "created")
        for dashboard in dashboards:
            step = f"saving dashboard {dashboard.uid}"
            api.dashboard.update_dashboard({"dashboard": {**dashboard.raw, "id": None}, "folderUid": FOLDER_UID,
                                            "overwrite": True, "message": "warden dashboards push"})
            result.dashboards.append(dashboard.uid)
    except (GrafanaException, niquests.exceptions.RequestException) as exc:
        raise _explain(exc, url, step) from exc
    return result
