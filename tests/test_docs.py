"""The README and docs/: short enough to read, and every link they make leads somewhere."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "reports" / "README.md",
         *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a Markdown page's headings."""
    heads = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading(page):
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve()
        lost = anchor and dest.suffix == ".md" and anchor not in _anchors(dest)
        if not dest.exists() or lost:
            broken.append(target)
    assert broken == [], f"{page.name}: links to nothing: {broken}"


def test_the_readme_is_a_first_page():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    first_screen = "\n".join(text.splitlines()[:40])
    for what in ("reports/report.html", "make report", "make test", "make reproduce",
                 "make quick-report"):
        assert what in first_screen, what
    # every notebook is in the README's table, every docs page is linked from it
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"`{nb.stem}`" in text, nb.stem
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in text, page.name
