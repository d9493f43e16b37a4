"""The warden-sdk wheel's files come from the repository around this directory (the one source tree the
server is installed from too). Added by a hook, not `force-include`, because hatchling applies
`force-include` to editable wheels as well, and copies in site-packages would shadow the checkout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

FILES = {
    "../services/warden/__init__.py": "warden/__init__.py",
    "../services/warden/core": "warden/core",  # the contract: models, settings, wire format, redaction
    "../services/warden/kafka": "warden/kafka",  # the Kafka client layer
    "../services/warden/sdk": "warden/sdk",
    "../services/warden/cache": "warden/cache",  # run.cache: keys, rules, decisions, stores
    "../services/warden/routing": "warden/routing",  # run.route: the routing file and its matcher
    "../schemas": "warden/schemas",  # package data, found by warden.core.shipped
    "../policies": "warden/policies",
}


class SdkFiles(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "standard":
            build_data["force_include"].update(FILES)
            # The server's compiled decoder (ADR 0029), when built in this checkout, is no part of the pure-Python
            # SDK wheel: the SDK's codec runs the Python decoder without it.
            core = Path(self.root, "../services/warden/core")
            del build_data["force_include"]["../services/warden/core"]
            for path in sorted(core.iterdir()):
                if path.name != "__pycache__" and not path.name.startswith(("_avro_fast", ".avro_fast")):
                    build_data["force_include"][f"../services/warden/core/{path.name}"] = f"warden/core/{path.name}"
