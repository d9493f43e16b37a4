"""A bundle that does not parse or validate is refused with a clear error; the last good one stays."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from warden.policy.bundle import DEFAULT_POLICIES, BundleWatcher, PolicyBundleError, load_bundle


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(DEFAULT_POLICIES, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))
    stamp = path.stat().st_mtime_ns + 10_000_000
    os.utime(path, ns=(stamp, stamp))


def test_the_version_is_the_content_hash(bundle_dir: Path) -> None:
    first = load_bundle(bundle_dir).version
    assert load_bundle(bundle_dir).version == first
    edit(bundle_dir / "reference.cedar", '"100.0"', '"150.0"')
    assert load_bundle(bundle_dir).version != first


def test_a_typo_in_an_attribute_fails_validation_naming_the_policy(bundle_dir: Path) -> None:
    edit(bundle_dir / "reference.cedar", "params.amount_usd.greaterThan", "params.amount_us.greaterThan")
    with pytest.raises(PolicyBundleError, match=r"refund-over-100.*amount_us"):
        load_bundle(bundle_dir)


def test_a_typo_in_an_action_fails_validation(bundle_dir: Path) -> None:
    edit(bundle_dir / "reference.cedar", 'Action::"crm.delete_record"', 'Action::"crm.delete_recrod"')
    with pytest.raises(PolicyBundleError, match="do not validate"):
        load_bundle(bundle_dir)


def test_syntax_errors_and_missing_ids_are_refused(bundle_dir: Path) -> None:
    (bundle_dir / "broken.cedar").write_text("permit (principal, action, resource")
    with pytest.raises(PolicyBundleError, match="do not parse"):
        load_bundle(bundle_dir)
    (bundle_dir / "broken.cedar").write_text("permit (principal, action, resource);")
    with pytest.raises(PolicyBundleError, match="no @id"):
        load_bundle(bundle_dir)


def test_outcome_annotations_are_checked(bundle_dir: Path) -> None:
    (bundle_dir / "odd.cedar").write_text(
        '@id("odd")\n@outcome("require_approval")\npermit (principal, action, resource);')
    with pytest.raises(PolicyBundleError, match="use @outcome"):
        load_bundle(bundle_dir)


def test_the_watcher_reloads_good_changes_and_keeps_the_last_good_bundle(bundle_dir: Path) -> None:
    watcher = BundleWatcher(bundle_dir)
    good = watcher.bundle.version
    edit(bundle_dir / "reference.cedar", "greaterThan", "greaterThann")
    assert watcher.check() is False
    assert watcher.bundle.version == good
    assert watcher.last_error and "do not" in watcher.last_error
    edit(bundle_dir / "reference.cedar", "greaterThann", "greaterThan")
    edit(bundle_dir / "reference.cedar", '"1000.0"', '"2000.0"')
    assert watcher.check() is True
    assert watcher.bundle.version != good and watcher.last_error is None
