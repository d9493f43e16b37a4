"""The rollout-controller service: the shell around warden.rollout.controller."""
