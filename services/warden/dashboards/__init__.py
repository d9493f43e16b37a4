"""Grafana dashboards (dashboards/*.json): one source for Grafana, `warden report` and the tests."""
