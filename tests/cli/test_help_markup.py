"""Help text with TOML table names: rich markup must not eat `[rollout]` (it reads it as a style tag)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from warden.cli.main import app


@pytest.mark.parametrize(("command", "shown"), [
    (["rollout", "start", "--help"], ["[rollout]", "[rollout.gates]"]),
    (["replay", "--help"], ["[rollout]"]),
])
def test_help_shows_toml_table_names(command: list[str], shown: list[str]) -> None:
    # wide and plain, so a name is never wrapped or styled apart
    result = CliRunner().invoke(app, command, env={"COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    for name in shown:
        assert name in result.output, f"{' '.join(command)}: {name!r} missing from the help text"
