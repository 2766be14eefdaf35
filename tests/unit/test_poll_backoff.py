"""One probe of the store's head per process wakes every tailer (issue 21): ever less
often while nothing moves, soon again after a move, never twice for a local append."""

from __future__ import annotations

from sav.workers.head import HeadWatch


def test_the_probe_backs_off_while_idle_and_wakes_every_tailer_once_per_move() -> None:
    head = {"at": 10}
    woken: list[tuple[str, int]] = []
    watch = HeadWatch(lambda: head["at"], floor=0.05, ceiling=0.4)
    watch.subscribe(lambda at: woken.append(("projector", at)))
    watch.subscribe(lambda at: woken.append(("publisher", at)))
    assert watch.step() == 0.05  # the first read: every tailer catches up
    assert woken == [("projector", 10), ("publisher", 10)]
    assert [watch.step() for _ in range(5)] == [0.1, 0.2, 0.4, 0.4, 0.4]
    head["at"] = 12  # another process appended
    assert watch.step() == 0.05
    assert woken[2:] == [("projector", 12), ("publisher", 12)]
    assert watch.step() == 0.1


def test_a_local_append_woke_its_tailers_already() -> None:
    head = {"at": 3}
    woken: list[int] = []
    watch = HeadWatch(lambda: head["at"])
    watch.subscribe(woken.append)
    watch.probe()
    head["at"] = 5
    watch.appended(5)  # this process's append: on_append woke its tailers
    assert not watch.probe()
    head["at"] = 6
    assert watch.probe()
    assert woken == [3, 6]


def test_an_empty_store_reads_as_zero_and_a_failing_read_is_retried() -> None:
    reads = iter([None, RuntimeError("gone"), 1])
    woken: list[int] = []

    def head() -> int | None:
        value = next(reads)
        if isinstance(value, Exception):
            raise value
        return value

    watch = HeadWatch(head, floor=1.0, ceiling=4.0)
    watch.subscribe(woken.append)
    assert watch.step() == 1.0
    assert watch.step() == 2.0  # failed: backs off, wakes no one
    assert watch.step() == 1.0
    assert woken == [0, 1]
