"""Policy as code: Cedar bundles, the three-outcome engine, and the tooling around them."""
