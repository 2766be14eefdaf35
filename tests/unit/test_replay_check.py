"""`sav replay --check` matches rows by key, whatever order the two sides stream them in."""

from __future__ import annotations

from sav.replay.compare import Difference, Source, differences

SOURCE = Source("t", ("id", "name", "n"), ("id",), query=None)  # type: ignore[arg-type]


def test_equal_sides_differ_nowhere_even_out_of_step() -> None:
    live = [(1, "a", 1), (2, "b", 2), (3, "c", 3)]
    assert differences(SOURCE, live, [live[2], live[0], live[1]]) == []


def test_a_changed_column_a_missing_row_and_an_extra_row_are_each_reported() -> None:
    live = [(1, "a", 1), (2, "tampered", 2), (4, "extra", 4)]
    rebuilt = [(1, "a", 1), (2, "b", 2), (3, "c", 3)]
    found = {d.key["id"]: d for d in differences(SOURCE, live, rebuilt)}
    assert sorted(found) == [2, 3, 4]
    assert found[2].columns() == ["name"]
    assert str(found[2]) == "t [id=2]: name: live 'tampered', rebuilt 'b'"
    assert str(found[3]) == "t [id=3]: missing from the live table"
    assert str(found[4]) == "t [id=4]: in the live table, not produced by the events"
    assert found[3] == Difference("t", {"id": 3}, None, {"id": 3, "name": "c", "n": 3})
