"""Model routing (checklist §7): task features -> a route (cheap / default / strong) -> a model, as pure code."""
