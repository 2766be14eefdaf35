"""The repository runs on any machine: no file names a path that exists on one only."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Spelled in pieces so this file does not match itself.
MACHINE_PATH = re.compile("(?<![\\w.])/(" + "|".join(["wo" + "rk", "o" + "pt", "ho" + "me"])
                          + ")/")


def repository_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    return [REPO / name for name in listed if (REPO / name).is_file()]


def test_no_file_names_a_machine_specific_path() -> None:
    found = []
    for path in repository_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue  # binary
        found += [f"{path.relative_to(REPO)}:{n}" for n, line in
                  enumerate(text.splitlines(), 1) if MACHINE_PATH.search(line)]
    assert found == []
