"""What a folder's view works out item by item, in its order, and hands on to the view made from it.

Two answers need a pass over every item of a collection: the ctag (stock Radicale's sha256 over
"href/etag" of every item in directory order, :func:`~radicale_ext.index.item_index.collection_etag`)
and a time-range query's first cut (which items' spans meet the range).  Done in Python for each new view,
at 10,000 items the ctag took 4-10 ms after every change, in every process that was asked it (the text to
hash, not the hash: sha256 of the 1.1 MB takes 0.7 ms), and each week's query 9 ms; under the issue's
mixed load the two were a third of the server's processor time (bench/RESULTS.md, "Session 22").

Here a view keeps, per :data:`BLOCK` items of its order, the encoded text the ctag hashes, and the items'
starts and ends in two lists; a time range is cut by comparing those lists in C (:func:`meeting`).  A view
made from another by changing a few items (a PUT, another process's change taken in) takes over what the
other had worked out (:class:`Carried`) and works out again only the blocks and spans of the items
changed, where its order is the other's and its entries are the ones the hand-over was made for;
anything else (an item added or removed, which changes the order; more than :data:`MOST_TOUCHED` items
changed since the parts were worked out) is worked out whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from hashlib import sha256
from itertools import compress, repeat
from operator import and_, gt, lt
from typing import Any, Protocol

BLOCK = 128          # items per block of the ctag's text
MOST_TOUCHED = 256   # items changed since the hand-over beyond which the part is worked out whole
FEW = 16             # touched items looked for one by one (a search of the order each), more in one pass

Spans = tuple[list[int], list[int]]


class _Facts(Protocol):
    etag: str
    start: int
    end: int


class _Entry(Protocol):
    facts: _Facts


@dataclass(frozen=True, slots=True)
class Worked:
    """One part a view worked out for ``order``, handed to a view whose items differ only at ``touched``."""

    order: tuple[str, ...]
    touched: frozenset[str]
    value: Any  # noqa: ANN401 - the blocks (tuple of bytes) or the spans (starts, ends)


@dataclass(frozen=True, slots=True)
class Carried:
    """What a view hands to the view made from it, whose items are ``entries``: the ctag's text in blocks,
    the items' spans.  A view with other entries (a copy given other items) takes none of it."""

    entries: Mapping[str, Any] | None = None
    blocks: Worked | None = None
    spans: Worked | None = None
    #: the order of a view with the same names, listed in ``listed`` (the same listing, not an equal one)
    order: tuple[str, ...] | None = None
    listed: tuple[str, ...] | None = None

    def for_entries(self, entries: Mapping[str, Any]) -> Carried:
        """These parts where they were handed to a view of ``entries``, else nothing (a copy given other items)."""
        return self if self.entries is entries else Carried()

    def handed_on(self, entries: Mapping[str, Any], touched: frozenset[str]) -> Carried:
        """These parts for a view of ``entries`` made by changing ``touched`` more."""
        def more(part: Worked | None) -> Worked | None:
            return None if part is None else _worked(part.order, part.touched | touched, part.value)

        return Carried(entries, more(self.blocks), more(self.spans), self.order, self.listed)

    def order_for(self, entries: Mapping[str, Any], listed: tuple[str, ...] | None) -> tuple[str, ...] | None:
        """The order handed on, where it is that of a view of ``entries`` listed in ``listed``."""
        if self.order is None or self.entries is not entries or listed is None or self.listed is not listed:
            return None
        return self.order


def _worked(order: tuple[str, ...], touched: frozenset[str], value: Any) -> Worked | None:  # noqa: ANN401
    """A part to hand on; none where more than :data:`MOST_TOUCHED` items changed since it was worked out (a
    long run of views nobody asked, an import: making it again costs less than following the changes)."""
    return Worked(order, touched, value) if len(touched) <= MOST_TOUCHED else None


def _block(order: tuple[str, ...], entries: Mapping[str, _Entry], first: int) -> bytes:
    return "".join([f"{href}/{entries[href].facts.etag}" for href in order[first:first + BLOCK]]).encode()


class ByPosition:
    """One view's parts, worked out when first asked, from what was handed to it where that applies."""

    __slots__ = ("order", "_entries", "_carried", "_blocks", "_spans")

    def __init__(self, order: tuple[str, ...], entries: Mapping[str, _Entry], carried: Carried | None) -> None:
        self.order = order
        self._entries = entries
        self._carried = (carried or Carried()).for_entries(entries)
        self._blocks: tuple[bytes, ...] | None = None
        self._spans: Spans | None = None

    def _usable(self, worked: Worked | None) -> Worked | None:
        if worked is None:
            return None
        return worked if worked.order is self.order or worked.order == self.order else None

    def _positions(self, worked: Worked) -> set[int]:
        """Where the touched items are in the order (the order worked for); one added and removed again
        since is in neither."""
        if len(worked.touched) > FEW:   # one pass instead of a search for each
            return {position for position, href in enumerate(self.order) if href in worked.touched}
        at = set()
        for href in worked.touched:
            try:
                at.add(self.order.index(href))
            except ValueError:
                pass
        return at

    @property
    def blocks(self) -> tuple[bytes, ...]:
        if self._blocks is None:
            worked = self._usable(self._carried.blocks)
            if worked is None:
                blocks = [_block(self.order, self._entries, first) for first in range(0, len(self.order), BLOCK)]
            else:
                blocks = list(worked.value)
                for number in {position // BLOCK for position in self._positions(worked)}:
                    blocks[number] = _block(self.order, self._entries, number * BLOCK)
            self._blocks = tuple(blocks)
            self._carried = replace(self._carried, blocks=None)   # let go of the blocks of the view before
        return self._blocks

    def digest(self) -> Any:  # noqa: ANN401 - hashlib's sha256 object (no public type)
        """sha256 over "href/etag" of every item in order, as ``collection_etag`` hashes them."""
        return sha256(b"".join(self.blocks))   # hashlib lets go of the GIL over a long text

    @property
    def spans(self) -> Spans:
        if self._spans is None:
            worked = self._usable(self._carried.spans)
            if worked is None:
                facts = [self._entries[href].facts for href in self.order]
                self._spans = ([f.start for f in facts], [f.end for f in facts])
            else:
                starts, ends = list(worked.value[0]), list(worked.value[1])
                for position in self._positions(worked):
                    facts = self._entries[self.order[position]].facts
                    starts[position], ends[position] = facts.start, facts.end
                self._spans = (starts, ends)
            self._carried = replace(self._carried, spans=None)   # and of its spans
        return self._spans

    def meeting(self, start: int, end: int) -> Iterator[str]:
        """The items, in order, whose span meets [start, end): those starting before its end and ending
        after its start (the index's test, ``facts.start < end and facts.end > start``)."""
        starts, ends = self.spans
        return compress(self.order, map(and_, map(lt, starts, repeat(end)), map(gt, ends, repeat(start))))

    def handed_on(self, entries: Mapping[str, Any], touched: frozenset[str]) -> Carried:
        """What a view of ``entries``, made from this one by changing ``touched`` (and nothing else), takes
        over: each part this view worked out, else the part it was handed, with ``touched`` added."""
        handed = self._carried.handed_on(entries, touched)
        return Carried(entries,
                       _worked(self.order, touched, self._blocks) if self._blocks is not None else handed.blocks,
                       _worked(self.order, touched, self._spans) if self._spans is not None else handed.spans)
