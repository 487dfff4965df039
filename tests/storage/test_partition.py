from storage.partition import n_buckets, partition


def test_every_item_once_in_order_and_groups_bounded_on_average():
    items = [f"track-{i:05d}" for i in range(1000)]
    groups = partition(items, key=str, target_size=32)
    assert sorted(x for g in groups for x in g) == items
    assert all(g == sorted(g) for g in groups)
    assert n_buckets(1000, 32) == 32 and len(groups) == 32
    assert max(len(g) for g in groups) < 3 * 32


def test_adding_one_item_changes_one_group():
    items = [f"t{i}" for i in range(100)]
    before = partition(items, key=str, target_size=16)  # 8 buckets
    after = partition(items + ["new"], key=str, target_size=16)
    changed = [g for g in after if g not in before]
    assert len(changed) == 1 and "new" in changed[0]
    assert partition([], key=str, target_size=4) == []


def test_min_groups_spreads_a_small_library():
    items = [f"t{i}" for i in range(10)]
    assert len(partition(items, key=str, target_size=32)) == 1
    groups = partition(items, key=str, target_size=32, min_groups=4)
    assert n_buckets(10, 32, 4) == 4 and 2 <= len(groups) <= 4
    assert sorted(x for g in groups for x in g) == sorted(items)
    assert n_buckets(3, 32, 8) == 4  # never more buckets than needed to give each item its own
