"""tool-proxy: the synchronous enforcement point between agents and the tools they call."""
