"""The README is a front page whose layout matches the tree, and every link in it and in docs/ resolves."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.MULTILINE)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_resolve(page):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in anchors(file)):
            broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"


def test_readme_layout_matches_the_tree():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```")[1]
    listed = {line.split()[0].rstrip("/") for line in block.strip().splitlines() if line.strip()}
    for entry in listed:
        assert (ROOT / entry).is_dir(), f"README layout lists {entry}/, which is not in the tree"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    folders = {line.split("/")[0] for line in tracked.splitlines() if "/" in line and not line.startswith(".")}
    packages = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "segnet").glob("*/__init__.py")}
    missing = (folders | {p for p in packages if p in {"segnet/nvidia", "segnet/cli"}}) - listed
    assert not missing, f"README layout does not list {sorted(missing)}"


def test_readme_is_a_front_page():
    assert len((ROOT / "README.md").read_text(encoding="utf-8")) < 12_000  # five minutes; the rest is in docs/
