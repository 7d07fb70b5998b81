"""docs/reliability.md keeps up with the fault matrix: every case the tests run has its row there."""

from __future__ import annotations

from pipeline.config import PROJECT_DIR
from tests.reliability.test_alert_faults import FAULTS
from tests.reliability.test_feed_faults import CASES

DOC = PROJECT_DIR / "docs" / "reliability.md"


def test_every_case_has_a_row() -> None:
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| `")]
    documented = {line.split("`")[1] for line in rows}
    missing = ({c.id for c in CASES} | set(FAULTS)) - documented
    assert not missing, f"cases without a row in {DOC}: {sorted(missing)}"
