"""What a folder's view carries over from the view before it: the items' UIDs and each log number's check.

A view never changes once made (:class:`~radicale_ext.index.item_index.FolderView`), so every change made
a new set of UIDs and a new mapping of checks, each a copy of the whole: at 10,000 items a PUT copied
10,000 UIDs and as many checks (a check per change since the index began) once in the process that wrote
and once in every other process that took the change in, and a bulk import slowed as the calendar filled
(bench/RESULTS.md, "Session 17").  Here a new view shares the old one's part and holds only what changed
since: the UIDs added and removed since the whole set was made, merged into a new whole once they are
more than its square root (a change costs about that much); the checks drawn since, a layer per change,
a :class:`~collections.ChainMap` of a layer per change, merged into one every :data:`MOST_LAYERS`
changes (a lookup looks at that many layers at most).
"""

from __future__ import annotations

import math
from collections import ChainMap
from collections.abc import Iterable, Iterator, Mapping, Set

#: layers a lookup walks at most, whatever the folder's size
MOST_LAYERS = 32


def _merge_after(whole: int) -> int:
    """How much may change on top of a whole of this size before the two are merged."""
    return max(64, math.isqrt(whole))


class Uids(Set[str]):
    """A set of UIDs: a frozen whole, with the UIDs added and removed since."""

    __slots__ = ("_whole", "_added", "_removed")

    def __init__(self, whole: Iterable[str] = (), added: frozenset[str] = frozenset(),
                 removed: frozenset[str] = frozenset()) -> None:
        self._whole = whole if isinstance(whole, frozenset) else frozenset(whole)
        self._added = added      # in the set, whether or not in the whole
        self._removed = removed  # not in the set unless added

    def __contains__(self, uid: object) -> bool:
        return uid in self._added or (uid in self._whole and uid not in self._removed)

    def __iter__(self) -> Iterator[str]:
        yield from self._added
        for uid in self._whole:
            if uid not in self._removed and uid not in self._added:
                yield uid

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def changed(self, added: Iterable[str], removed: Iterable[str]) -> Uids:
        """These UIDs with ``added`` in and ``removed`` out (the two apart); a UID added that is already in
        changes nothing (a PUT of an existing event adds its own UID again)."""
        added, removed = frozenset(uid for uid in added if uid not in self), frozenset(removed)
        if not added and not removed:
            return self
        now_added = (self._added - removed) | added
        now_removed = (self._removed | removed) - added
        if len(now_added) + len(now_removed) > _merge_after(len(self._whole)):
            return Uids((self._whole - now_removed) | now_added)
        return Uids(self._whole, now_added, now_removed)


def checks_with(checks: Mapping[int, str], more: Mapping[int, str]) -> Mapping[int, str]:
    """``checks`` and ``more`` (a number's check in ``more`` replaces one drawn before): a layer on top of
    ``checks``' layers (a :class:`~collections.ChainMap`), merged into one mapping every :data:`MOST_LAYERS`."""
    if not more:
        return checks
    layers = [dict(more), *(checks.maps if isinstance(checks, ChainMap) else [checks])]
    if len(layers) > MOST_LAYERS:
        # oldest first, each newer layer over it: dict.update runs in C (``dict(ChainMap(...))`` looked every
        # number up through every layer: the largest Python function of a PUT's profile at 10,000 checks)
        merged: dict[int, str] = {}
        for layer in reversed(layers):
            merged.update(layer)
        return merged
    return ChainMap(*layers)
