"""warden.stack: what `warden up` refuses before it starts anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.core.errors import ConfigError
from warden.core.settings import WardenSettings
from warden.stack import Stack


def test_a_shared_group_id_is_refused_before_anything_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every child read WARDEN_GROUP_ID: one group for all services, and the trimmer deleted what it had not read."""
    monkeypatch.setenv("WARDEN_GROUP_ID", "mine")
    stack = Stack(WardenSettings(data_dir=tmp_path / "w", kafka_bootstrap_servers="127.0.0.1:1"))
    with pytest.raises(ConfigError, match="WARDEN_GROUP_ID='mine' would put every service"):
        stack.start(ready_timeout_s=5)
    assert not stack.children and stack.broker is None and not (tmp_path / "w").exists()
