"""The HTML report opened in Chromium as a user would open the file: the forest plot places each
finding where its effect says, the responses behind the flag are there, nothing is fetched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.reports.plots import safe_id
from tests.browser.conftest import SHOTS, only_loopback
from tests.unit.test_reports import simulated_report


@pytest.mark.slow
def test_the_report_file_draws_the_reports_data(tmp_path: Path, browser: object) -> None:
    report = simulated_report()
    source = tmp_path / "report.json"
    source.write_text(json.dumps(report))
    out = tmp_path / "report.html"
    made = subprocess.run([sys.executable, "-m", "app.cli", "report", str(source), "--html", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    weight = out.stat().st_size

    page = browser.new_page(viewport={"width": 1200, "height": 1400})  # type: ignore[attr-defined]
    remote, errors = only_loopback(page, allow_file=str(out))
    page.goto(out.as_uri())
    page.wait_for_selector("#forest svg")
    estimable = [f for f in report["findings"] if f["effect"] is not None]
    centre = {}
    for f in estimable:
        mark = page.locator(f'[id="{safe_id("effect", f["feature"], f["level"], f["behaviour"])}"] use')
        box = mark.first.bounding_box()
        assert box is not None, f
        centre[(f["feature"], f["level"], f["behaviour"])] = box["x"] + box["width"] / 2
    # x grows with the effect: the marks are where the report's numbers put them
    by_effect = sorted(estimable, key=lambda f: f["effect"])
    xs = [centre[(f["feature"], f["level"], f["behaviour"])] for f in by_effect]
    assert xs == sorted(xs) and xs[-1] - xs[0] > 100
    [flag] = [f for f in report["findings"] if f["flagged"]]
    assert max(centre, key=lambda k: centre[k]) == (flag["feature"], flag["level"], flag["behaviour"])
    pair = page.locator(f'[id="{safe_id("pair", flag["feature"], flag["level"], flag["behaviour"])}"]')
    assert pair.locator(".sample").count() == 2 and "<script>alert(" in pair.inner_text()
    assert page.locator("#heatmap svg").count() == 1 and page.locator("#salience svg").count() == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "audit-report.png"), full_page=True)
    assert remote == [] and errors == [], (remote, errors)
    assert weight < 400_000  # one file, inline SVG: small enough to mail
    page.close()
