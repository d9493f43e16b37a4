"""risk-scorer: a RiskScore for every tool call and run; the riskiest allowed calls go to a human."""
