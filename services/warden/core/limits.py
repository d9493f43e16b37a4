"""The bounds on what one record from outside Warden may hold, in one place (README, "Limits").

A record over a bound is refused as one bad record (a dead letter naming the bound, a named bad
line in replay, a ValidationError in the SDK) instead of exhausting the recursion or memory of
every service that reads it. Operators tune them with WARDEN_LIMIT_* (or warden.env); every
process of a deployment must use the same values, as they decide which records are valid.
"""

from __future__ import annotations

from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Beyond this, the JSON parser and the recursive walks after it (pydantic, redaction, Cedar's
# context) come near Python's recursion limit (1,000 frames): the setting is capped below it.
MAX_JSON_DEPTH = 128


class InputLimits(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARDEN_LIMIT_", env_file="warden.env", extra="ignore",
                                      frozen=True)

    json_depth: int = Field(32, ge=1, le=MAX_JSON_DEPTH,
                            description="Nesting of objects and arrays in params, output and state_change, "
                                        "and in a replay line.")
    params_bytes: int = Field(64 * 1024, ge=2, description="UTF-8 size of a tool call's params.")
    output_bytes: int = Field(512 * 1024, ge=2, description="UTF-8 size of a tool call's output or a run's "
                                                             "state_change.")
    record_bytes: int = Field(1024 * 1024, ge=64, description="Size of one record read from a topic (the Avro "
                                                               "message) or one line of a replay file.")

    @staticmethod
    def env(name: str) -> str:
        """The variable that sets a limit, for messages that name it."""
        return f"WARDEN_LIMIT_{name.upper()}"


@cache
def limits() -> InputLimits:
    """Read once per process; tests that change a limit call ``limits.cache_clear()``."""
    return InputLimits()
