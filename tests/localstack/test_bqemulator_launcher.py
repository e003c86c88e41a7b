"""The bqemulator launcher skips automatic time-travel copies only when time travel is off.

Runs in .venv-emulators (where bqemulator is installed), as the stack does.
"""

from __future__ import annotations

import subprocess
import textwrap

import pytest

from include.gcp.settings import PROJECT_ROOT

EMULATOR_PYTHON = PROJECT_ROOT / ".venv-emulators" / "bin" / "python"
PROBE = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, "include/localstack")
    import bqemulator_launcher
    from bqemulator.versioning.snapshots import SnapshotManager

    class Catalog:  # records whether the original capture ran (it looks the table up first)
        calls = []
        def get_table(self, *ref):
            self.calls.append(ref)
            return None

    bqemulator_launcher.patch()
    for retention, kind in ((0, "AUTO"), (0, "USER"), (7, "AUTO")):
        m = SnapshotManager.__new__(SnapshotManager)
        m._retention_days, m._catalog = retention, Catalog()
        before = len(Catalog.calls)
        m.capture("p", "d", "t", kind=kind)
        print(retention, kind, "copied" if len(Catalog.calls) > before else "skipped")
    """
)


@pytest.mark.skipif(not EMULATOR_PYTHON.exists(), reason="make install builds .venv-emulators")
def test_only_automatic_snapshots_at_retention_zero_are_skipped() -> None:
    out = subprocess.run(
        [str(EMULATOR_PYTHON), "-c", PROBE], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:3] == ["0 AUTO skipped", "0 USER copied", "7 AUTO copied"]
