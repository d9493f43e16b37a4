"""`warden replay`: the live processors' code over a JSON-lines file, with no broker."""
