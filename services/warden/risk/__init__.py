"""Risk scoring: explainable factors, configured weights, per-workflow routing thresholds (pure)."""
