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



HOLD = """
import sys, time
from warden.ledger.client import Ledger
ledger = Ledger(sys.argv[1], database="warden")
ledger.command("CREATE DATABASE IF NOT EXISTS warden")
print("holding", flush=True)
time.sleep(120)
"""

OPEN = """
import json, sys
from warden.core.errors import LedgerError
from warden.ledger.client import Ledger
try:
    Ledger(sys.argv[1], database="warden", settings=json.loads(sys.argv[2])).close()
except LedgerError as exc:
    print(exc)
    sys.exit(1)
"""


def test_a_held_embedded_ledger_cannot_be_opened_by_another_process_even_read_only(tmp_path: Path) -> None:
    """Why `warden ledger verify` needs the stack stopped (README "After make demo"): chDB locks its directory,
    so a second process cannot open it at all, whatever it means to do there. (Each side is a process of its
    own: chDB is one engine per process, so this test's own process proves nothing.)"""
    url = f"chdb://{(tmp_path / 'ledger').resolve()}"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        for settings in ({}, {"readonly": 1}):
            opened = subprocess.run([sys.executable, "-c", OPEN, url, json.dumps(settings)], capture_output=True,
                                    text=True, timeout=120)
            assert opened.returncode == 1, opened.stdout + opened.stderr
            assert f"cannot open the ledger at {url}" in opened.stdout
    finally:
        holder.kill()
        holder.wait(30)
    after = subprocess.run([sys.executable, "-c", OPEN, url, "{}"], capture_output=True, text=True, timeout=120)
    assert after.returncode == 0, after.stdout + after.stderr  # once it is let go, anyone may open it
