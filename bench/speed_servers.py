"""The servers of the speed benchmark (see run_speed.py): starting them and loading the same data
(DAViCal, with --davical: bench/speed_davical.py).

- stock Radicale 3.9 and ours get the calendar and the address book in one
  whole-collection PUT each (Radicale's fastest import; the address book as a
  multi-vCard ``text/vcard`` body) and an empty calendar made with MKCALENDAR;
- Xandikos keeps every collection in a git repository and commits once per
  PUT, rewriting its index and tree each time, so a PUT costs O(items)
  (about 20 ms at 200 items, 270 ms at 3,000: 10,000 PUTs would take well
  over an hour).  Its items are therefore written as files into the
  collections that ``xandikos serve --defaults`` created and committed in one
  git commit with dulwich (its own storage library): the same store N PUTs
  leave, less the history.  Its PUT rate is measured by the bulk PUT row.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from run_foundation import (
    ALICE,
    FAMILY,
    calendar_of,
    event,
    item_href,
    item_uid,
    wait_until_listening,
)
from speed_client import Site, address_book_of, card_href, responses, vcard

from tests.server import Server, free_port, stored_beforehand

CARDS = f"/{ALICE}/contacts/"
BULK = f"/{ALICE}/bulk/"
XANDIKOS_USER = "/user/"
XANDIKOS_CALENDAR = XANDIKOS_USER + "calendars/calendar/"
XANDIKOS_CARDS = XANDIKOS_USER + "contacts/addressbook/"
XANDIKOS_BULK = XANDIKOS_USER + "calendars/bulk/"


def settle_seconds() -> float:
    """How long ours re-checks just-written files (item_index.RACY_NS), plus 0.5 s."""
    try:
        from radicale_ext.index.item_index import RACY_NS
    except Exception:  # the module is being rewritten; 2 s was its value
        return 2.5
    return RACY_NS / 1e9 + 0.5


class XandikosServer(Server):
    """Xandikos as its README starts it: ``xandikos serve --defaults`` (no authentication:
    the benchmark's Authorization header is ignored)."""

    def start(self) -> XandikosServer:
        with open(self.root / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "xandikos", "serve", "--defaults", "--no-detect-systemd",
                 "-d", str(self.data), "--state-dir", str(self.root / "state"),
                 "-l", "127.0.0.1", "-p", str(self.port)],
                cwd=self.root, stdout=log, stderr=subprocess.STDOUT)
        wait_until_listening(self)
        return self

    @property
    def data(self) -> Path:
        return self.root / "data"


def make_xandikos_server(root: Path) -> XandikosServer:
    root.mkdir(parents=True, exist_ok=True)
    return XandikosServer(root=root, port=free_port(), config=root / "no-config")


def command_line(server: Server) -> str:
    """``python -m xandikos serve --defaults ...`` without paths and ports."""
    assert server.proc is not None
    args = [str(a) for a in server.proc.args][1:]
    shown = []
    for arg in args:
        if arg in ("--config", "-d", "--state-dir", "-l", "-p"):
            break
        shown.append(arg)
    return " ".join(["python", *shown])


def radicale_site(name: str, server: Server, *others: Server) -> Site:
    """Stock's or ours' data; with ``others``, processes of ours on the same PostgreSQL database, each request
    going to one of them at random."""
    return Site(name=name, port=server.port, user=ALICE, calendar=FAMILY, cards=CARDS, bulk=BULK,
                others=tuple(o.port for o in others))


def xandikos_site(server: XandikosServer) -> Site:
    return Site(name="Xandikos", port=server.port, user=ALICE, calendar=XANDIKOS_CALENDAR,
                cards=XANDIKOS_CARDS, bulk=XANDIKOS_BULK)


def check_loaded(site: Site, path: str, items: int, first: str) -> None:
    listed = site.client().etags(dataclasses.replace(site, calendar=path))
    found = responses(listed) - 1
    if found != items or first not in listed:
        raise RuntimeError(f"{site.name}: {found} items in {path} after loading {items}")


def load_radicale(site: Site, items: int, ours: Server | None = None) -> None:
    """Stock and ours: the calendar and the address book in one PUT each, and the empty bulk calendar.

    Ours replaces a whole collection with at most MAX_ITEMS_PER_UPLOAD items per PUT (nothing else can be
    written meanwhile; docs/limits.md): a larger calendar of ``ours`` is written into its store as a
    restored backup would be (tests/server.py ``stored_beforehand``: its folders, or its PostgreSQL
    tables), which leaves what the PUT would, and then listed through the server like the others."""
    from radicale_ext.base.recurrence_limits import MAX_ITEMS_PER_UPLOAD

    client = site.client()
    if ours is not None and items > MAX_ITEMS_PER_UPLOAD:
        stored_beforehand(ours, site.calendar, {"tag": "VCALENDAR"},
                          {item_href(n): calendar_of([event(item_uid(n), n)]) for n in range(items)})
        stored_beforehand(ours, site.cards, {"tag": "VADDRESSBOOK"}, {card_href(n): vcard(n) for n in range(items)})
    else:
        client.call("PUT", site.calendar, calendar_of([event(item_uid(n), n) for n in range(items)]),
                    {"Content-Type": "text/calendar"}, (201,))
        client.call("PUT", site.cards, address_book_of(items), {"Content-Type": "text/vcard"}, (201,))
    client.call("MKCALENDAR", site.bulk, codes=(201,))
    check_loaded(site, site.calendar, items, item_href(0))
    check_loaded(site, site.cards, items, card_href(0))


def commit_files(folder: Path, files: dict[str, str]) -> None:
    """Write ``files`` into the git-backed collection at ``folder`` and commit them at once."""
    from dulwich.repo import Repo  # Xandikos' library (the bench extra): only the runs with Xandikos need it

    for name, text in files.items():
        (folder / name).write_bytes(text.encode())
    repo = Repo(str(folder))
    try:
        worktree = repo.get_worktree()
        worktree.stage(list(files))
        worktree.commit(message=f"Import {len(files)} items\n".encode(), committer=b"bench <bench@localhost>",
                        author=b"bench <bench@localhost>")
    finally:
        repo.close()


def load_xandikos(server: XandikosServer, site: Site, items: int) -> None:
    calendar = server.data / XANDIKOS_CALENDAR.strip("/")
    cards = server.data / XANDIKOS_CARDS.strip("/")
    if not (calendar / ".git").is_dir() or not (cards / ".git").is_dir():
        raise RuntimeError(f"Xandikos did not create {calendar} and {cards}:\n{server.log()}")
    commit_files(calendar, {item_href(n): calendar_of([event(item_uid(n), n)]) for n in range(items)})
    commit_files(cards, {card_href(n): vcard(n) for n in range(items)})
    site.client().call("MKCALENDAR", site.bulk, codes=(201,))
    check_loaded(site, site.calendar, items, item_href(0))
    check_loaded(site, site.cards, items, card_href(0))
