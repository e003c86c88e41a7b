"""Without chromium the browser test fails under CI and skips elsewhere (no browser needed to check that)."""

from __future__ import annotations

import pytest

from tests.browser import harness


def test_missing_chromium_fails_under_ci(monkeypatch):
    monkeypatch.setattr(harness, "chromium_path", lambda: None)
    with pytest.raises(pytest.fail.Exception, match="apt-get install"):
        harness.require_chromium({"CI": "true"})


def test_missing_chromium_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(harness, "chromium_path", lambda: None)
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed"):
        harness.require_chromium({})


def test_found_chromium_is_returned():
    assert harness.require_chromium({"CI": "true"}, path="/usr/bin/chromium") == "/usr/bin/chromium"
