"""Warden: the production control plane for LLM agent workflows."""

__version__ = "0.1.0"
