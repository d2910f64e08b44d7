"""sync-collection with its members written from the item index (radicale_ext/plugins/handlers/sync_listing.py)
answers byte for byte what Radicale's own path answers, for every role, on files and on PostgreSQL.

Two server processes of ours share one data folder (or one PostgreSQL database; the sharing database too):
one as shipped, one with ``[storage] item_responses_from_index = false``, where Radicale reads every
reported item and writes every response itself, as before the index answered.  Both issue the same tokens
(the index's change log is the same one), so the same request must get the same bytes from both.

alice owns a calendar and an address book whose names (and their items') hold umlauts, Chinese, emoji,
spaces and characters that are percent-encoded; bob collaborates on both, carol subscribes to both.
alice's own card in the address book is her me card: bob sees it projected to FN and TEL, carol not at
all.  bob and carol set alarms of their own on some events of the calendar.  A seeded random sequence of
writes (alice's PUTs and DELETEs, bob's writes through his mount, everyone's own alarms, the me card
changed, its audience narrowed and widened) runs; after each step the same sync-collection requests go to
both processes: from scratch and from tokens handed out earlier, asking getetag, getetag and
getcontenttype, properties Radicale does not give in a REPORT, none, calendar-data or address-data
(Radicale's own path on both), with DAV:limit, for alice on her paths, bob and carol through their mounts
and on alice's paths.
"""

from __future__ import annotations

import configparser
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import requests

from .. import dav_kit as dav
from ..samples import address_book_mkcol
from ..server import Server, free_port, make_server

CALENDAR = "Fußball 家庭 🎉"
BOOK = "Kontakte Müller 📇"
EVENT_NAMES = ["Geburtstag Jürgen.ics", "家庭聚会.ics", "🎂 Party am See.ics", "50% Rabatt.ics", "a+b&c=d.ics",
               "Straße (neu).ics", "plain.ics", "x%41y.ics"]
CARD_NAMES = ["Zhāng Wěi 张伟.vcf", "Jörg Müller.vcf", "🙂 smiley.vcf", "100% sicher.vcf"]
ME = "alice me.vcf"
STEPS = 16
PROPS = {
    "getetag": "<D:getetag/>",
    "getetag+getcontenttype": "<D:getetag/><D:getcontenttype/>",
    "not in a REPORT": "<D:getcontenttype/><D:resourcetype/><D:getetag/><D:getlastmodified/><D:displayname/>",
    "none": "",
}
DATA = {"calendar": '<C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav"/>',
        "book": '<CR:address-data xmlns:CR="urn:ietf:params:xml:ns:carddav"/>'}
LIMIT = "<D:limit><D:nresults>1</D:nresults></D:limit>"


def calendar(user: str) -> str:
    return f"/{user}/{quote(CALENDAR if user == 'alice' else CALENDAR + '~alice')}/"


def book(user: str) -> str:
    return f"/{user}/{quote(BOOK if user == 'alice' else BOOK + '~alice')}/"


def event(uid: str, summary: str, alarm: str = "") -> str:
    valarm = (f"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:{summary}\r\nTRIGGER:{alarm}\r\nEND:VALARM\r\n"
              if alarm else "")
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260310T190000\r\n"
            f"DURATION:PT2H\r\nSUMMARY:{summary}\r\n{valarm}END:VEVENT\r\nEND:VCALENDAR\r\n")


def card(uid: str, name: str, phone: str = "+49 30 1234567") -> str:
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nTEL;TYPE=CELL:{phone}\r\n"
            f"NOTE:Schlüssel beim Nachbarn 🔑\r\nEND:VCARD\r\n")


def sync_body(token: str, props: str, extra: str = "") -> str:
    return (dav.HEAD + '<D:sync-collection xmlns:D="DAV:"><D:sync-token>' + token + "</D:sync-token>"
            f"<D:sync-level>1</D:sync-level>{extra}<D:prop>{props}</D:prop></D:sync-collection>")


def second_process(first: Server, root: Path) -> Server:
    """Another process of ours on ``first``'s data, Radicale writing every member itself."""
    parser = configparser.RawConfigParser()
    parser.read(first.config)
    port = free_port()
    parser.set("server", "hosts", f"127.0.0.1:{port}")
    parser.set("storage", "item_responses_from_index", "false")
    root.mkdir(parents=True, exist_ok=True)
    config = root / "radicale.ini"
    with open(config, "w") as f:
        parser.write(f)
    return Server(root=root, port=port, config=config)


@dataclass
class Pair:
    index: Server     # as shipped: members written from the item index
    radicale: Server  # item_responses_from_index = false
    tokens: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def both(self, user: str, path: str, body: str) -> tuple[requests.Response, requests.Response]:
        headers = {"Content-Type": "application/xml; charset=utf-8", "Depth": "1"}
        return (self.index.request("REPORT", path, user, body, headers=headers),
                self.radicale.request("REPORT", path, user, body, headers=headers))


def put(server: Server, path: str, user: str, text: str, kind: str = "text/calendar") -> None:
    r = server.request("PUT", path, user, text, headers={"Content-Type": f"{kind}; charset=utf-8"})
    assert r.status_code in (201, 204), (path, user, r.status_code, r.text)


@pytest.fixture(scope="module")
def pair(storage_backend: dict[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory,
         sharing_database: str) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("sync-listing")
    index = make_server(root / "index", **storage_backend).start()
    radicale = second_process(index, root / "radicale")
    try:
        radicale.start()
        assert index.request("MKCALENDAR", calendar("alice"), "alice").status_code == 201
        assert index.request("MKCOL", book("alice"), "alice", address_book_mkcol(BOOK)).status_code == 201
        for name in EVENT_NAMES[:5]:
            put(index, calendar("alice") + quote(name), "alice", event(f"uid-{name}", f"Termin {name}"))
        for name in CARD_NAMES[:2]:
            put(index, book("alice") + quote(name), "alice", card(f"uid-{name}", name[:-4]), "text/vcard")
        put(index, book("alice") + quote(ME), "alice", card("alice-me", "Alice Müller (米勒爱丽丝)"), "text/vcard")
        index.ok("card", "set-me", f"alice/{BOOK}/{ME}", acting_as="alice")
        index.ok("card", "share", "--user", "bob", "--fields", "FN, TEL", acting_as="alice")
        for collection in (CALENDAR, BOOK):
            index.ok("share", "add", f"alice/{collection}", "--user", "bob", "--role", "collaborator")
            index.ok("share", "add", f"alice/{collection}", "--user", "carol", "--role", "subscriber")
        yield Pair(index, radicale)
    finally:
        radicale.stop()
        index.stop()


# the paths each person syncs: alice her own, bob and carol their mounts and alice's own paths
VIEWS = [(user, kind, where(user if through == "mount" else "alice"))
         for user, throughs in (("alice", ("own",)), ("bob", ("mount", "own")), ("carol", ("mount", "own")))
         for through in throughs
         for kind, where in (("calendar", calendar), ("book", book))]


def own_alarm(pair: Pair, rng: random.Random, user: str) -> None:
    """``user`` gives an event of alice's calendar an alarm of their own (through their mount)."""
    listed = dav.listing(pair.index, calendar(user), user)
    if not listed:
        return
    href = rng.choice(sorted(listed))
    text = pair.index.request("GET", href, user).text
    trigger = rng.choice(["-PT15M", "-PT1H", "-P1D"])
    mine = re.sub(r"BEGIN:VALARM.*?END:VALARM\r?\n", "", text, flags=re.S).replace(
        "END:VEVENT", f"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:{user}\r\nTRIGGER:{trigger}\r\n"
                      "END:VALARM\r\nEND:VEVENT", 1)
    r = pair.index.request("PUT", href, user, mine, headers={"Content-Type": "text/calendar; charset=utf-8",
                                                             "If-Match": listed[href]})
    assert r.status_code in (201, 204), (user, href, r.status_code, r.text)


def step(pair: Pair, rng: random.Random, number: int) -> str:
    """One random write; what it was."""
    kind = rng.choice(["event", "event", "delete event", "bob writes", "own alarm", "card", "delete card",
                       "me card", "me card audience"])
    if kind == "event":
        name = rng.choice(EVENT_NAMES)
        put(pair.index, calendar("alice") + quote(name), "alice",
            event(f"uid-{name}", f"{name} v{number}", rng.choice(["", "-PT30M"])))
    elif kind == "delete event":
        name = rng.choice(EVENT_NAMES)
        pair.index.request("DELETE", calendar("alice") + quote(name), "alice")
    elif kind == "bob writes":
        name = rng.choice(EVENT_NAMES)
        put(pair.index, calendar("bob") + quote(name), "bob", event(f"uid-{name}", f"{name} von Bob {number}"))
    elif kind == "own alarm":
        own_alarm(pair, rng, rng.choice(["bob", "carol"]))
    elif kind == "card":
        name = rng.choice(CARD_NAMES)
        put(pair.index, book("alice") + quote(name), "alice", card(f"uid-{name}", f"{name[:-4]} {number}"),
            "text/vcard")
    elif kind == "delete card":
        pair.index.request("DELETE", book("alice") + quote(rng.choice(CARD_NAMES)), "alice")
    elif kind == "me card":
        put(pair.index, book("alice") + quote(ME), "alice",
            card("alice-me", "Alice Müller (米勒爱丽丝)", f"+49 170 {number:07d}"), "text/vcard")
    else:
        fields = rng.choice(["FN, TEL", "FN", "*"])
        pair.index.ok("card", "share", "--user", "bob", "--fields", fields, acting_as="alice")
        kind += f" ({fields})"
    return kind


def compare(pair: Pair, user: str, path: str, body: str, what: str) -> requests.Response:
    fast, slow = pair.both(user, path, body)
    assert (fast.status_code, fast.headers.get("Content-Type")) == (slow.status_code, slow.headers.get(
        "Content-Type")), what
    assert fast.content == slow.content, f"{what}\nindex:    {fast.text}\nradicale: {slow.text}"
    return fast


def test_sync_from_the_index_answers_byte_for_byte_as_radicale_does(pair: Pair) -> None:
    rng = random.Random(17)
    statuses: list[int] = []
    for number in range(STEPS + 1):
        done = step(pair, rng, number) if number else "the start"
        for user, kind, path in VIEWS:
            issued = pair.tokens.setdefault((user, path), [])
            earlier = rng.sample(issued, min(2, len(issued))) + issued[-1:]
            for token in ["", *earlier]:
                props = PROPS[rng.choice(sorted(PROPS))]
                what = f"after {done}: {user} {unquote(path)} from {token or 'scratch'} asking {props or 'nothing'}"
                # a reader's token may be refused by both (403 DAV:valid-sync-token: the client syncs afresh)
                statuses.append(compare(pair, user, path, sync_body(token, props), what).status_code)
            compare(pair, user, path, sync_body(rng.choice(issued[-1:] or [""]), "<D:getetag/>" + DATA[kind]),
                    f"after {done}: {user} {unquote(path)} with {kind} data")
            compare(pair, user, path, sync_body("", "<D:getetag/>", LIMIT), f"after {done}: with DAV:limit")
            answer = compare(pair, user, path, sync_body(issued[-1] if issued else "", PROPS["getetag"]),
                             f"after {done}: {user} {unquote(path)}")
            if dav.rejects_token(answer):   # as a client does: afresh
                answer = compare(pair, user, path, sync_body("", PROPS["getetag"]), f"after {done}: afresh")
            issued.append(dav.parse_sync(answer).token)
    assert statuses.count(207) > 0.9 * len(statuses), f"{statuses.count(207)} of {len(statuses)} answered"


def test_a_token_not_issued_here_is_refused_as_radicale_refuses_it(pair: Pair) -> None:
    for user, _kind, path in VIEWS:
        for token in ("http://radicale.org/ns/sync/" + "0" * 64, "garbage", "http://radicale.org/ns/sync/x-3"):
            answer = compare(pair, user, path, sync_body(token, PROPS["getetag"]), f"{user} {path} {token}")
            assert dav.rejects_token(answer)


def test_someone_without_access_is_refused_as_radicale_refuses_them(pair: Pair) -> None:
    for path in (calendar("alice"), book("alice"), calendar("dave"), "/dave/nothing/"):
        compare(pair, "dave", path, sync_body("", PROPS["getetag"]), f"dave on {path}")
    compare(pair, "", calendar("alice"), sync_body("", PROPS["getetag"]), "anonymous")
