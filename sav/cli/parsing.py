"""How a `sav` subcommand is declared: a one-line `help` (its parent's list) and a
`description` (the top of its own --help), so no command's help is empty."""

from __future__ import annotations

import argparse
from typing import Any


def add_command(sub: Any, name: str, help: str, description: str | None = None,
                **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand of `sub` (an argparse subparsers action). Without `description` its
    --help starts with `help` as a sentence. Pre-wrapped text (e.g. a list of jobs) keeps
    its lines."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=description or help[:1].upper() + help[1:] + ".",
        formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)
    return parser


def table(rows: dict[str, str], width: int = 79) -> str:
    """`rows` as an indented two-column list for a description, each text wrapped under
    itself."""
    import textwrap

    lines = []
    for name, text in rows.items():
        lines += textwrap.wrap(text, width, initial_indent=f"  {name:<12} ",
                               subsequent_indent=" " * 15)
    return "\n".join(lines) + "\n"
