"""The README runs as written: every fenced ```sh / ```bash block, in order, in one bash
session (`set -euo pipefail`), on a fresh copy of the repository, against the `sav serve`
that the README's own "First steps" block starts in the background; both profiles.

How it differs from a newcomer's terminal, and why:
- A block right after the line `<!-- readme-test: skip -->` is left out: the foreground
  server, the whole test suite, docker, kubectl, a cluster, minutes of benchmark, a wait for
  events that never come. Everything else must run.
- The setup (`python3 -m venv .venv && pip install -e .`, a skipped block) is replaced by a
  `.venv` symlink to the virtualenv running this test, whose `bin/` is also first on PATH:
  installing takes minutes and would re-point that virtualenv at the copy.
- `localhost:8007` / `127.0.0.1:8007` in the blocks become a free port, exported as
  `APP_PORT` for the server: another `sav serve` on this machine may hold 8007.
- The environment has no `SAV_*`, `DB_*`, `AUTH_*`, `APP_*`, `RABBITMQ_*`, `MINIO_*`,
  `REDIS_*` variable (the embedded default, as on a fresh machine); the MySQL run sets
  `DB_CONNECTION=mysql` and a database of its own.
The session's process group is killed at the end, with the server the README started.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.live_server import free_port
from tests.support.settings import PROFILES, drop_mysql_database, make_settings

ROOT = Path(__file__).resolve().parents[2]
SKIP = "<!-- readme-test: skip -->"
FENCE = re.compile(r"^```(sh|bash)\s*$")
CLEARED = ("SAV_", "DB_", "AUTH_", "APP_", "RABBITMQ_", "MINIO_", "REDIS_")
TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    code: str
    skipped: bool


def shell_blocks(markdown: str) -> list[Block]:
    """The ```sh and ```bash blocks of `markdown`, in order."""
    lines = markdown.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            skipped = i > 0 and lines[i - 1].strip() == SKIP
            blocks.append(Block(i + 1, "\n".join(lines[i + 1:end]), skipped))
            i = end
        i += 1
    return blocks


def test_blocks_are_found_in_order_and_a_skip_line_leaves_one_out() -> None:
    markdown = "\n".join([
        "# t", "```bash", "echo one", "```", "<!-- readme-test: skip -->", "```sh",
        "docker compose up", "```", "```json", "{}", "```", SKIP, "", "```bash", "echo two",
        "```", "```python", "print()", "```"])
    assert shell_blocks(markdown) == [Block(2, "echo one", False),
                                      Block(6, "docker compose up", True),
                                      Block(14, "echo two", False)]


def session_script(blocks: list[Block], port: int) -> str:
    """One bash script: each block announced (so a failure names it), then run."""
    parts = ["set -euo pipefail"]
    for block in blocks:
        if block.skipped:
            continue
        code = re.sub(r"\b(localhost|127\.0\.0\.1):8007\b", rf"\1:{port}", block.code)
        parts += [f"echo '::readme-block line {block.line}'", code]
    parts.append("echo '::readme-done'")
    return "\n".join(parts) + "\n"


def fresh_copy(target: Path) -> Path:
    """The repository's files (tracked, and new ones not ignored): what a clone of the
    working tree holds."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(Path(sys.prefix))
    return target


def session_env(port: int, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
    env.update(APP_PORT=str(port), PATH=f"{Path(sys.prefix) / 'bin'}:{env.get('PATH', '')}",
               **extra)
    return env


def run_session(clone: Path, script: str, env: dict[str, str]) -> tuple[int, str]:
    path = clone.parent / "readme-session.sh"  # beside the clone: not one of its files
    path.write_text(script)
    process = subprocess.Popen(["bash", str(path)], cwd=clone, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return -1, output.decode(errors="replace") + "\n(timed out)"
    finally:
        # The README's own background server is in the session's process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    return process.returncode, output.decode(errors="replace")


def left_in_git_status(clone: Path, copied: set[str]) -> list[str]:
    """The files the walk-through created that `git status` would show in a newcomer's
    clone: new and not covered by `.gitignore` (the `.venv` stand-in aside)."""
    subprocess.run(["git", "init", "-q"], cwd=clone, check=True)
    listed = subprocess.run(["git", "ls-files", "-z", "--others", "--exclude-standard"],
                            cwd=clone, capture_output=True, check=True).stdout.decode()
    return sorted(name for name in listed.split("\0")
                  if name and name not in copied and name != ".venv")


def failure_report(output: str, blocks: list[Block], clone: Path) -> str:
    started = re.findall(r"::readme-block line (\d+)", output)
    where = int(started[-1]) if started else 0
    block = next((b for b in blocks if b.line == where), None)
    log = clone / "sav.log"
    server = log.read_text(errors="replace")[-3000:] if log.exists() else "(no sav.log)"
    return (f"README block at line {where} failed:\n{block.code if block else '?'}\n\n"
            f"--- output (end) ---\n{output[-4000:]}\n--- sav.log (end) ---\n{server}")


@pytest.mark.parametrize("profile", PROFILES)
def test_every_readme_shell_block_runs_as_written(profile: str, tmp_path: Path,
                                                  request: pytest.FixtureRequest) -> None:
    extra: dict[str, str] = {}
    database = None
    if profile == "mysql":
        request.getfixturevalue("mysql_allows_large_events")
        mysql = make_settings("mysql", tmp_path / "unused")
        database = mysql.db_database
        extra = {"DB_CONNECTION": "mysql", "DB_HOST": mysql.db_host,
                 "DB_PORT": str(mysql.db_port), "DB_USERNAME": mysql.db_username,
                 "DB_PASSWORD": mysql.db_password, "DB_DATABASE": database}
    blocks = shell_blocks((ROOT / "README.md").read_text())
    assert sum(not b.skipped for b in blocks) >= 8
    clone = fresh_copy(tmp_path / "clone")
    copied = {str(p.relative_to(clone)) for p in clone.rglob("*") if p.is_file()}
    port = free_port()
    try:
        code, output = run_session(clone, session_script(blocks, port), session_env(port, extra))
    finally:
        if database is not None:
            drop_mysql_database(database)
    assert code == 0 and "::readme-done" in output, failure_report(output, blocks, clone)
    # A few answers are what the README says they are.
    assert re.search(r"^TICKET-\d{8}-001$", output, re.MULTILINE), output[-3000:]
    for answer in ('"status":"assigned"', '"status":"resolved"', '"status":"closed"',
                   '"mime_type":"application/pdf"', '"type":"ticket.created"',
                   '"satisfaction_rating":5'):
        assert answer in output, answer
    assert "same file" in output and "SAV ticket service" in output
    assert left_in_git_status(clone, copied) == [], "add these to .gitignore"
    statuses = re.findall(r"^(\d{3})$", output, re.MULTILINE)
    assert statuses[:2] == ["201", "200"], statuses  # the ticket created, /docs served
