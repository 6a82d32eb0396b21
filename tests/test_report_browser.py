"""The HTML report in a real browser: headless Chromium (Debian's `chromium` package) loads the
page, closed counterexamples stay hidden until opened, and the text shown is the Markdown
report's.

Opt-in: skipped unless Chromium is installed (`apt-get install chromium`, or set
CEDAR_SMT_CHROMIUM to a Chromium binary).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cedar_smt.analyzer.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
CANDIDATES = (os.environ.get("CEDAR_SMT_CHROMIUM", ""), "chromium", "chromium-browser")
CHROMIUM = next((p for p in map(shutil.which, CANDIDATES) if p), None)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="opt-in browser test: Chromium is not installed (apt-get install chromium, or set "
    "CEDAR_SMT_CHROMIUM)",
)

# appended to a copy of the page: what the browser shows with the details closed, then open
PROBE = """<script>
const details = document.querySelectorAll("details");
const closed = document.body.innerText;
details.forEach(d => { d.open = true; });
const opened = document.body.innerText;
const out = document.createElement("pre");
out.id = "probe";
out.textContent = JSON.stringify({
  closed, opened, details: details.length, sheets: document.styleSheets.length,
  images: document.images.length, scripts: document.scripts.length,
});
document.body.appendChild(out);
</script>"""


def in_browser(page: Path) -> dict[str, Any]:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"Chromium did not run the page: {done.stderr[-2000:]}"
    return dict(json.loads(html.unescape(found.group(1))))


def test_the_html_report_in_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("old.cedar", "new.cedar"):
        shutil.copy(FIXTURES / "review" / name, tmp_path / name)
    shutil.copy(FIXTURES / "schema.cedarschema", tmp_path / "schema.cedarschema")
    monkeypatch.chdir(tmp_path)
    args = ["compare", "old.cedar", "new.cedar", "--schema", "schema.cedarschema"]
    page = CliRunner().invoke(main, [*args, "--format", "html"]).stdout
    markdown = CliRunner().invoke(main, [*args, "--format", "markdown"]).stdout
    probed = tmp_path / "report.html"
    probed.write_text(page.replace("</body>", PROBE + "</body>"))
    shown = in_browser(probed)
    assert shown["details"] == markdown.count("<details>") == 3
    assert (shown["sheets"], shown["images"], shown["scripts"]) == (1, 0, 1)  # 1: the probe
    assert "INCOMPARABLE: each of new.cedar and old.cedar allows" in shown["closed"]
    assert "OLD allows it, NEW denies it" in shown["closed"]  # a summary line
    assert "request:" not in shown["closed"]  # counterexamples collapsed
    assert shown["opened"].count("request:") == 3
    words = re.sub(r"<[^>]+>|[`*#|]", " ", markdown).split()
    words = [w for w in words if not re.fullmatch(r"-+|(---\|)+|text", w)]
    missing = [w for w in words if w not in shown["opened"]]
    assert missing == []
