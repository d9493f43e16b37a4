"""Importers from other eval tools' formats to Warden dataset items (field mappings: README, "Evals")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from warden.evals.importers.base import ImportResult, Refusal
from warden.evals.importers.inspect_samples import import_inspect
from warden.evals.importers.langfuse import import_langfuse
from warden.evals.importers.promptfoo import import_promptfoo

SOURCES: dict[str, Callable[[Path, str], ImportResult]] = {
    "promptfoo": import_promptfoo,
    "inspect": import_inspect,
    "langfuse": import_langfuse,
}

__all__ = ["SOURCES", "ImportResult", "Refusal", "import_inspect", "import_langfuse", "import_promptfoo"]
