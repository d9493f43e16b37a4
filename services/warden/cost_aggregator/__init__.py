"""cost-aggregator: priced spend windows, per-task ceilings, budgets and cost regression."""
