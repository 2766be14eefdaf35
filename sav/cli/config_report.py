"""`sav config` and the README's configuration table, both read off `Settings`' one
declaration of each setting (sav/config.py): its variable, default, description, and
whether it is a secret. This module only renders.

`python -m sav.cli.config_report` prints the README table; `--update README.md` rewrites
it in place between its markers (tests/unit/test_readme_settings.py fails when they drift).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sav.config import Declared, Settings, declared

MASK = "****"
_URL_PASSWORD = re.compile(r"(?<=://)([^:/@]*):[^@/]*@")
README_START = ("<!-- settings table: generated from sav/config.py by "
                "`python -m sav.cli.config_report --update README.md` -->")
README_END = "<!-- end of settings table -->"


@dataclass(frozen=True)
class Row:
    variable: str
    value: str
    source: str  # "environment" or "default"


def shown(value: Any, secret: bool = False) -> str:
    """A value as text: "" when unset, secrets masked, a password inside a URL masked."""
    if value is None or value == "" or value == ():
        return ""
    if secret:
        return MASK
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return _URL_PASSWORD.sub(rf"\1:{MASK}@", text) if "://" in text else text


def effective(settings: Settings, environ: Mapping[str, str]) -> list[Row]:
    """Every setting's effective value and where it came from, by variable."""
    rows = [Row(row.variable, shown(getattr(settings, row.name), row.secret),
                "environment" if row.variable in environ else "default")
            for row in declared()]
    return sorted(rows, key=lambda row: row.variable)


def render(settings: Settings, environ: Mapping[str, str]) -> str:
    rows = effective(settings, environ)
    width = max(len(row.variable) for row in rows)
    values = max(len(row.value) for row in rows)
    lines = [f"{row.variable:<{width}}  {row.value or '(empty)':<{values}}  {row.source}"
             for row in rows]
    if settings.auth_mode == "jwt" and not settings.auth_jwt_secret:
        secret = (Path(settings.data_dir) / "jwt_secret").resolve()
        state = "exists" if secret.exists() else "created on first use"
        lines.append(f"# AUTH_JWT_SECRET is unset: tokens are signed with {secret} ({state}); "
                     "every `sav` command must see the same SAV_DATA_DIR")
    return "\n".join(lines)


def _meaning(row: Declared) -> str:
    text = row.description
    for refuse in row.refusals:
        text += f"; `APP_ENV=production`: {refuse.must}"
    return text.replace("|", "\\|")


def markdown_table(rows: Sequence[Declared] | None = None) -> str:
    """The README's configuration table: one row per setting, in declaration order."""
    lines = ["| variable | default | secret | meaning |", "|---|---|---|---|"]
    for row in declared() if rows is None else rows:
        default = shown(row.default)
        lines.append(f"| `{row.variable}` | {f'`{default}`' if default else 'unset'} | "
                     f"{'yes' if row.secret else ''} | {_meaning(row)} |")
    return "\n".join(lines)


def readme_table(readme: str) -> str:
    """The generated table as it stands in `readme`, between the markers."""
    start, end = readme.index(README_START), readme.index(README_END)
    return readme[start + len(README_START):end].strip("\n")


def updated_readme(readme: str) -> str:
    start, end = readme.index(README_START), readme.index(README_END)
    return (readme[:start + len(README_START)] + "\n" + markdown_table() + "\n"
            + readme[end:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sav.cli.config_report",
        description="Print the README's configuration table, generated from sav/config.py.")
    parser.add_argument("--update", metavar="README",
                        help="rewrite the table in this file, between its markers")
    args = parser.parse_args(argv)
    if args.update:
        path = Path(args.update)
        path.write_text(updated_readme(path.read_text()))
    else:
        sys.stdout.write(markdown_table() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
