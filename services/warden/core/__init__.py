"""Contracts shared by every service: errors, settings, topics, typed messages and the Avro codec."""
