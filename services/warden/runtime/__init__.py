"""The one stream runtime every Warden stream service runs on (docs/decisions/0008-stream-runtime.md).

A service declares its processors (input topics, ``step``, ``dump``, ``restore``) and this package
does the rest: Kafka client configs (clients.py, the only place they are built), decode-or-skip
and dead letters (decoding.py), the checked producer (producer.py), partitions, rebalances and
checkpoints (task.py, on a StateStore: store.py), Prometheus metrics (metrics.py) and shutdown (app.py).
Nothing is imported here, so importing one module does not import them all.
"""
