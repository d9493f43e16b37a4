"""The warden-sdk wheel's files come from the repository around this directory (the one source tree the
server is installed from too). Added by a hook, not `force-include`, because hatchling applies
`force-include` to editable wheels as well, and copies in site-packages would shadow the checkout."""

from __future__ import annotations

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
