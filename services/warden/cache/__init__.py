"""The answer and embedding cache's pure parts (keys, rules, decisions) and its stores.

The SDK (warden.sdk.cache) looks answers up and offers them; `warden replay` runs the same decisions
over an events file (warden.cache.decide), so the two say the same about what was stored and why not.
"""
