"""The README's configuration table is `Settings`' declaration, rendered: this fails when a
setting is added, removed or changed in sav/config.py and the README is not regenerated."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sav.cli.config_report import (
    README_END,
    README_START,
    markdown_table,
    readme_table,
    updated_readme,
)
from sav.config import declared

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_table_is_generated_from_settings() -> None:
    assert readme_table(README.read_text()) == markdown_table(), (
        "README.md's configuration table differs from sav/config.py: run "
        "`python -m sav.cli.config_report --update README.md`")


def test_the_table_has_one_row_per_setting_with_its_secret_flag() -> None:
    lines = markdown_table().splitlines()[2:]
    rows = declared()
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows, strict=True):
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        assert cells[0] == f"`{row.variable}`"
        assert cells[2] == ("yes" if row.secret else "")
        assert cells[3].startswith(row.description.replace("|", "\\|"))


def test_a_drifted_table_is_seen_and_regenerated() -> None:
    current = markdown_table()
    changed = [dataclasses.replace(row, default="8008") if row.variable == "APP_PORT" else row
               for row in declared()]
    stale = "# Title\n\n" + README_START + "\n" + markdown_table(changed) + "\n" + README_END
    assert readme_table(stale) != current  # what the first test would report
    regenerated = updated_readme(stale + "\n\n## Next\n")
    assert readme_table(regenerated) == current
    assert regenerated.startswith("# Title\n\n") and regenerated.endswith(
        README_END + "\n\n## Next\n")
