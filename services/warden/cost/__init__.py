"""Cost: the price table, event-time spend windows, budgets and cost regression (pure code)."""
