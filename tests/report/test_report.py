"""`warden report` over the demo's ledger, opened in headless Chromium (Debian's chromium package)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.dashboards.helpers import NOT_IN_DEMO
from tests.demo_stack import DemoLedger
from tests.report.browser import Browser
from warden.dashboards.model import load_all
from warden.stack import warden_command

pytestmark = pytest.mark.integration
PANEL_COUNT = sum(len(b.panels) for b in load_all())
PANELS_JS = """Array.from(document.querySelectorAll('figure.panel')).map(p => ({
    title: p.dataset.panel, rows: Number(p.dataset.rows), marks: p.querySelectorAll('.mark').length,
    visible: p.getBoundingClientRect().height > 0}))"""


def report(demo: DemoLedger, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*warden_command(), "report", "--out", str(out), *extra], env=demo.env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def report_file(demo_ledger: DemoLedger, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    done = report(demo_ledger, out)
    assert done.returncode == 0, done.stderr
    assert str(out.resolve()) in "".join(done.stdout.split())
    return out


def test_demo_says_where_its_report_is(demo_ledger: DemoLedger) -> None:
    said = re.search(r"Report \((\d+) of (\d+) dashboard panels with data\): (\S+report\.html)",
                     " ".join("".join(demo_ledger.output).split()))
    assert said, "".join(demo_ledger.output)[-2000:]
    assert int(said.group(2)) == PANEL_COUNT
    assert Path(said.group(3)) == (demo_ledger.settings.data_dir / "report.html").resolve()
    assert Path(said.group(3)).stat().st_size > 0


def test_report_is_one_self_contained_file(report_file: Path) -> None:
    html = report_file.read_text()
    assert html.count('<figure class="panel') == PANEL_COUNT
    assert not re.search(r"""<(script|link|img|iframe)[^>]+(src|href)=""", html, re.I)
    assert not re.search(r"url\(|@import", html)
    assert "<svg" in html


def test_report_loads_in_chromium_without_errors_and_every_chart_has_data(report_file: Path,
                                                                         tmp_path: Path) -> None:
    with Browser() as browser:
        browser.open(report_file.resolve().as_uri())
        panels = browser.evaluate(PANELS_JS)
        judged = browser.evaluate("Array.from(document.querySelectorAll('.stat[data-colour]')).map(s => "
                                  "[s.dataset.colour, s.parentElement.querySelector('.target-text') !== null])")
        errors = browser.console_errors()
        requested = browser.requested_urls()
        shot = browser.screenshot(tmp_path / "report.png")
    assert errors == []
    assert requested == [report_file.resolve().as_uri()]  # nothing else: no CDN, no network
    assert len(panels) == PANEL_COUNT
    assert all(p["visible"] for p in panels)
    assert [p["title"] for p in panels if (p["rows"] == 0 or p["marks"] == 0) and p["title"] not in NOT_IN_DEMO] == []
    coloured = [c for c, _ in judged if c != "none"]
    assert len(coloured) >= 5 and set(coloured) <= {"green", "amber", "red"}, judged
    assert all(has_target for c, has_target in judged if c != "none")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_names_a_bad_time_range(demo_ledger: DemoLedger, tmp_path: Path) -> None:
    done = report(demo_ledger, tmp_path / "r.html", "--from", "2026-13-40")
    assert done.returncode == 1
    assert "expected an ISO-8601 time" in done.stderr and "2026-13-40" in done.stderr
    done = report(demo_ledger, tmp_path / "r.html", "--from", "2026-11-02T10:00:00Z", "--to", "2026-11-02T09:00:00Z")
    assert done.returncode == 1 and "before it starts" in done.stderr


def test_report_for_one_tenant_says_so_and_narrows_the_runs(demo_ledger: DemoLedger, report_file: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "acme.html"
    done = report(demo_ledger, out, "--tenant", "acme")
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    assert "tenant: acme, workflow: All (4)" in html

    def rows(page: str, title: str) -> int:
        found = re.search(rf'data-panel="{title}" data-type="\w+" data-rows="(\d+)"', page)
        assert found, title
        return int(found.group(1))

    assert 0 < rows(html, "Policy decisions") < rows(report_file.read_text(), "Policy decisions")
