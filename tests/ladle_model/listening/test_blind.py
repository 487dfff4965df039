"""The blind order: random, reproducible for a listener id, different between listeners; ids reveal nothing."""

from __future__ import annotations

from ladle_model.listening.app import listener_view
from ladle_model.listening.blind import blind_order, stimulus_id, valid_listener_id


def test_the_same_listener_gets_the_same_order_and_others_get_others():
    first = [blind_order("alice", f"e{i:02d}", 5, "seed") for i in range(8)]
    assert first == [blind_order("alice", f"e{i:02d}", 5, "seed") for i in range(8)]
    assert all(sorted(order) == list(range(5)) for order in first)
    assert len({tuple(o) for o in first}) > 1  # not one order for every trial
    assert first != [blind_order("bob", f"e{i:02d}", 5, "seed") for i in range(8)]
    assert first != [blind_order("alice", f"e{i:02d}", 5, "another test") for i in range(8)]


def test_orders_are_spread_over_listeners():
    # over many listeners, each condition is first about equally often (a fair shuffle)
    firsts = [blind_order(f"l{i}", "e01", 4, "seed")[0] for i in range(800)]
    counts = [firsts.count(k) for k in range(4)]
    assert min(counts) > 150 and max(counts) < 250


def test_stimulus_ids_are_opaque_and_distinct():
    ids = {c: stimulus_id("seed", "e01", c) for c in ("reference", "lossy", "model")}
    assert len(set(ids.values())) == 3
    assert not any(c in sid for c in ids for sid in ids.values())
    assert stimulus_id("seed", "e02", "model") != ids["model"]


def test_listener_ids_are_checked():
    assert valid_listener_id("l-0a1b_2") and not valid_listener_id("") and not valid_listener_id("../x")
    assert not valid_listener_id("x" * 65) and not valid_listener_id(None)


def test_listener_view_is_blind_and_stable(prepared):
    _, test = prepared
    view = listener_view(test, "alice", [])
    assert view == listener_view(test, "alice", [])
    assert view["scale"]["min"] == -5 and view["scale"]["max"] == 5
    for trial in view["trials"]:
        t = test.trial(trial["excerpt"])
        assert [s["label"] for s in trial["stimuli"]] == ["A", "B", "C"]
        assert sorted(s["id"] for s in trial["stimuli"]) == sorted(s.id for s in t.stimuli.values())
        assert [x["name"] for x in trial["labelled"]] == ["Reference", "Lossy input"]
        assert "reference" not in str(trial["stimuli"]) and "lossy" not in str(trial["stimuli"])
    orders = {tuple(s["id"] for s in listener_view(test, f"l{i}", [])["trials"][0]["stimuli"]) for i in range(20)}
    assert len(orders) > 1
