"""anomaly-alerter: pages and tickets for on-call, computed on event time."""
