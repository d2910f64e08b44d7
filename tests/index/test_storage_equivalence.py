"""Our storage answers as stock Radicale's multifilesystem does.

One seeded random sequence of PUT, DELETE, MOVE (within a collection and
between two calendars) and PROPPATCH, on two calendars (events timed, all-day,
recurring, without DTEND, with overridden instances, in a time zone, tasks)
and an address book (random cards), with the second calendar deleted and made
again once, runs against a stock ``python -m radicale`` and against ours;
after every step the same queries go to both and the answers are compared,
multistatus bodies normalised for order: PROPFIND depth 0 and 1,
calendar-query with time-ranges (mostly with an edge at or next to a time an
item has; one with expand), calendar-multiget, addressbook-query (FN/EMAIL
text-match of every match-type, both collations, negate-condition,
anyof/allof), addressbook-multiget and GET of some hrefs.

Values that differ by design between two servers (the last-modified time, the
ctag, sync tokens, which start from random history) are left out of the
comparison; our ctag is compared with stock Radicale's collection ETag of our
own folder instead (``dav_kit.stock_state``; on PostgreSQL, of our rows).  The
whole sequence runs once on each of our storages: files and PostgreSQL.  Sync tokens are opaque, so
sync-collection is checked by its rules: each server's client keeps a token
and a copy; stock's reported set is a subset of ours, every href reported is
right (200 with the current ETag, or 404 when gone) and applying the answer
makes the copy equal to the listing; an initial sync lists exactly the
members; an older token of ours gives a correct answer or 403; a token stock
issued, or garbage, gets 403 DAV:valid-sync-token from ours.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .. import dav_kit as dav
from ..samples import address_book_mkcol
from ..server import Server, free_port, make_server, wait_until_listening, write_users

CAL = "/alice/eq/"
CAL2 = "/alice/eq2/"  # items move between the two calendars; this one is also deleted and made again
BOOK = "/alice/eqbook/"
COLLECTIONS = (CAL, CAL2, BOOK)
EVENTS = [f"{CAL}e{n}.ics" for n in range(8)]
EVENTS2 = [f"{CAL2}m{n}.ics" for n in range(4)]
CARDS = [f"{BOOK}c{n}.vcf" for n in range(6)]
SKIPPED = {"{DAV:}getlastmodified", "{DAV:}sync-token", "{http://calendarserver.org/ns/}getctag"}
STEPS = 30
RECREATE_AT = (25,)

PROPFIND = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><D:displayname/><D:resourcetype/><D:getcontenttype/></D:prop>
</D:propfind>"""
PROPPATCH = """<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>{name}</D:displayname></D:prop></D:set>
</D:propertyupdate>"""


class StockServer(Server):
    """Stock Radicale (``python -m radicale``), owner_only rights, plain multifilesystem."""

    def start(self) -> StockServer:
        self.config.write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\n[auth]\ntype = htpasswd\n"
            f"htpasswd_filename = {self.root / 'data' / 'users'}\nhtpasswd_encryption = bcrypt\ndelay = 0\n"
            f"[rights]\ntype = owner_only\n[storage]\nfilesystem_folder = {self.root / 'data' / 'collections'}\n"
            "[logging]\nlevel = warning\n")
        log = open(self.root / "server.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(self.config)],
                                     cwd=self.root, stdout=log, stderr=subprocess.STDOUT)
        wait_until_listening(self)
        return self


@pytest.fixture(scope="module")
def servers(storage_backend: dict[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Server, Server]]:
    """Stock Radicale, and ours on each storage (files; PostgreSQL: docs/scale-out.md)."""
    root: Path = tmp_path_factory.mktemp("equivalence")
    ours = make_server(root / "ours", **storage_backend).start()
    (root / "stock").mkdir()
    write_users(root / "stock" / "data" / "users", ("alice",))
    stock = StockServer(root=root / "stock", port=free_port(), config=root / "stock" / "radicale.ini")
    try:
        stock.start()
        yield stock, ours
    finally:
        ours.stop()
        stock.stop()


def collections_folder(server: Server) -> Path:
    return server.root / "data" / "collections"


def stored_state(server: Server, path: str) -> tuple[str, dict[str, str]]:
    """(collection ETag, {href: item ETag}) as stock Radicale computes them for what ``server`` stored:
    from its folder, or on PostgreSQL from its rows, through Radicale's own ``BaseCollection.etag``."""
    dsn = server_dsn(server)
    if not dsn:
        return dav.stock_state(collections_folder(server), path)
    return dav.stock_state_of_rows(dsn, path)


def without_collection_etags(answered: dict[str, object]) -> dict[str, object]:
    """The answers with each collection's DAV:getetag left out (compared through ``stored_state`` instead)."""
    kept: dict[str, object] = {}
    for key, value in answered.items():
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
            value = (value[0], {href: {k: v for k, v in props.items() if not (href.endswith("/") and
                                                                                k == "{DAV:}getetag")}
                                for href, props in value[1].items()})
        kept[key] = value
    return kept


def server_dsn(server: Server) -> str:
    import configparser

    parser = configparser.RawConfigParser()
    parser.read(server.config)
    return parser.get("storage", "postgresql_dsn", fallback="")


def normalised(body: bytes) -> dict[str, dict[str, str]] | str:
    """A multistatus as {href: {"status" or property: text}}, order-free (anything else as it is)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return body.decode(errors="replace")
    found_responses: dict[str, dict[str, str]] = {}
    for response in root.findall("{DAV:}response"):
        href = response.findtext("{DAV:}href") or ""
        found: dict[str, str] = {"status": response.findtext("{DAV:}status") or ""}
        for propstat in response.findall("{DAV:}propstat"):
            status = propstat.findtext("{DAV:}status") or ""
            prop_element = propstat.find("{DAV:}prop")
            for prop in prop_element if prop_element is not None else []:
                if prop.tag not in SKIPPED:
                    found[prop.tag] = status + " " + (prop.text or "").strip() + "".join(
                        sorted(child.tag for child in prop))
        assert href not in found_responses, f"{href} answered twice"
        found_responses[href] = found
    return found_responses


# -- what the sequence writes ----------------------------------------------------

VTIMEZONE = ("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
             "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n"
             "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
             "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n")
# Outlook's name for Berlin's rules: no zone library knows it, only the VTIMEZONE says what it is
VTIMEZONE_OUTLOOK = VTIMEZONE.replace("TZID:Europe/Berlin", "TZID:W. Europe Standard Time")
# offset zero in winter: vobject's own check of the zone against UTC runs (radicale_ext.base.vobject_zones)
VTIMEZONE_LONDON = ("BEGIN:VTIMEZONE\r\nTZID:Europe/London\r\nBEGIN:STANDARD\r\nDTSTART:19701025T020000\r\n"
                    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0000\r\n"
                    "TZNAME:GMT\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T010000\r\n"
                    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nTZOFFSETFROM:+0000\r\nTZOFFSETTO:+0100\r\n"
                    "TZNAME:BST\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n")
# a zone that is UTC under another name: vobject registers no zone for it
VTIMEZONE_UTC = ("BEGIN:VTIMEZONE\r\nTZID:Etc/UTC\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
                 "TZOFFSETFROM:+0000\r\nTZOFFSETTO:+0000\r\nTZNAME:UTC\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")


#: descriptions, none or long: one- to four-octet characters, escapes, lines around the 75-octet fold
NOTES = ["", "", "Elternabend Klasse 3b\\, Raum 家庭 🎉\\; danach Grillen bei Müllers " * 3,
         "x" * 62, "ü" * 40, "家" * 30 + "🎂" * 10, "Zeile 1\\nZeile 2 " + "Straße " * 12]


def calendar_object(rng: random.Random, uid: str, summary: str) -> str:
    """A random VEVENT or VTODO in January to March 2026, of one of many shapes."""
    month, day, hour = rng.randrange(1, 4), rng.randrange(1, 26), rng.randrange(0, 21)
    at = f"2026{month:02d}{day:02d}T{hour:02d}{rng.choice(['00', '30'])}00"
    date = at[:8]
    next_date = f"2026{month:02d}{day + rng.randrange(1, 4):02d}"
    kind = rng.choice(["dtend", "duration", "no-dtend", "all-day", "all-day-no-dtend", "weekly-count",
                       "daily-until", "monthly-forever", "yearly-all-day", "override", "floating", "tzid",
                       "tzid-london", "tzid-utc", "tzid-outlook", "tzid-without-vtimezone",
                       "todo-start-due", "todo-due", "todo-start", "todo-start-duration", "todo-completed",
                       "todo-bare"])
    zone = ""
    lines = [f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"SUMMARY:{summary}"]
    notes = rng.choice(NOTES)
    if notes:   # a long line, folded where vobject folds it (radicale_ext/base/vobject_lines.py)
        lines.append(f"DESCRIPTION:{notes}")
    component = "VTODO" if kind.startswith("todo") else "VEVENT"
    extra = ""
    if kind == "dtend":
        lines += [f"DTSTART:{at}Z", f"DTEND:{at[:9]}{min(hour + rng.randrange(1, 5), 23):02d}0000Z"]
    elif kind == "duration":
        lines += [f"DTSTART:{at}Z", f"DURATION:PT{rng.randrange(1, 50)}H"]
    elif kind == "no-dtend":
        lines += [f"DTSTART:{at}Z"]
    elif kind == "all-day":
        lines += [f"DTSTART;VALUE=DATE:{date}", f"DTEND;VALUE=DATE:{next_date}"]
    elif kind == "all-day-no-dtend":
        lines += [f"DTSTART;VALUE=DATE:{date}"]
    elif kind == "weekly-count":
        lines += [f"DTSTART:{at}Z", "DURATION:PT1H", f"RRULE:FREQ=WEEKLY;COUNT={rng.randrange(2, 6)}"]
    elif kind == "daily-until":
        lines += [f"DTSTART:{at}Z", "DURATION:PT30M", f"RRULE:FREQ=DAILY;UNTIL=2026{month:02d}{day + 3:02d}T235959Z",
                  f"EXDATE:2026{month:02d}{day + 1:02d}T{at[9:]}Z"]
    elif kind == "monthly-forever":
        lines += [f"DTSTART:{at}Z", "DURATION:PT2H", "RRULE:FREQ=MONTHLY"]
    elif kind == "yearly-all-day":
        lines += [f"DTSTART;VALUE=DATE:2020{date[4:]}", "DURATION:P1D", "RRULE:FREQ=YEARLY"]
    elif kind == "override":
        lines += [f"DTSTART:{at}Z", "DURATION:PT1H", "RRULE:FREQ=WEEKLY;COUNT=4"]
        moved = f"2026{month + 1:02d}{day:02d}T{at[9:]}Z"
        second = f"2026{month:02d}{day + 7:02d}T{at[9:]}Z" if day + 7 <= 28 else f"2026{month + 1:02d}01T000000Z"
        extra = (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:{second}\r\n"
                 f"DTSTART:{moved}\r\nDURATION:PT1H\r\nSUMMARY:{summary} (moved)\r\nEND:VEVENT\r\n")
        if not second.startswith(f"2026{month:02d}"):
            extra = ""
    elif kind == "floating":
        lines += [f"DTSTART:{at}", f"DTEND:{at[:9]}{min(hour + 1, 23):02d}5900"]
    elif kind == "tzid":
        zone = VTIMEZONE
        lines += [f"DTSTART;TZID=Europe/Berlin:{at}", "DURATION:PT3H"]
    elif kind == "tzid-london":
        zone = VTIMEZONE_LONDON
        lines += [f"DTSTART;TZID=Europe/London:{at}", f"DTEND;TZID=Europe/London:{at[:9]}{min(hour + 2, 23):02d}0000",
                  "RRULE:FREQ=WEEKLY;COUNT=3"]
    elif kind == "tzid-outlook":
        zone = VTIMEZONE_OUTLOOK
        lines += [f"DTSTART;TZID=W. Europe Standard Time:{at}", "DURATION:PT2H", "RRULE:FREQ=DAILY;COUNT=3"]
    elif kind == "tzid-without-vtimezone":   # the server writes the VTIMEZONE (radicale_ext/base/vobject_zones.py)
        lines += [f"DTSTART;TZID=America/New_York:{at}", "DURATION:PT1H"]
    elif kind == "tzid-utc":
        zone = VTIMEZONE_UTC
        lines += [f"DTSTART;TZID=Etc/UTC:{at}", "DURATION:PT1H"]
    elif kind == "todo-start-due":
        lines += [f"DTSTART:{at}Z", f"DUE:{next_date}T120000Z"]
    elif kind == "todo-due":
        lines += [f"DUE:{at}Z"]
    elif kind == "todo-start":
        lines += [f"DTSTART:{at}Z"]
    elif kind == "todo-start-duration":
        lines += [f"DTSTART:{at}Z", f"DURATION:P{rng.randrange(1, 9)}D"]
    elif kind == "todo-completed":
        lines += [f"COMPLETED:{at}Z", "CREATED:20251220T000000Z"]
    body = "\r\n".join(lines)
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{zone}BEGIN:{component}\r\n{body}\r\n"
            f"END:{component}\r\n{extra}END:VCALENDAR\r\n")


NAMES = ["Anna Smith", "anna smythe", "Ånne Ångström", "Bob Anders", "BOB SMITH", "Chloé Martin", "Dan Annandale",
         "Eve O'Smith", "Zoë Ånnsdóttir", "smith", "Jörg Müller-Straße", "ΟΔΥΣΣΕΑΣ Παπαδόπουλος", "王 小明",
         "Smith\\, Anna", "🎂 Ännchen"]
EMAILS = ["anna@example.org", "ANNA@EXAMPLE.ORG", "bob.work@example.net", "chloe@Example.org", "dan@work.example",
          "eve@example.org", "zoe@annex.example", "smith@example.net"]


def random_card(rng: random.Random, uid: str) -> str:
    name = rng.choice(NAMES)
    emails = "".join(f"EMAIL;TYPE={rng.choice(['HOME', 'WORK'])}:{e}\r\n"
                     for e in rng.sample(EMAILS, rng.randrange(0, 3)))
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name.split()[-1]};{name.split()[0]};;;\r\n"
            f"{emails}END:VCARD\r\n")


CARD_QUERIES = [
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("ann"))),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("anna smith", match_type="equals"))),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("Anna Smith", match_type="equals",
                                                               collation="i;octet"))),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("ÅN", match_type="starts-with",
                                                               collation="i;unicode-casemap"))),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("bob", match_type="starts-with",
                                                               collation="i;octet"))),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("SMITH", match_type="ends-with"))),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("smith", negate=True))),
    dav.addressbook_query(dav.prop_filter("EMAIL", dav.text_match("@EXAMPLE.ORG", collation="i;octet"))),
    dav.addressbook_query(dav.prop_filter("EMAIL", dav.text_match("@example.org"))),
    dav.addressbook_query(dav.prop_filter("EMAIL", dav.text_match("anna@example.org", match_type="equals"))),
    dav.addressbook_query(dav.prop_filter("EMAIL", dav.text_match("example", negate=True))),
    dav.addressbook_query(dav.prop_filter("EMAIL")),
    dav.addressbook_query(dav.prop_filter("EMAIL", "<CR:is-not-defined/>")),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("bob"), dav.text_match("zoë"), test="anyof")),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("an"), dav.text_match("smith"), test="allof")),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("smith")),
                          dav.prop_filter("EMAIL", dav.text_match(".net")), test="anyof"),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("smith")),
                          dav.prop_filter("EMAIL", dav.text_match(".net")), test="allof"),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("a", match_type="starts-with", negate=True)),
                          dav.prop_filter("EMAIL", dav.text_match("ANNA", match_type="starts-with")), test="anyof"),
    # names where lowering and case folding part ways (ß, final sigma), escapes, CJK, emoji
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("STRASSE"))),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("straße"))),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("ΑΣ"))),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("ΑΣ", collation="i;octet"))),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("σ", match_type="ends-with"))),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("smith, anna", match_type="equals"))),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("王"))),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("🎂", match_type="starts-with"))),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("anna")), dav.prop_filter("FN", dav.text_match("bob")),
                          test="anyof"),
    dav.addressbook_query(dav.prop_filter("FN", dav.text_match("anna")),
                          dav.prop_filter("FN", dav.text_match("smith", match_type="ends-with")), test="allof"),
]

WINDOWS: list[tuple[str | None, str | None]] = [
    ("20260101T000000Z", "20260108T000000Z"),
    ("20260110T120000Z", "20260111T000000Z"),
    ("20260201T000000Z", "20260301T000000Z"),
    ("20250101T000000Z", "20270101T000000Z"),
    ("20260315T000000Z", None),
    (None, "20260105T000000Z"),
    ("20260601T000000Z", "20260701T000000Z"),
]


MOMENT = re.compile(r"^(?:DTSTART|DTEND|DUE|COMPLETED|RECURRENCE-ID|EXDATE)[^:]*:(\d{8})(?:T(\d{6}))?", re.M)


def moments_of(text: str) -> list[datetime]:
    """The times written in an item (as UTC, whatever zone they had): where time-range edges matter."""
    return [datetime.strptime(day + (time_ or "000000"), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
            for day, time_ in MOMENT.findall(text.replace("\r\n", "\n"))]


def utc(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def random_window(rng: random.Random, texts: dict[str, str]) -> tuple[str, str | None, str | None]:
    """(calendar, start, end): a fixed window, a random one, or (mostly) one whose edges are at or next
    to a time of an item of that calendar (``texts``: href: text of the items there now)."""
    choice = rng.random()
    path = rng.choice([CAL, CAL2])
    if choice < 0.15:
        return (path, *rng.choice(WINDOWS))
    events = sorted(h for h in texts if h.endswith(".ics"))
    if choice < 0.25 or not events:
        month, day = rng.randrange(1, 5), rng.randrange(1, 28)
        return path, f"2026{month:02d}{day:02d}T{rng.randrange(24):02d}0000Z", \
            f"2026{month:02d}{day + rng.randrange(1, 3):02d}T{rng.randrange(24):02d}0000Z"
    href = rng.choice(events)
    moments = moments_of(texts[href]) or [datetime(2026, 1, 1, tzinfo=UTC)]
    start = rng.choice(moments) + timedelta(minutes=rng.choice([-120, -60, -30, -1, 0, 0, 1, 30, 60, 120, 1440]))
    length = timedelta(minutes=rng.choice([1, 30, 60, 60, 120, 1440, 10080]))
    return href.rsplit("/", 1)[0] + "/", utc(start), utc(start + length)


@dataclass
class Step:
    method: str
    path: str
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    label: str = ""


def random_steps(rng: random.Random, step: int, texts: dict[str, str]) -> list[Step]:
    """One random change; ``texts`` are the items where they are now, so that a PUT replaces an item with
    its own UID."""

    def uid(href: str) -> str:
        found = re.search(r"\nUID:([^\r\n]*)", texts.get(href, ""))
        return found.group(1) if found else f"uid-{step}-{href.rsplit('/', 1)[1]}"

    def pick(hrefs: list[str], present: bool) -> str:
        """Mostly an href that holds an item (``present``) or one that does not; sometimes any."""
        wanted = [h for h in hrefs if (h in texts) == present]
        return rng.choice(wanted if wanted and rng.random() < 0.8 else hrefs)

    def move(here: list[str], there: list[str], label: str) -> list[Step]:
        return [Step("MOVE", pick(here, True), headers={"Destination": pick(there, False),
                                                        "Overwrite": rng.choice(["T", "F"])}, label=label)]

    if rng.random() < 0.3:
        kind = rng.choice(["put", "put", "delete", "move"])
        if kind == "put":
            href = rng.choice(CARDS)
            return [Step("PUT", href, random_card(rng, uid(href)), dav.VCF, "PUT")]
        if kind == "delete":
            return [Step("DELETE", pick(CARDS, True), label="DELETE")]
        return move(CARDS, CARDS, "MOVE")
    events = rng.choice([EVENTS, EVENTS, EVENTS2])
    kind = rng.choice(["put", "put", "put", "delete", "move", "move-across", "proppatch"])
    if kind == "put":
        href = rng.choice(events)
        return [Step("PUT", href, calendar_object(rng, uid(href), f"step {step}"), dav.ICS, "PUT")]
    if kind == "delete":
        return [Step("DELETE", pick(events, True), label="DELETE")]
    if kind == "move":
        return move(events, events, "MOVE")
    if kind == "move-across":
        return move(events, EVENTS2 if events is EVENTS else EVENTS, "MOVE to another calendar")
    return [Step("PROPPATCH", rng.choice([CAL, CAL2, BOOK]), PROPPATCH.format(name=f"name {step}"),
                 label="PROPPATCH")]


def applied(texts: dict[str, str], s: Step) -> None:
    """Follow a successful step in ``texts`` (href: text of the item there)."""
    if s.method == "PUT":
        texts[s.path] = s.body or ""
    elif s.method == "DELETE":
        for href in [h for h in texts if h.startswith(s.path)]:
            del texts[href]
    elif s.method == "MOVE":
        texts[s.headers["Destination"]] = texts.pop(s.path)


# -- the comparison -------------------------------------------------------------------


def answers(server: Server, rng: random.Random, texts: dict[str, str]) -> dict[str, object]:
    """What the server answers to this step's queries; ``rng`` (seeded the same for both servers) picks them."""
    got: dict[str, object] = {}
    for path in COLLECTIONS:
        for depth in ("0", "1"):
            r = server.request("PROPFIND", path, "alice", PROPFIND, headers={"Depth": depth})
            got[f"propfind {path} {depth}"] = (r.status_code, normalised(r.content))
    for n in range(2):
        path, start, end = random_window(rng, texts)
        for component in ("VEVENT", "VTODO"):
            r = server.request("REPORT", path, "alice", dav.calendar_query(component, start, end),
                               headers={"Depth": "1"})
            got[f"calendar-query {path} {component} {start} {end}"] = (r.status_code, normalised(r.content))
        if n == 0 and start and end:
            r = server.request("REPORT", CAL, "alice", dav.calendar_query("VEVENT", start, end, expand=True),
                               headers={"Depth": "1"})
            got[f"calendar-query expand {start} {end}"] = (r.status_code, normalised(r.content))
    wanted = rng.sample(EVENTS, rng.randrange(1, len(EVENTS))) + [f"{CAL}missing.ics", f"{CAL}.Radicale.props"]
    r = server.request("REPORT", CAL, "alice", dav.calendar_multiget(wanted), headers={"Depth": "1"})
    got["calendar-multiget"] = (r.status_code, normalised(r.content))
    wanted = rng.sample(CARDS, rng.randrange(1, len(CARDS))) + [f"{BOOK}missing.vcf"]
    r = server.request("REPORT", BOOK, "alice", dav.addressbook_multiget(wanted), headers={"Depth": "1"})
    got["addressbook-multiget"] = (r.status_code, normalised(r.content))
    for n, query in sorted(enumerate(CARD_QUERIES), key=lambda _: rng.random())[:4]:
        r = server.request("REPORT", BOOK, "alice", query, headers={"Depth": "1"})
        got[f"addressbook-query {n}"] = (r.status_code, normalised(r.content))
    for href in rng.sample(EVENTS, 2) + rng.sample(EVENTS2, 2) + rng.sample(CARDS, 2):
        r = server.request("GET", href, "alice")
        got[f"get {href}"] = (r.status_code, r.headers.get("ETag"), r.headers.get("Content-Type"),
                              r.text if r.ok else "")
    return got


@dataclass
class SyncClient:
    """One client of one server, syncing one collection: its token, its copy, our older tokens."""

    token: str = ""
    copy: dict[str, str] = field(default_factory=dict)
    history: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    refused: int = 0


def synced(server: Server, path: str, client: SyncClient, now: dict[str, str], where: str, *, may_refuse: bool
           ) -> dav.SyncAnswer | None:
    """One incremental sync: the answer is right for the listing, the copy becomes the listing.
    None: the token was refused (403 DAV:valid-sync-token), allowed only when ``may_refuse``; the
    client then has nothing and syncs from scratch next time."""
    r = dav.sync(server, path, "alice", client.token)
    if dav.rejects_token(r) and may_refuse:
        client.token, client.copy, client.refused = "", {}, client.refused + 1
        return None
    assert r.status_code == 207, (where, "the token of the last sync", r.status_code, r.text[:300])
    answer = dav.parse_sync(r)
    assert answer.token, where
    problems = dav.check_incremental(answer, client.copy, now)
    assert not problems, (where, problems)
    client.copy = dav.applied(client.copy, answer)
    assert client.copy == now, where
    client.token = answer.token
    client.history.append((answer.token, dict(now)))
    return answer


def check_sync(stock: Server, ours: Server, clients: dict[tuple[str, str], SyncClient],
               listings: dict[tuple[str, str], dict[str, str]], rng: random.Random, step: int, where: str,
               recreated: bool) -> None:
    """The sync-collection rules, for each collection; ``listings``: (server, path): {href: ETag} now."""
    for path in COLLECTIONS:
        # a collection deleted and made again: its old tokens may be refused (stock refuses them); the
        # client then syncs from scratch
        may_refuse = recreated and path == CAL2
        now = listings["ours", path]
        stock_answer = synced(stock, path, clients["stock", path], listings["stock", path], f"{where} stock {path}",
                              may_refuse=may_refuse)
        old_ours = clients["ours", path].history[-1][0] if clients["ours", path].history else ""
        our_answer = synced(ours, path, clients["ours", path], now, f"{where} ours {path}", may_refuse=may_refuse)
        if stock_answer is not None and our_answer is not None:
            assert stock_answer.reported <= our_answer.reported, (
                where, path, "stock reported more than ours", sorted(stock_answer.reported - our_answer.reported))
        for name, server, answer in (("stock", stock, stock_answer), ("ours", ours, our_answer)):
            if answer is None:
                synced(server, path, clients[name, path], listings[name, path],
                       f"{where} {name} {path} after a refused token", may_refuse=False)
        # the token stock issued, a made-up one in stock's form and garbage: "sync again from scratch"
        others = ("http://radicale.org/ns/sync/" + "0" * 64, "garbage-token", old_ours + "x") if step % 4 == 0 else ()
        for token in (clients["stock", path].token, *others):
            r = dav.sync(ours, path, "alice", token)
            assert dav.rejects_token(r), (where, path, token, r.status_code, r.text[:300])
        # an initial sync lists exactly the members, on both
        if step % 5 == 0:
            initial = {}
            for name, server in (("stock", stock), ("ours", ours)):
                answer = dav.parse_sync(dav.sync(server, path, "alice", ""))
                problems = dav.check_initial(answer, listings[name, path])
                assert not problems, (where, name, path, "initial sync", problems)
                initial[name] = answer.found
            assert initial["stock"] == initial["ours"], (where, path)
        # an older token of ours: a correct incremental answer, or 403 valid-sync-token
        history = clients["ours", path].history
        if len(history) > 1 and step % 3 == 0:
            token, then = history[rng.randrange(len(history) - 1)]
            r = dav.sync(ours, path, "alice", token)
            if not dav.rejects_token(r):
                answer = dav.parse_sync(r)
                problems = dav.check_incremental(answer, then, now)
                assert not problems, (where, path, "older token", problems)
                assert dav.applied(then, answer) == now, (where, path, "older token")


def test_random_sequence_gets_the_same_answers(servers: tuple[Server, Server]) -> None:
    stock, ours = servers
    for server in servers:
        for path in (CAL, CAL2):
            assert server.request("MKCALENDAR", path, "alice").status_code == 201
        assert server.request("MKCOL", BOOK, "alice", address_book_mkcol("eq")).status_code == 201
    setup = random.Random(7)
    texts: dict[str, str] = {}
    first = [Step("PUT", href, calendar_object(setup, f"uid-{href}", "first"), dav.ICS)
             for href in EVENTS[:6] + EVENTS2[:2]]
    first += [Step("PUT", href, random_card(setup, f"uid-{href}"), dav.VCF) for href in CARDS[:3]]
    for s in first:
        for server in servers:
            r = server.request(s.method, s.path, "alice", s.body, headers=s.headers)
            assert r.status_code == 201, (s.path, r.status_code, r.text)
        applied(texts, s)
    clients = {(name, path): SyncClient() for name in ("stock", "ours") for path in COLLECTIONS}
    listings = {(name, path): dav.listing(server, path, "alice")
                for name, server in (("stock", stock), ("ours", ours)) for path in COLLECTIONS}
    check_sync(stock, ours, clients, listings, random.Random(0), -1, "initial", False)
    rng = random.Random(8)
    succeeded: set[str] = set()
    for step in range(STEPS):
        steps = random_steps(rng, step, texts)
        if step in RECREATE_AT:  # the second calendar deleted and made again: its tokens may be refused
            steps = [Step("DELETE", CAL2, label="DELETE calendar"), Step("MKCALENDAR", CAL2, label="MKCALENDAR")]
        where = f"step {step}: " + ", ".join(f"{s.method} {s.path} {s.headers}" for s in steps)
        for s in steps:
            statuses = [server.request(s.method, s.path, "alice", s.body, headers=s.headers).status_code
                        for server in servers]
            assert statuses[0] == statuses[1], (where, s.method, s.path, statuses)
            if statuses[0] < 300:
                succeeded.add(s.label)
                applied(texts, s)
        seed = rng.randrange(1 << 30)
        expected = answers(stock, random.Random(seed), dict(texts))
        got = answers(ours, random.Random(seed), dict(texts))
        if server_dsn(ours):  # a collection's ETag hashes its items in the order stored: a folder's, or by name
            expected, got = without_collection_etags(expected), without_collection_etags(got)
        for key in expected:
            assert got[key] == expected[key], (where, key)
        assert got.keys() == expected.keys()
        listings = {(name, path): dav.listing(server, path, "alice")
                    for name, server in (("stock", stock), ("ours", ours)) for path in COLLECTIONS}
        for path in COLLECTIONS:
            stock_ctag, stock_items = stored_state(ours, path)
            assert dav.ctag(ours, path, "alice") == stock_ctag, (where, path)
            assert listings["ours", path] == stock_items, (where, path)
        check_sync(stock, ours, clients, listings, random.Random(seed), step, where, len(steps) > 1)
    assert succeeded == {"PUT", "DELETE", "MOVE", "MOVE to another calendar", "PROPPATCH", "DELETE calendar",
                         "MKCALENDAR"}, ("the sequence no longer exercises every write", succeeded)
