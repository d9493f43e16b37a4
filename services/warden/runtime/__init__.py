"""The one stream runtime every Warden stream service runs on (docs/decisions/0008-stream-runtime.md).

A service declares its processors (input topics, ``step``, ``dump``, ``restore``) and this package
does the rest: decode-or-skip and dead letters (deadletters.py), partitions, rebalances and
checkpoints (task.py, on a StateStore: store.py), Prometheus metrics (metrics.py) and shutdown
(app.py). Its Kafka clients and the checked producer come from the client layer it shares with the
SDK (warden.kafka: clients.py is the only place they are built).
Nothing is imported here, so importing one module does not import them all.
"""
