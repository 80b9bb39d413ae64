"""Messages, help texts and the schema cite the manual by page and section
(``docs/<page>.md#<section>``): each cited page and section exists, so a moved
section breaks this test, not a user's search."""

from __future__ import annotations

import re

from conftest import ROOT

CITATION = re.compile(r"docs/([a-z0-9-]+\.md)(?:#([a-z0-9-]+))?")


def _anchors(page: str) -> set[str]:
    """The section anchors of a manual page, as MkDocs makes them from its headings."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    titles = re.findall(r"^#{1,6} (.+)$", re.sub(r"```.*?```", "", text, flags=re.DOTALL), re.MULTILINE)
    return {re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", t).strip().lower()) for t in titles}


def test_every_citation_of_the_manual_in_the_package_names_a_page_and_section_that_exist():
    cited = set()
    for path in sorted((ROOT / "batch_runner").rglob("*")):
        if path.suffix in (".py", ".json", ".yaml", ".j2"):
            cited |= {(path.name, *m) for m in CITATION.findall(path.read_text(encoding="utf-8"))}
    assert len(cited) >= 5  # the QA settings, the simulator knobs, overrides, captures, results columns
    missing = [(where, page, anchor) for where, page, anchor in cited
               if not (ROOT / "docs" / page).is_file() or (anchor and anchor not in _anchors(page))]
    assert not missing, f"citations of the manual that lead nowhere: {missing}"


def test_nothing_in_the_package_sends_a_user_to_the_readme_for_details():
    for path in sorted((ROOT / "batch_runner").rglob("*")):
        if path.suffix in (".py", ".json", ".yaml", ".j2"):
            assert not re.search(r"\bREADME\b", path.read_text(encoding="utf-8")), path
