#!/bin/bash
# Grafana reads the ledger as its own read-only user: dashboards can never change the append-only
# ledger, whatever SQL a panel holds. The ClickHouse data source plugin sets max_execution_time per
# query, so that one setting stays changeable in read-only mode. Runs once, on an empty data volume.
set -euo pipefail
clickhouse client --host 127.0.0.1 --user "${CLICKHOUSE_USER}" --password "${CLICKHOUSE_PASSWORD}" --multiquery <<SQL
CREATE SETTINGS PROFILE IF NOT EXISTS grafana_reader SETTINGS readonly = 1, max_execution_time = 60 CHANGEABLE_IN_READONLY;
CREATE USER IF NOT EXISTS grafana IDENTIFIED WITH sha256_password BY '${GRAFANA_CLICKHOUSE_PASSWORD}'
    SETTINGS PROFILE 'grafana_reader';
GRANT SELECT ON warden.* TO grafana;
SQL
