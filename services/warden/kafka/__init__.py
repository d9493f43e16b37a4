"""The Kafka client layer, shared by the SDK and the server: every client configuration (configs.py) and
client (clients.py) Warden makes, the checked producer (producer.py), low-latency consumption helpers
(consume.py) and the control topic's publisher and local view (control.py).

It imports only the contract (warden.core) and confluent_kafka, so the light SDK distribution ships it;
the stream runtime's loop (warden.runtime) is built on it. Nothing is imported here.
"""
