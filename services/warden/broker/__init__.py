"""Kafka plumbing: the embedded Tansu broker and explicit topic creation."""
