"""Where the files Warden ships with its code are: the Avro schemas (schemas/) and the default policies
(policies/).

An installed wheel carries them as package data inside the ``warden`` package (warden/schemas,
warden/policies; the warden-sdk distribution ships both, since the SDK reads the schemas and
workflows.toml), found through importlib.resources. A source checkout, which is what `make setup`
installs (editable), the demo and compose run, has them at the top of the repository instead, where
the README, the Makefile and compose's mounts name them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from warden.core.errors import ConfigError

SOURCE_TREE = Path(__file__).resolve().parents[3]  # services/warden/core/shipped.py -> the repository


def shipped(name: str) -> Path:
    """The directory ``name`` ("schemas" or "policies"): the installed package's copy, else the source tree's."""
    packaged = resources.files("warden") / name
    if packaged.is_dir():
        if not isinstance(packaged, Path):  # e.g. a zip import: the readers glob and stat real files
            raise ConfigError(f"Warden's {name}/ must be installed as files on disk, found {packaged!r}")
        return packaged
    return SOURCE_TREE / name


SCHEMAS = shipped("schemas")
POLICIES = shipped("policies")
