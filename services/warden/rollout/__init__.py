"""Gated rollouts of a workflow's release: plan, gates, the controller's pure step, assignment.

The pure parts (plan, intervals, gates, controller, assign) import no Kafka and no Cedar, so the
SDK, `warden replay` and the live rollout-controller share them. See README "Rollouts".
"""
