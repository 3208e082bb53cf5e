"""README's first screen shows the two commands and a page table that matches the app's catalogue."""

import re

from cnn_demo.ui.catalog import markdown_table
from tests.conftest import ROOT


def test_readme_commands_first():
    head = (ROOT / "README.md").read_text().splitlines()[:15]
    text = "\n".join(head)
    assert "make run" in text and "make test" in text


def test_readme_page_table_matches_catalog():
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- pages:start -->\n(.*?)\n<!-- pages:end -->", readme, re.S)
    assert table, "README.md lacks the pages table markers"
    assert table.group(1).strip() == markdown_table(), (
        "README's page table is stale; regenerate it with: "
        ".venv/bin/python -c 'from cnn_demo.ui.catalog import markdown_table; print(markdown_table())'"
    )


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
