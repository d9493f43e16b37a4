"""`warden ledger verify` on a ledger an older Warden wrote: its schema is brought up to date
(additive migrations only, as the sink's next start would) and the chains still verify."""

from __future__ import annotations

import getpass
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_up import clean_env
from warden.ledger.migrations import MIGRATIONS_DIR
from warden.stack import warden_command

pytestmark = pytest.mark.integration

OLD_LEDGER = """
import sys
from pathlib import Path
from warden.ledger import migrations
from warden.ledger.client import Ledger
migrations.apply_retention = lambda *args: None  # an older version knew only its own tables' TTLs
ledger = Ledger(sys.argv[1], database="warden")
migrations.migrate(ledger, {"*": 7}, Path(sys.argv[2]))
"""


def test_verify_upgrades_a_ledger_written_by_an_older_version(tmp_path: Path) -> None:
    old = tmp_path / "old-migrations"
    old.mkdir()
    for name in ("0001_ledger.sql", "0002_policy_and_control.sql"):
        shutil.copy(MIGRATIONS_DIR / name, old / name)
    data = tmp_path / "w"
    subprocess.run([sys.executable, "-c", OLD_LEDGER, f"chdb://{(data / 'ledger').resolve()}", str(old)],
                   check=True, timeout=120)
    env = clean_env(WARDEN_DATA_DIR=str(data), WARDEN_QUERY_PORT="0")
    verified = subprocess.run([*warden_command(), "ledger", "verify"], env=env, capture_output=True, text=True,
                              timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    newer = sorted(int(p.name[:4]) for p in MIGRATIONS_DIR.glob("*.sql") if int(p.name[:4]) > 2)
    assert f"migrations {', '.join(map(str, newer))}" in verified.stdout
    assert "intact" in verified.stdout
    kept = subprocess.run([*warden_command(), "query", "-f", "json", "SELECT ok, problems, actor FROM "
                           "warden.ledger_verifications"], env=env, capture_output=True, text=True, timeout=120)
    assert kept.returncode == 0, kept.stderr
    assert [json.loads(line) for line in kept.stdout.splitlines()] == [
        {"ok": True, "problems": 0, "actor": getpass.getuser()}]  # the dashboards' "Ledger verification"
