"""Fuzz run: 100,000 hostile inputs through what reads them (issue 13), zero uncaught exceptions expected.

The targets are the CI fuzz suite's (tests/fuzz_targets.py: the codec on mutated bytes, Wire.decode on
records any Kafka client can write, replay lines, the policy request builder), each run here with a
quarter of --inputs examples. An uncaught exception stops its target (hypothesis shrinks it and it is
printed); the last line printed is one JSON object.

    .venv/bin/python benchmarks/fuzz.py --inputs 100000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

# The targets live with the tests (CI runs them bounded); this script runs from benchmarks/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import settings
from tests.fuzz_targets import SEEN, SETTINGS, TARGETS

from harness import cpu_model  # a sibling script, not a package


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs in all, split evenly over the targets")
    args = parser.parse_args()
    each = max(1, args.inputs // len(TARGETS))
    uncaught: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for name, target in TARGETS.items():
        started = time.perf_counter()
        try:
            settings(SETTINGS, max_examples=each)(target)()
        except Exception as exc:
            uncaught[name] = "".join(traceback.format_exception_only(exc)).strip()[:500]
        seconds[name] = round(time.perf_counter() - started, 1)
        print(f"{name}: {SEEN[name]} inputs in {seconds[name]} s, "
              f"{'UNCAUGHT ' + uncaught[name] if name in uncaught else 'no uncaught exception'}", flush=True)
    print(json.dumps({"benchmark": "fuzz", "inputs": sum(SEEN.values()), "per_target": dict(SEEN),
                      "seconds": seconds, "uncaught": len(uncaught), "failures": uncaught,
                      "cpu": cpu_model(), "cores": os.cpu_count()}))


if __name__ == "__main__":
    main()
