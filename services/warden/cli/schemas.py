"""`warden schemas list | register`: Warden's Avro schemas in the schema registry.

Subjects follow the record-name strategy (the subject is the record's full name, `warden.AgentEvent`),
so a topic prefix never changes an id. `register` is what a deployment runs once before a stock Kafka
client publishes (Warden's own producers register on first use); its stdout is one `subject<TAB>id`
line per schema, for scripts: `SCHEMA_ID=$(warden schemas register warden.AgentEvent | cut -f2)`.
"""

from __future__ import annotations

import json

import typer

from warden.cli.output import console, errors, fail, table
from warden.core.catalog import load_schemas
from warden.core.errors import SchemaError
from warden.core.registry import canonical
from warden.core.settings import WardenSettings
from warden.core.wire import registry_for

schemas_app = typer.Typer(help="Avro schemas in the schema registry (record-name subjects).", no_args_is_help=True)


def _where(settings: WardenSettings) -> str:
    return settings.schema_registry_url or f"file registry {settings.registry_path}"


@schemas_app.command("register")
def register(names: list[str] = typer.Argument(None, help="Record names (default: every schema in schemas/)")
             ) -> None:
    """Register Warden's schemas under their record names; prints `subject<TAB>id` per schema."""
    settings = WardenSettings()
    local = load_schemas()
    chosen = names or sorted(local)
    unknown = [name for name in chosen if name not in local]
    if unknown:
        fail(f"no schema named {', '.join(unknown)} in schemas/; known: {', '.join(sorted(local))}", 2)
    registry = registry_for(settings)
    for name in chosen:
        try:
            schema_id = registry.register(name, local[name])
        except SchemaError as exc:
            fail(str(exc))
        print(f"{name}\t{schema_id}")
    errors.print(f"{len(chosen)} schema(s) registered in {_where(settings)}", highlight=False, soft_wrap=True)


@schemas_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="One JSON object per version instead of a table")
          ) -> None:
    """Every subject's versions and ids, and whether each is the schema in schemas/ now."""
    settings = WardenSettings()
    local = {name: canonical(schema) for name, schema in load_schemas().items()}
    try:
        found = registry_for(settings).subjects()
    except SchemaError as exc:
        fail(str(exc))

    def state(subject: str, schema: dict[str, object]) -> str:
        if subject not in local:
            return "not a Warden record"
        return "current" if canonical(schema) == local[subject] else "other"

    rows = [(r.subject, r.version, r.schema_id, state(r.subject, r.schema)) for r in found]
    if as_json:
        for subject, version, schema_id, matches in rows:
            print(json.dumps({"subject": subject, "version": version, "id": schema_id, "schemas_dir": matches}))
        return
    missing = sorted(set(local) - {r.subject for r in found})
    console.print(table(["subject", "version", "id", "vs schemas/"], rows, title=_where(settings)))
    if missing:
        console.print(f"not registered: {', '.join(missing)} (`warden schemas register` registers them)",
                      highlight=False, soft_wrap=True)
