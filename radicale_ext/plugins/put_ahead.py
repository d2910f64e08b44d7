"""What a PUT of one item does before it takes the storage's write lock (docs/performance.md, "Writes").

Every write on a host takes Radicale's one write lock in turn, so the writes of several clients go no faster
than the work done while holding it.  Two parts of a PUT need no lock, only the item Radicale parsed from the
request: the facts the item index keeps of it (an event's occurrences walked, or those of the version it
replaces where the timing is unchanged, checked against its file; a card's search values), and,
on files, writing its text to a temporary file beside the item's and waiting for the disk to have it
(fsync).  Both are done here, after Radicale's ``prepare`` and before its ``acquire_lock``; inside the lock
the storage renames the file into place and the index takes the facts, where they are those of the item
it writes (:func:`ahead_for`: the same object, so never another request's or another version's).

The temporary file is a dot-file, which Radicale never lists; one this request did not rename into place
(a refused precondition, a share that writes only its sharee's alarms, an error) is removed when the
request ends (:func:`for_this_request`).

Radicale gives no hook between ``prepare`` and ``acquire_lock`` (both inside ``do_PUT``), so
:func:`install` wraps its module's ``prepare``: the items it returns are the same, in the same order.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import radicale.app.put as radicale_put
import radicale.item as radicale_item

from radicale_ext.index.item_index import ItemFacts

from .indexed_items import facts_of
from .occurrence_spans import Earlier


@dataclass
class Ahead:
    """What was done for one item before the lock: its facts, and the temporary file holding its text."""

    item: radicale_item.Item
    facts: ItemFacts
    temporary: str | None = None   # fsynced, not yet renamed into place; None: nothing written ahead

    def move_to(self, path: str) -> bool:
        """Rename the file written ahead to ``path`` if it is in the same folder; False where it is not
        (or there is none): then the storage writes the item as before."""
        if self.temporary is None or os.path.dirname(self.temporary) != os.path.dirname(path):
            return False
        os.replace(self.temporary, path)
        self.temporary = None
        return True

    def discard(self) -> None:
        temporary, self.temporary = self.temporary, None
        if temporary is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def facts_ahead(item: radicale_item.Item, earlier: Earlier | None = None) -> Ahead | None:
    """The item's facts, taken before the lock (``earlier``: of the version it replaces, see ``occurrences_of``);
    None where they cannot be had (the same work inside the lock reports it, as it did before)."""
    try:
        return Ahead(item, facts_of(item, earlier))
    except Exception:
        return None


def facts_for(item: radicale_item.Item) -> ItemFacts:
    """The facts of the item a storage writes: those taken before the lock, or taken now."""
    ahead = ahead_for(item)
    return ahead.facts if ahead is not None else facts_of(item)


#: what a storage does ahead for ``path`` and the prepared item (None: nothing)
Prepare = Callable[[str, radicale_item.Item], "Ahead | None"]

_local = threading.local()


@contextlib.contextmanager
def for_this_request(prepare: Prepare | None) -> Iterator[None]:
    """Within it, Radicale's ``prepare`` of this thread's PUT hands its one item to ``prepare`` (None: a
    storage that does nothing ahead); at its end, a file written ahead and not used is removed."""
    _local.prepare, _local.ahead = prepare, None
    try:
        yield
    finally:
        ahead, _local.prepare, _local.ahead = _local.ahead, None, None
        if ahead is not None:
            ahead.discard()


def ahead_for(item: radicale_item.Item) -> Ahead | None:
    """What this thread's PUT did ahead for ``item``; None where it did nothing for that very item."""
    ahead = getattr(_local, "ahead", None)
    return ahead if ahead is not None and ahead.item is item else None


def _prepare_then_ahead(vobject_items: Any, path: str, *args: Any, **kwargs: Any) -> tuple:
    prepared = _radicale_prepare(vobject_items, path, *args, **kwargs)
    items, _tag, whole_collection, _props, problem = prepared
    prepare = getattr(_local, "prepare", None)
    if prepare is None or whole_collection is not False or problem is not None:
        return prepared
    items = list(items)
    if len(items) == 1:
        _local.ahead = prepare(path, items[0])
    return (iter(items), *prepared[1:])


_radicale_prepare = radicale_put.prepare


def install() -> None:
    """Wrap Radicale's ``prepare`` (once)."""
    radicale_put.prepare = _prepare_then_ahead
