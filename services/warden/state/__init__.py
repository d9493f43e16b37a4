"""Durable operator state for partitioned stream processors (snapshots per input partition)."""
