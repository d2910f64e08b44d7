"""The PostgreSQL item store's own guarantees (radicale_ext/index/pg_items.py), each with two stores on one
database standing for two server processes (each has its own pool of connections)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest

from radicale_ext.index import pg_items
from radicale_ext.index.item_index import ItemFacts, collection_etag
from radicale_ext.index.pg_items import DuplicateUid, NewItem, PgItems

CAL = "alice/家庭"


def item(href: str, uid: str, summary: str = "x") -> NewItem:
    text = f"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    return NewItem(href, text, ItemFacts(f'"{uid}-{summary}"', uid, "VCALENDAR", "VEVENT", 0, 1))


@pytest.fixture
def stores(postgres_database: str) -> Iterator[tuple[PgItems, PgItems]]:
    one, two = PgItems(postgres_database, 2), PgItems(postgres_database, 2)
    one.make_collection(CAL, {"tag": "VCALENDAR"})
    yield one, two
    one.close()
    two.close()


def test_the_unique_index_refuses_a_second_item_with_a_uid(stores: tuple[PgItems, PgItems]) -> None:
    one, two = stores
    one.put(CAL, item("a.ics", "fußball"))
    with pytest.raises(DuplicateUid):
        two.put(CAL, item("b b.ics", "fußball"))
    one.put(CAL, item("a.ics", "fußball", "again"))   # the same item replaced keeps its UID
    one.delete_item(CAL, "a.ics")
    two.put(CAL, item("b b.ics", "fußball"))          # a deleted item's UID is free again


def test_the_change_counter_moves_by_one_per_change_and_never_back(stores: tuple[PgItems, PgItems]) -> None:
    one, two = stores
    seen = []
    for n, store in enumerate([one, two, one, two]):
        store.put(CAL, item(f"{n}.ics", f"uid-{n}"))
        stored = (one if n % 2 else two).collection(CAL)
        assert stored is not None
        seen.append(stored.seq)
        view = (one if n % 2 else two).view(stored)
        assert view.seq == stored.seq and f"{n}.ics" in view.entries   # the other process sees it at once
    assert seen == list(range(seen[0], seen[0] + 4))
    two.delete_item(CAL, "0.ics")
    stored = one.collection(CAL)
    assert stored is not None
    view = one.view(stored)
    assert view.seq == seen[-1] + 1 and "0.ics" in view.tombstones
    assert view.changes_since(view.token_at(seen[1]) or "") == ["2.ics", "3.ics", "0.ics"]


def test_the_write_lock_excludes_writers_and_readers_of_another_process(stores: tuple[PgItems, PgItems]) -> None:
    one, two = stores
    order: list[str] = []
    holding = threading.Event()

    def other_process(mode: str) -> None:
        with two.locked(mode):
            if mode == "r":   # a read takes its shared lock with its first query: that query waits
                two.collection(CAL)
            order.append(f"two {mode}")

    with one.locked("w"):
        holding.set()
        waiting = [threading.Thread(target=other_process, args=(mode,)) for mode in ("r", "w")]
        for thread in waiting:
            thread.start()
        time.sleep(0.5)
        order.append("one done")
    for thread in waiting:
        thread.join(10)
    assert order[0] == "one done" and sorted(order[1:]) == ["two r", "two w"]


def test_readers_share_and_a_nested_read_lock_does_not_wait_behind_a_writer(stores: tuple[PgItems, PgItems]
                                                                            ) -> None:
    one, two = stores
    order: list[str] = []
    with one.locked("r"):
        assert one.collection(CAL) is not None   # the shared lock is taken with the read's first query
        with two.locked("r"):   # readers of two processes at once
            assert two.collection(CAL) is not None
            order.append("both read")
        def write() -> None:
            with two.locked("w"):
                order.append("written")

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.3)
        with one.locked("r"):   # Radicale takes the read lock again inside a PROPFIND: same hold, no wait
            order.append("nested read")
        assert order == ["both read", "nested read"]
    writer.join(10)
    assert order[-1] == "written"
    with pytest.raises(RuntimeError), one.locked("r"), one.locked("w"):
        pass


class Requests:
    """A request counter standing for the storage plugin's (PgItems.request_number)."""

    def __init__(self) -> None:
        self.number = 0

    def next(self) -> None:
        self.number += 1


def test_a_request_reuses_the_rows_read_while_nothing_was_committed_and_sees_any_commit(
        stores: tuple[PgItems, PgItems]) -> None:
    one, two = stores
    requests = Requests()
    one.request_number = lambda: requests.number
    requests.next()
    first = one.collection(CAL)
    requests.next()
    assert one.collection(CAL) is first                 # nothing committed since: not asked again
    assert one.collection_or_parent(CAL)[0] is first
    two.set_props(CAL, {"tag": "VCALENDAR", "D:displayname": "Familie Müller"})   # another process
    assert one.collection(CAL) is first                 # the request in progress keeps its state
    requests.next()
    again = one.collection(CAL)
    assert again is not None and again.props["D:displayname"] == "Familie Müller"
    for write in (lambda: two.put(CAL, item("🎂 birthday.ics", "b")), lambda: two.delete_item(CAL, "🎂 birthday.ics"),
                  lambda: two.make_collection("bob/学校", {"tag": "VCALENDAR"}),
                  lambda: two.delete_collection("bob/学校")):
        before = one.collection(CAL)
        write()
        requests.next()
        after = one.collection(CAL), one.collection("bob/学校")
        assert after[0] is not before       # every kind of write moves the counter
        stored = two.collection("bob/学校")
        assert (after[1] is None) == (stored is None)


def test_rows_are_read_afresh_outside_a_request_and_after_each_write_under_the_write_lock(
        stores: tuple[PgItems, PgItems]) -> None:
    one, _ = stores
    requests = Requests()
    one.request_number = lambda: requests.number
    assert one.collection(CAL) is not one.collection(CAL)   # request 0: no request, nothing remembered
    requests.next()
    with one.locked("w"):
        first = one.collection(CAL)
        assert one.collection(CAL) is first   # nobody else writes while this thread holds the write lock
        one.set_props(CAL, {"tag": "VCALENDAR", "D:displayname": "Müller 🏠"})   # but this thread did
        again = one.collection(CAL)
        assert again is not first and again is not None and again.props["D:displayname"] == "Müller 🏠"
    with one.locked("w"):
        assert one.collection(CAL) is not again   # a new hold reads afresh
    with one.locked("r"):
        assert one.collection(CAL) is one.collection(CAL)
    one.set_props(CAL, {"tag": "VCALENDAR", "D:displayname": "家庭 ✓"})   # this thread's own write, same request
    with one.locked("r"):
        fresh = one.collection(CAL)
    assert fresh is not None and fresh.props["D:displayname"] == "家庭 ✓"


def test_a_put_under_the_write_lock_knows_its_row_text_and_view_as_stored(stores: tuple[PgItems, PgItems]) -> None:
    """A PUT reads the old item twice and the new one, its row and the view once more: under the write lock
    these come from what the PUT itself stored, and must be exactly what another process reads."""
    one, two = stores
    one.put(CAL, item("Schulweg 1.ics", "schul-1", "Müller"))
    with one.locked("w"):
        before = one.collection(CAL)
        assert before is not None
        one.view(before)
        assert one.texts(before, ["Schulweg 1.ics"])["Schulweg 1.ics"].text.count("Müller") == 1
        one.put(CAL, item("Schulweg 1.ics", "schul-1", "家庭 🚸"))
        after = one.collection(CAL)
        assert after is not None and after.seq == before.seq + 1
        mine = one.view(after), one.texts(after, ["Schulweg 1.ics"])["Schulweg 1.ics"]
    theirs_row = two.collection(CAL)
    assert theirs_row == after
    theirs = two.view(theirs_row), two.texts(theirs_row, ["Schulweg 1.ics"])["Schulweg 1.ics"]
    assert mine[1] == theirs[1] and "家庭 🚸" in mine[1].text
    assert (mine[0].seq, dict(mine[0].entries), dict(mine[0].checks), mine[0].order) == \
        (theirs[0].seq, dict(theirs[0].entries), dict(theirs[0].checks), theirs[0].order)


def test_a_put_prunes_old_deletions_and_a_token_from_before_is_refused(
        postgres_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hourly pruning, run by the PUT that finds it due (after the PUT's own statement): a deletion older
    than the token age is gone, and a token that could have missed it is refused, in this process and the
    next; the PUT's item is stored."""
    monkeypatch.setattr(pg_items, "PRUNE_EVERY_NS", 0)   # every write finds the pruning due
    one, two = PgItems(postgres_database, 2, max_token_age_s=0), PgItems(postgres_database, 2, max_token_age_s=0)
    try:
        one.make_collection(CAL, {"tag": "VCALENDAR"})
        one.put(CAL, item("Müller.ics", "m-1"))
        one.put(CAL, item("家庭 1.ics", "f-1"))
        before = one.view(one.collection(CAL))
        one.delete_item(CAL, "家庭 1.ics")
        with one.locked("w"):
            one.put(CAL, item("Schulweg 🚸.ics", "s-1"))
        for store in (one, two):
            view = store.view(store.collection(CAL))
            assert "家庭 1.ics" not in view.tombstones and "Schulweg 🚸.ics" in view.entries
            with pytest.raises(ValueError):
                view.changes_since(before.token)
    finally:
        one.close()
        two.close()


def test_a_view_taken_in_from_another_process_hands_on_its_ctag_and_spans_right(
        stores: tuple[PgItems, PgItems]) -> None:
    """The other process's views advance change by change (``_advanced``), each taking over the ctag's text and
    the spans the one before worked out (radicale_ext/index/by_position.py): always what a pass over every
    item gives, whether or not the view before was asked."""
    one, two = stores
    rng = random.Random(22)
    names = [f"{name} {n}.ics" for n, name in enumerate(["Müller", "家庭", "🎉 party", "a b"] * 15)]
    for href in names:
        one.put(CAL, timed(href, rng))
    meta = {"tag": "VCALENDAR"}
    for step in range(60):
        if rng.random() < 0.8:
            one.put(CAL, timed(rng.choice(names), rng))
        else:
            names.append(f"neu {step} Straße.ics")
            one.put(CAL, timed(names[-1], rng))
        if rng.random() < 0.3:   # an unasked view hands on what it was handed
            continue
        stored = two.collection(CAL)
        assert stored is not None
        view = two.view(stored)
        assert list(view.order) == sorted(view.entries), step
        assert view.ctag(meta) == collection_etag([(h, view.entries[h].facts.etag) for h in view.order], meta), step
        start = rng.randrange(0, 1000)
        assert list(view.by_position.meeting(start, start + 50)) == [
            h for h in view.order if view.entries[h].facts.start < start + 50 and view.entries[h].facts.end > start]


def timed(href: str, rng: random.Random) -> NewItem:
    uid = href.removesuffix(".ics")
    start = rng.randrange(0, 1000)
    summary = f"{rng.getrandbits(32):x}"
    text = f"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    return NewItem(href, text, ItemFacts(f'"{uid}-{summary}"', uid, "VCALENDAR", "VEVENT", start, start + 20))
