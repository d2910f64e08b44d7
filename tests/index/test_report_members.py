"""sync-collection, and calendar-query and addressbook-query asking only for ETags, with their members written
from the item index (radicale_ext/plugins/handlers/report_members.py), answer what Radicale's own path
answers (a sync-collection byte for byte, a query response for response), for every role, on files and on
PostgreSQL.

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
(Radicale's own path on both), with DAV:limit, behind a reverse proxy's prefix, for alice on her paths,
bob and carol through their mounts and on alice's paths.  The same steps ask calendar-queries (a week, a
day, a year, with an alarm's time range, with calendar-data or an expand: Radicale's own path on both) and
addressbook-queries (a name, a phone number, a note, anyof and allof) of both.
"""

from __future__ import annotations

import configparser
import random
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

import psycopg
import pytest
import requests

from radicale_ext.index.item_index import RACY_NS

from .. import dav_kit as dav
from ..samples import address_book_mkcol
from ..server import Server, free_port, make_server

CALENDAR = "Fußball 家庭 🎉"
BOOK = "Kontakte Müller 📇"
EVENT_NAMES = ["Geburtstag Jürgen.ics", "家庭聚会.ics", "🎂 Party am See.ics", "50% Rabatt.ics", "a+b&c=d.ics",
               "Straße (neu).ics", "plain.ics", "x%41y.ics"]
CARD_NAMES = ["Zhāng Wěi 张伟.vcf", "Jörg Müller.vcf", "🙂 smiley.vcf", "100% sicher.vcf"]
ME = "alice me.vcf"
STEPS = 8
PROPS = {
    "getetag": "<D:getetag/>",
    "getetag+getcontenttype": "<D:getetag/><D:getcontenttype/>",
    "not in a REPORT": "<D:getcontenttype/><D:resourcetype/><D:getetag/><D:getlastmodified/><D:displayname/>",
    "none": "",
}
DATA = {"calendar": '<C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav"/>',
        "book": '<CR:address-data xmlns:CR="urn:ietf:params:xml:ns:carddav"/>'}
LIMIT = "<D:limit><D:nresults>1</D:nresults></D:limit>"
PROXY_PREFIX = "/dav&co 1"   # a reverse proxy's X-Script-Name (Radicale's base prefix): quoted, escaped


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


CALDAV_NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
CARDDAV_NS = 'xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"'
# time ranges around the events' 10 March 2026 19:00-21:00 Berlin (18:00-20:00 UTC)
TIME_RANGES = {"the week": ("20260309T000000Z", "20260316T000000Z"), "the evening before": ("20260309T000000Z",
               "20260310T180000Z"), "its last minute": ("20260310T195900Z", "20260310T200000Z"),
               "the year": ("20260101T000000Z", "20270101T000000Z"), "a later week": ("20260316T000000Z",
                                                                                      "20260323T000000Z")}
CARD_FILTERS = {
    "FN contains Müller": '<CR:prop-filter name="FN"><CR:text-match match-type="contains">müller</CR:text-match>'
                          "</CR:prop-filter>",
    "TEL contains 1234": '<CR:prop-filter name="TEL"><CR:text-match match-type="contains">1234</CR:text-match>'
                         "</CR:prop-filter>",
    "NOTE contains 🔑": '<CR:prop-filter name="NOTE"><CR:text-match match-type="contains">🔑</CR:text-match>'
                       "</CR:prop-filter>",
    "FN starts with 张": '<CR:prop-filter name="FN"><CR:text-match match-type="starts-with">张</CR:text-match>'
                        "</CR:prop-filter>",
}


def calendar_query(props: str, start: str, end: str, extra: str = "", component: str = "VEVENT") -> str:
    return (dav.HEAD + f"<C:calendar-query {CALDAV_NS}><D:prop>{props}</D:prop><C:filter>"
            f'<C:comp-filter name="VCALENDAR"><C:comp-filter name="{component}"><C:time-range start="{start}" '
            f'end="{end}"/>{extra}</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>')


def card_query(props: str, filters: list[str], test: str = "anyof") -> str:
    return (dav.HEAD + f'<CR:addressbook-query {CARDDAV_NS}><D:prop>{props}</D:prop><CR:filter test="{test}">'
            f'{"".join(filters)}</CR:filter></CR:addressbook-query>')


def queries(rng: random.Random, kind: str) -> list[tuple[str, str]]:
    """A few queries of a calendar or an address book, each with what it asks."""
    props = rng.choice([PROPS["getetag"], PROPS["getetag+getcontenttype"], PROPS["not in a REPORT"]])
    if kind == "calendar":
        name = rng.choice(sorted(TIME_RANGES))
        start, end = TIME_RANGES[name]
        return [(f"calendar-query, {name}", calendar_query(props, start, end)),
                ("calendar-query, an alarm in the week", calendar_query(
                    props, *TIME_RANGES["the week"], '<C:comp-filter name="VALARM"><C:time-range start="'
                    f'{TIME_RANGES["the week"][0]}" end="{TIME_RANGES["the week"][1]}"/></C:comp-filter>')),
                ("calendar-query, with calendar-data", calendar_query("<D:getetag/>" + DATA[kind], start, end)),
                ("calendar-query, with an expand", calendar_query(
                    f'<D:getetag/><C:calendar-data><C:expand start="{start}" end="{end}"/></C:calendar-data>',
                    start, end)),
                ("calendar-query, VTODO", calendar_query(props, start, end, component="VTODO"))]
    names = rng.sample(sorted(CARD_FILTERS), 2)
    return [(f"addressbook-query, {names[0]}", card_query(props, [CARD_FILTERS[names[0]]])),
            (f"addressbook-query, anyof {names}", card_query(props, [CARD_FILTERS[n] for n in names])),
            (f"addressbook-query, allof {names}", card_query(props, [CARD_FILTERS[n] for n in names], "allof")),
            ("addressbook-query, with address-data", card_query("<D:getetag/>" + DATA[kind],
                                                                [CARD_FILTERS[names[0]]]))]


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

    def both(self, user: str, path: str, body: str, **more: str) -> tuple[requests.Response, requests.Response]:
        headers = {"Content-Type": "application/xml; charset=utf-8", "Depth": "1", **more}
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


def canonical(content: bytes) -> list[bytes]:
    """A multistatus as a sorted list of its children written again (a multistatus has no order)."""
    root = ET.fromstring(content)
    return sorted(ET.tostring(child) for child in root)


def compare(pair: Pair, user: str, path: str, body: str, what: str, any_order: bool = False,
            **headers: str) -> requests.Response:
    """The same request to both processes: the same answer, byte for byte (a multistatus's responses in any
    order with ``any_order``: a query's members from the index follow Radicale's own)."""
    fast, slow = pair.both(user, path, body, **headers)
    assert (fast.status_code, fast.headers.get("Content-Type")) == (slow.status_code, slow.headers.get(
        "Content-Type")), what
    shown = f"{what}\nindex:    {fast.text}\nradicale: {slow.text}"
    if any_order and fast.status_code == 207:
        assert canonical(fast.content) == canonical(slow.content), shown
    else:
        assert fast.content == slow.content, shown
    return fast


def test_queries_from_the_index_answer_what_radicale_answers(pair: Pair) -> None:
    rng = random.Random(29)
    found = 0
    for number in range(STEPS + 1):
        done = step(pair, rng, number) if number else "the start"
        for user, kind, path in VIEWS:
            for what, body in queries(rng, kind):
                answer = compare(pair, user, path, body, f"after {done}: {user} {unquote(path)} {what}", any_order=True)
                found += len(dav.responses(answer.content)) if answer.status_code == 207 else 0
    assert found > 100, f"only {found} responses: the queries must find members"


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
            compare(pair, user, path, sync_body(rng.choice(["", *issued[-1:]]), PROPS[rng.choice(sorted(PROPS))]),
                    f"after {done}: behind a proxy", **{"X-Script-Name": PROXY_PREFIX})
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
    week = calendar_query(PROPS["getetag"], *TIME_RANGES["the week"])
    named = card_query(PROPS["getetag"], [CARD_FILTERS["FN contains Müller"]])
    for path in (calendar("alice"), book("alice"), calendar("dave"), "/dave/nothing/"):
        compare(pair, "dave", path, sync_body("", PROPS["getetag"]), f"dave on {path}")
        compare(pair, "dave", path, week if "book" not in path else named, f"dave's query on {path}")
    compare(pair, "", calendar("alice"), sync_body("", PROPS["getetag"]), "anonymous")
    compare(pair, "", calendar("alice"), week, "anonymous query")


# -- each reader gets their own ETags --------------------------------------------------------------------


def synced_etags(server: Server, user: str, path: str, token: str = "") -> tuple[str, dict[str, str], set[str]]:
    answer = dav.parse_sync(server.request("REPORT", path, user, sync_body(token, PROPS["getetag+getcontenttype"]),
                                           headers={"Depth": "1"}))
    assert not answer.duplicates
    return answer.token, answer.found, answer.gone


def etag_of(server: Server, user: str, href: str) -> str:
    """The ETag ``user`` gets with a GET of ``href`` (Radicale's path: the item read as they see it)."""
    r = server.request("GET", href, user)
    assert r.status_code == 200, (user, href, r.status_code)
    return r.headers["ETag"]


def listed_types(server: Server, user: str, path: str) -> dict[str, tuple[str | None, str | None]]:
    r = server.request("PROPFIND", path, user, dav.HEAD + '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
                       "<D:getcontenttype/></D:prop></D:propfind>", headers={"Depth": "1"})
    return {href: (dav.found_prop(element, "{DAV:}getetag"), dav.found_prop(element, "{DAV:}getcontenttype"))
            for href, element in dav.responses(r.content) if not href.endswith("/")}


def test_each_reader_gets_their_own_etags_through_every_path(pair: Pair) -> None:
    server, rng = pair.index, random.Random(5)
    training, party = EVENT_NAMES[0], EVENT_NAMES[2]
    for name in (training, party):
        put(server, calendar("alice") + quote(name), "alice", event(f"uid-{name}", f"{name} 🎉", "-PT30M"))
    put(server, book("alice") + quote(ME), "alice", card("alice-me", "Alice Müller (米勒爱丽丝)"), "text/vcard")
    server.ok("card", "share", "--user", "bob", "--fields", "FN, TEL", acting_as="alice")
    for user, name in (("bob", training), ("carol", party)):   # each their own alarm, on one event each
        href = calendar(user) + quote(name)
        text = server.request("GET", href, user).text.replace("TRIGGER:-PT30M", f"TRIGGER:-PT{len(user)}H")
        r = server.request("PUT", href, user, text, headers={"Content-Type": "text/calendar; charset=utf-8",
                                                             "If-Match": etag_of(server, user, href)})
        assert r.status_code == 204, (user, r.status_code, r.text)

    tokens: dict[tuple[str, str], str] = {}
    seen: dict[tuple[str, str], str] = {}   # (user, item name) -> the ETag their sync gave them
    for user, kind, path in VIEWS:
        token, found, _gone = synced_etags(server, user, path)
        tokens[user, path] = token
        assert found, (user, path)
        for href, etag in found.items():
            assert etag == etag_of(server, user, href), f"{user} syncs {unquote(href)} with another ETag than GET"
            seen.setdefault((user, unquote(href).rsplit("/", 1)[1]), etag)
        if kind == "book":   # the me card: bob sees it projected, carol not at all
            assert any(unquote(h).endswith(ME) for h in found) == (user != "carol"), (user, path)
    assert seen["bob", training] != seen["alice", training] == seen["carol", training]
    assert seen["carol", party] != seen["alice", party] == seen["bob", party]
    assert seen["bob", ME] != seen["alice", ME]
    # the projection's getcontenttype is Radicale's for it, in the depth-1 listing from the index too
    assert listed_types(server, "bob", book("bob")) == listed_types(pair.radicale, "bob", book("bob"))

    # alice moves the training: everyone's sync reports it, each with their ETag
    put(server, calendar("alice") + quote(training), "alice", event(f"uid-{training}", "verlegt 🏃", "-PT30M"))
    for user, kind, path in VIEWS:
        token, found, gone = synced_etags(server, user, path, tokens[user, path])
        if kind == "calendar":
            assert [unquote(h).rsplit("/", 1)[1] for h in found] == [training] and not gone, (user, path, found)
            assert all(etag == etag_of(server, user, href) for href, etag in found.items())
        tokens[user, path] = token
    assert etag_of(server, "bob", calendar("bob") + quote(training)) != etag_of(
        server, "alice", calendar("alice") + quote(training))

    # bob changes his own alarm: his sync reports it, nobody else's
    href = calendar("bob") + quote(training)
    text = server.request("GET", href, "bob").text.replace("TRIGGER:-PT3H", f"TRIGGER:-PT{rng.randrange(4, 9)}H")
    r = server.request("PUT", href, "bob", text, headers={"Content-Type": "text/calendar; charset=utf-8",
                                                          "If-Match": etag_of(server, "bob", href)})
    assert r.status_code == 204, r.text
    for user, kind, path in VIEWS:
        if kind == "calendar":
            _token, found, gone = synced_etags(server, user, path, tokens[user, path])
            assert not gone and set(found) == ({path + quote(training)} if user == "bob" else set()), (user, path)
            assert all(etag == etag_of(server, user, href) for href, etag in found.items())


# -- the members come from the index: no item is read ------------------------------------------------------


@dataclass
class ItemReads:
    """How often the server read an item's text: Radicale's item cache logs each item file read at debug
    level (``[logging] storage_cache_actions_on_debug``); on PostgreSQL, the database logs each statement
    (``log_statement = all``) and a text is read only by ``SELECT ... text FROM dav_items``."""

    log: Path
    marker: str

    def count(self) -> int:
        return self.log.read_text(errors="replace").count(self.marker)


def test_sync_and_a_query_write_their_members_without_reading_an_item(storage_backend: dict[str, dict[str, str]],
                                                          tmp_path: Path, request: pytest.FixtureRequest) -> None:
    overrides: dict[str, dict[str, str]] = {"logging": {"level": "debug", "storage_cache_actions_on_debug": "True"}}
    if storage_backend:
        cluster = request.getfixturevalue("postgres")
        dsn = request.getfixturevalue("postgres_database")
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{dsn.rsplit("/", 1)[1]}" SET log_statement = \'all\'')
        overrides["storage"] = {"postgresql_dsn": dsn, "postgresql_pool_size": "2"}
    server = make_server(tmp_path / "index", **overrides).start()
    radicale = second_process(server, tmp_path / "radicale")
    try:
        radicale.start()
        reads = (ItemReads(cluster.folder / "log", "text FROM dav_items") if storage_backend
                 else ItemReads(server.root / "server.log", "Item cache"))
        radicale_reads = reads if storage_backend else ItemReads(radicale.root / "server.log", "Item cache")
        path = calendar("alice")
        assert server.request("MKCALENDAR", path, "alice").status_code == 201
        for name in EVENT_NAMES:
            put(server, path + quote(name), "alice", event(f"uid-{name}", name))
        token = dav.parse_sync(dav.sync(server, path, "alice")).token
        put(server, path + quote(EVENT_NAMES[0]), "alice", event(f"uid-{EVENT_NAMES[0]}", "geändert"))
        assert server.request("DELETE", path + quote(EVENT_NAMES[1]), "alice").status_code == 200
        time.sleep(RACY_NS / 1e9 + 0.5)   # the index re-reads a file written within RACY_NS of its indexing
        for who in (server, radicale):
            dav.ctag(who, path, "alice")

        def answered(who: Server, item_reads: ItemReads, body: str) -> tuple[bytes, int]:
            before = item_reads.count()
            r = who.request("REPORT", path, "alice", body, headers={"Depth": "1"})
            assert r.status_code == 207, r.text
            return r.content, item_reads.count() - before

        for token_asked in ("", token):
            body = sync_body(token_asked, PROPS["getetag+getcontenttype"])
            content, read = answered(server, reads, body)
            assert read == 0, f"the index's answer read {read} items"
            same, radicale_read = answered(radicale, radicale_reads, body)
            assert same == content and radicale_read > 0, "Radicale's path reads the members, to the same answer"
        content, read = answered(server, reads, sync_body(token, PROPS["getetag"] + DATA["calendar"]))
        assert read > 0 and b"BEGIN:VCALENDAR" in content, "calendar-data stays Radicale's"

        # a week's calendar-query asking ETags: the index decides, no event's file is read
        week = calendar_query(PROPS["getetag+getcontenttype"], *TIME_RANGES["the week"])
        content, read = answered(server, reads, week)
        assert read == 0, f"the index's answer to a week's query read {read} items"
        assert len(dav.responses(content)) == len(EVENT_NAMES) - 1
        same, radicale_read = answered(radicale, radicale_reads, week)
        assert canonical(same) == canonical(content) and radicale_read > 0
        content, read = answered(server, reads, calendar_query("<D:getetag/>" + DATA["calendar"],
                                                               *TIME_RANGES["the week"]))
        assert read > 0 and content.count(b"BEGIN:VCALENDAR") == len(EVENT_NAMES) - 1, "calendar-data: read"
    finally:
        radicale.stop()
        server.stop()
