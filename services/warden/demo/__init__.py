"""`warden demo`: the embedded stack fed by simulated agent platforms."""
