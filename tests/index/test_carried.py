"""A view's carried UIDs and checks (radicale_ext/index/carried.py) are the set and the mapping a copy would
give, after any sequence of changes, at every size; and a change no longer copies the whole."""

from __future__ import annotations

import random
from collections import ChainMap
from collections.abc import Mapping

import pytest

from radicale_ext.index import carried
from radicale_ext.index.carried import Uids, checks_with

NAMES = ["Geburtstag Jürgen", "家庭聚会", "🎂 Party", "Straße", "a b", "x%41y"]


def uid(rng: random.Random, pool: int) -> str:
    return f"{rng.choice(NAMES)}-{rng.randrange(pool)}@example.org"


@pytest.mark.parametrize("pool", [10, 300, 5000])
def test_uids_are_the_set_a_copy_gives(pool: int) -> None:
    rng = random.Random(pool)
    mine, copied = Uids(), frozenset[str]()
    kept = [mine]
    for step in range(2000):
        added = {uid(rng, pool) for _ in range(rng.choice([0, 1, 1, 1, 3]))}
        removed = {uid(rng, pool) for _ in range(rng.choice([0, 0, 1, 2]))} - added
        mine, copied = mine.changed(added, removed), (copied - removed) | added
        for probe in [uid(rng, pool) for _ in range(5)] + list(added)[:2] + list(removed)[:2]:
            assert (probe in mine) == (probe in copied), (step, probe)
        if step % 97 == 0:
            assert mine == copied and set(mine) == copied and len(mine) == len(copied), step
            kept.append(mine)
    # an older set is unchanged by the later ones (a view never changes once made)
    assert all(isinstance(old, Uids) for old in kept) and kept[0] == frozenset()


def test_a_change_of_uids_copies_no_more_than_it_must() -> None:
    whole = Uids(f"uid-{n}" for n in range(10_000))
    one_more = whole.changed({"new"}, set())
    assert one_more._whole is whole._whole and one_more._added == {"new"}   # shared, not copied
    changed = whole
    for n in range(carried._merge_after(10_000) + 1):
        changed = changed.changed({f"more-{n}"}, set())
    assert changed._whole is not whole._whole and not changed._added   # merged once the changes grew
    assert len(changed) == 10_000 + carried._merge_after(10_000) + 1


def test_checks_are_the_mapping_a_copy_gives() -> None:
    rng = random.Random(3)
    mine: Mapping[int, str] = checks_with({1: "0123456789abcdef"}, {})
    copied = {1: "0123456789abcdef"}
    olds = []
    for seq in range(2, 600):
        more = {seq: f"{rng.getrandbits(64):016x}"}
        if rng.random() < 0.1:   # a number drawn again (an index restored from a backup)
            more[rng.randrange(1, seq)] = f"{rng.getrandbits(64):016x}"
        before, mine, copied = mine, checks_with(mine, more), {**copied, **more}
        if isinstance(mine, ChainMap) and isinstance(before, ChainMap):   # the older layers shared, not copied
            assert all(a is b for a, b in zip(mine.maps[1:], before.maps, strict=True))
        assert mine.get(seq) == copied[seq] and mine.get(seq + 1) is None
        if seq % 50 == 0:
            assert dict(mine) == copied and len(mine) == len(copied) and sorted(mine) == sorted(copied)
            olds.append((mine, dict(copied)))
        assert not isinstance(mine, ChainMap) or len(mine.maps) <= carried.MOST_LAYERS
    assert all(dict(old) == then for old, then in olds)   # older mappings unchanged
