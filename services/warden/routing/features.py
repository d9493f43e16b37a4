"""The task features a routing decision is made on, checked where the agent passes them.

Known features have one type each, so a rule on `amount_usd` compares numbers with numbers; any
other name is a label the agent passes (a string, number or bool). A decision records its features,
so `warden replay` can decide again on exactly what the agent saw.
"""

from __future__ import annotations

import math
import re

from warden.core.errors import ValidationError

Value = str | int | float | bool
Features = dict[str, Value]

TEXT = frozenset({"workflow", "tenant", "tenant_tier", "tool", "intent"})
NUMBERS = frozenset({"amount_usd", "risk_score", "input_tokens"})
KNOWN = TEXT | NUMBERS
MAX_FEATURES = 32
MAX_TEXT = 256
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def check_features(features: Features) -> Features:
    """Raises ValidationError naming the feature, the value found and what was expected."""
    if len(features) > MAX_FEATURES:
        raise ValidationError(f"invalid routing features: {len(features)} given, at most {MAX_FEATURES}")
    for name, value in features.items():
        if isinstance(value, str):
            if name in NUMBERS:
                raise ValidationError(f"invalid routing feature {name}: expected a number, got {value!r:.60}")
            if len(value) > MAX_TEXT or "\x00" in value:
                raise ValidationError(f"invalid routing feature {name}: expected text of at most {MAX_TEXT} "
                                      f"characters without NUL, got {len(value)} characters")
        elif isinstance(value, bool):
            if name in KNOWN:
                raise ValidationError(f"invalid routing feature {name}: expected a "
                                      f"{'number' if name in NUMBERS else 'string'}, got {value!r}")
        elif isinstance(value, int | float):
            if name in TEXT:
                raise ValidationError(f"invalid routing feature {name}: expected a string, got {value!r}")
            if not math.isfinite(value):
                raise ValidationError(f"invalid routing feature {name}: expected a finite number, got {value!r}")
            if name == "risk_score" and not 0 <= value <= 1:
                raise ValidationError(f"invalid routing feature risk_score: expected 0..1, got {value!r}")
            if name == "input_tokens" and (not isinstance(value, int) or value < 0):
                raise ValidationError(f"invalid routing feature input_tokens: expected an int >= 0, got {value!r}")
        else:
            raise ValidationError(f"invalid routing feature {name}: expected a string, number or bool, "
                                  f"got {type(value).__name__}")
        if name not in KNOWN and not NAME.match(name):
            raise ValidationError(f"invalid routing feature name {name!r}: expected letters, digits and _")
    return features
