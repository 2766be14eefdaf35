"""The `sav` command line for operators (issue 20): a description in every command's own
--help and what each job and worker does, the exit codes in `sav --help`, an unusable
data folder named in one line (exit 3), a new master key read from a file or stdin (never
the command line), progress bars drawn only on a terminal. The startup errors against real
servers are in tests/e2e/test_startup_errors.py."""

from __future__ import annotations

import argparse
import fcntl
import io
import os
import pty
import re
import select
import struct
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

from sav.cli.main import EXIT_CODES, JOBS, WORKER_KINDS, build_parser, main
from sav.cli.progress import progress
from tests.support.live_server import free_port


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test sets: no SAV/DB/... variable of the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(("SAV_", "DB_", "APP_", "AUTH_", "MINIO_", "RABBITMQ_", "REDIS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SAV_DATA_DIR", str(tmp_path / "data"))


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_lines(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
                  ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command's words and parser: (), ("serve",), ("db", "upgrade"), ..."""
    yield path, parser
    for name, child in subcommands(parser).items():
        yield from command_lines(child, (*path, name))


def help_of(words: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        main([*words, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_every_command_describes_itself_and_every_option(
        capsys: pytest.CaptureFixture[str]) -> None:
    """`sav serve --help` (and every other) says what the command does after its usage
    line; its parent lists it with a one-line help; every option and argument has help."""
    walked = dict(command_lines(build_parser()))
    assert {("serve",), ("config",), ("replay",), ("db", "upgrade"), ("db", "current"),
            ("events", "export"), ("events", "import"), ("token",), ("worker",),
            ("jobs", "run"), ("privacy", "rotate-master-key")} <= set(walked)
    for words, parser in walked.items():
        assert parser.description and len(parser.description) > 20, words
        text = help_of(words, capsys)
        first_line = parser.description.splitlines()[0]
        assert text.split("\n\n")[1].startswith(first_line), (words, text[:300])
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                unlisted = [choice.dest for choice in action._choices_actions
                            if not choice.help]
                assert unlisted == [], words
            else:
                assert action.help, (words, action.dest)


def test_jobs_run_and_worker_help_say_what_each_one_does(
        capsys: pytest.CaptureFixture[str]) -> None:
    from sav.workers import scheduler

    assert set(JOBS) == set(scheduler.JOBS)
    jobs = help_of(("jobs", "run"), capsys)
    for name in scheduler.JOBS:
        assert re.search(rf"^  {re.escape(name)} +\S.{{20,}}$", jobs, re.M), (
            f"`sav jobs run --help` does not say what {name} does")
    workers = help_of(("worker",), capsys)
    for kind in WORKER_KINDS:
        assert re.search(rf"^  {re.escape(kind)} +\S.{{20,}}$", workers, re.M), kind


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of((), capsys)
    assert EXIT_CODES in text
    codes = dict(re.findall(r"^  (\d+) +(.+)$", text, re.M))
    assert set(codes) == {"0", "1", "2", "3", "75", "130"}
    assert "database" in codes["3"] and "configuration" in codes["2"]


def test_an_unusable_data_dir_is_one_line_and_exit_3(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The embedded default's database lives in SAV_DATA_DIR: a path that cannot hold it
    is named, with the system's reason, before anything starts."""
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    monkeypatch.setenv("SAV_DATA_DIR", str(not_a_dir / "data"))
    assert main(["db", "current"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"SAV_DATA_DIR={not_a_dir / 'data'}" in err, err


def test_rotate_master_key_reads_the_new_key_from_a_file_or_stdin(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Never on the command line (`ps` and the shell history show arguments)."""
    stored = tmp_path / "data" / "master_key"
    assert main(["db", "upgrade"]) == 0
    assert main(["events", "export"]) == 0  # creates the key store and its master key
    capsys.readouterr()
    assert main(["privacy", "new-master-key"]) == 0
    first = capsys.readouterr().out.strip()
    key_file = tmp_path / "new.key"
    key_file.write_text(first + "\n")
    assert main(["privacy", "rotate-master-key", "--new-key-file", str(key_file)]) == 0
    assert stored.read_text() == first
    assert first not in capsys.readouterr().out

    assert main(["privacy", "new-master-key"]) == 0
    second = capsys.readouterr().out.strip()
    monkeypatch.setattr("sys.stdin", io.StringIO(second + "\n"))
    assert main(["privacy", "rotate-master-key", "--new-key-file", "-"]) == 0
    assert stored.read_text() == second
    assert main(["events", "export"]) == 0  # the rotated key opens the store


def test_rotate_master_key_refuses_a_key_argument_and_a_bad_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["privacy", "rotate-master-key", "--new-key", "c2VjcmV0"])
    assert done.value.code == 2
    refused = capsys.readouterr().err
    assert "--new-key-file" in refused and "c2VjcmV0" not in refused
    missing = tmp_path / "no-such.key"
    assert main(["privacy", "rotate-master-key", "--new-key-file", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
    bad = tmp_path / "bad.key"
    bad.write_text("not-a-key")
    assert main(["privacy", "rotate-master-key", "--new-key-file", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "base64" in err and "not-a-key" not in err


def test_progress_bars_draw_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    piped = io.StringIO()
    monkeypatch.setattr("sys.stderr", piped)
    with progress(10, "replay") as bar:
        bar.update(10)
    assert piped.getvalue() == ""  # no raw \r in a log file
    leader, follower = pty.openpty()
    # A terminal of 24 rows and 80 columns (a new pty has 0: tqdm would draw nothing).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        with os.fdopen(follower, "w", closefd=False) as terminal:
            monkeypatch.setattr("sys.stderr", terminal)
            with progress(10, "replay") as bar:
                bar.update(10)
        drawn = b""
        while select.select([leader], [], [], 0.5)[0]:
            drawn += os.read(leader, 4096)
    finally:
        os.close(leader)
        os.close(follower)
    assert b"replay: 100%" in drawn and b"events/s" in drawn


def test_a_connection_error_met_after_the_checks_is_one_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The database went away between the check and the command: the driver's error,
    however wrapped (by SQLAlchemy; then, `from None`, by a caller's own exception)
    becomes the same one line; any other error keeps its traceback."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.pool import NullPool

    from sav.cli.startup import describe_failure
    from sav.config import load_settings

    port = free_port()  # nothing listens there: a real refused connection
    settings = load_settings({"DB_CONNECTION": "mysql", "DB_HOST": "127.0.0.1",
                              "DB_PORT": str(port), "DB_PASSWORD": "pw-not-shown"})
    engine = create_engine(f"mysql+pymysql://root:pw-not-shown@127.0.0.1:{port}/x",
                           poolclass=NullPool)
    with pytest.raises(OperationalError) as refused:
        engine.connect()
    with pytest.raises(RuntimeError) as wrapped:
        try:
            engine.connect()
        except OperationalError:
            raise RuntimeError("the store is unavailable") from None
    for error in (refused.value, wrapped.value):
        line = describe_failure(settings, error)
        assert line is not None and "\n" not in line
        assert f"tried root@127.0.0.1:{port}" in line and "DB_PORT" in line
        assert "pw-not-shown" not in line
    assert describe_failure(settings, ValueError("a bug")) is None
