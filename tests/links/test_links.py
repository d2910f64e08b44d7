"""Share links (issue 6): a calendar, an event, an address book or a card,
read with no account by whoever holds the link's address or QR code.

Most tests speak HTTP to a real server with no credentials; the owner's side
runs the CLI against the same config.  The core's clock-dependent parts
(expiry, the bad-token throttle, feeds) are also tested directly, with an
injected clock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import secrets
import sqlite3
import string
import subprocess
import sys
import time
from pathlib import Path

import icalendar
import pytest
import requests
import zxingcpp
from PIL import Image

from radicale_ext.base import content_lines, layout
from radicale_ext.base.collection_store import FolderStore
from radicale_ext.base.database import Database
from radicale_ext.base.errors import ExtError, Forbidden
from radicale_ext.links import feeds
from radicale_ext.links.reader import LinkReader, StoredCollection, etag_matches
from radicale_ext.links.share_links import SCHEMA, LinkBook, LinkKind, LinkState, LinkTarget, LinkView, parse_expiry
from radicale_ext.links.throttle import BadTokenThrottle
from radicale_ext.links.tokens import ID_LENGTH, redact_tokens, token_in_path
from radicale_ext.sharing.shares import ShareBook

from ..samples import address_book_mkcol
from ..server import Server, make_server, stored_item_names

ICS = {"Content-Type": "text/calendar"}
VCF = {"Content-Type": "text/vcard"}
MKCALENDAR = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop><D:displayname>Family</D:displayname>
  <C:calendar-description>Who is where, this week</C:calendar-description></D:prop></D:set>
</C:mkcalendar>"""
ADDRESSBOOK = address_book_mkcol("Friends")


def calendar(*components: str) -> str:
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + "".join(components) + "END:VCALENDAR\r\n"


DINNER = calendar("""BEGIN:VEVENT\r
UID:dinner-at-anns\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Berlin:20260105T180000\r
DTEND;TZID=Europe/Berlin:20260105T210000\r
SUMMARY:Dinner at Ann's\r
LOCATION:12 Rose Street\r
DESCRIPTION:Bring the cake\r
CATEGORIES:FAMILY\r
ORGANIZER;CN=Alice:mailto:alice@example.org\r
ATTENDEE;CN=Ann Smith:mailto:ann@example.org\r
X-SECRET-NOTE:the door code is 4711\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
DESCRIPTION:Leave now for Ann's\r
TRIGGER:-PT30M\r
END:VALARM\r
END:VEVENT\r
""")
STANDUP = calendar("""BEGIN:VEVENT\r
UID:standup\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=America/New_York:20260105T090000\r
DURATION:PT15M\r
RRULE:FREQ=WEEKLY;COUNT=10\r
SUMMARY:Standup\r
LOCATION:Room 4\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:standup\r
DTSTAMP:20260101T000000Z\r
RECURRENCE-ID;TZID=America/New_York:20260112T090000\r
DTSTART;TZID=America/New_York:20260112T100000\r
DURATION:PT15M\r
SUMMARY:Standup moved for the review\r
END:VEVENT\r
""")
# Outlook names its zones this way and sends no VTIMEZONE; the feed must add one
WINDOWS = calendar("""BEGIN:VEVENT\r
UID:windows-zone\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=W. Europe Standard Time:20260107T080000\r
DTEND;TZID=W. Europe Standard Time:20260107T083000\r
SUMMARY:Call with the bank\r
END:VEVENT\r
""")
HOLIDAY = calendar("""BEGIN:VEVENT\r
UID:holiday\r
DTSTAMP:20260101T000000Z\r
DTSTART;VALUE=DATE:20260106\r
DTEND;VALUE=DATE:20260107\r
SUMMARY:Epiphany (a holiday)\r
TRANSP:TRANSPARENT\r
END:VEVENT\r
""")
DOCTOR = calendar("""BEGIN:VEVENT\r
UID:doctor\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260108T140000Z\r
DTEND:20260108T150000Z\r
SUMMARY:Doctor\r
LOCATION:Clinic on Main Street\r
CLASS:PRIVATE\r
END:VEVENT\r
""")
MILK = calendar("""BEGIN:VTODO\r
UID:milk\r
DTSTAMP:20260101T000000Z\r
SUMMARY:Buy milk\r
END:VTODO\r
""")
EVENTS = {"dinner.ics": DINNER, "standup.ics": STANDUP, "windows.ics": WINDOWS, "holiday.ics": HOLIDAY,
          "doctor.ics": DOCTOR, "milk.ics": MILK}
ANN = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ann\r\nFN:Ann Smith\r\nN:Smith;Ann;;;\r\nTEL;TYPE=CELL:+49 170 1234567\r\n"
       "EMAIL:ann@example.org\r\nNOTE:Met at the climbing gym\r\nEND:VCARD\r\n")
BEN = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ben\r\nFN:Ben Jones\r\nN:Jones;Ben;;;\r\nTEL:+44 20 7946 0000\r\nEND:VCARD\r\n"
PRIVATE_WORDS = ("Dinner", "Rose Street", "cake", "FAMILY", "alice@example.org", "ann@example.org", "4711",
                 "Leave now", "Standup", "Room 4", "review", "bank", "Epiphany", "Doctor", "Clinic", "milk",
                 "dinner-at-anns", "VALARM", "ATTENDEE", "ORGANIZER", "LOCATION", "DESCRIPTION", "X-SECRET")


# -- helpers -------------------------------------------------------------------

def populate(server: Server) -> Server:
    for user in ("alice", "bob", "carol", "dave"):
        server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"})
    assert server.request("MKCALENDAR", "/alice/family/", "alice", MKCALENDAR).status_code == 201
    assert server.request("MKCOL", "/alice/friends/", "alice", ADDRESSBOOK).status_code == 201
    for name, text in EVENTS.items():
        assert server.request("PUT", f"/alice/family/{name}", "alice", text, headers=ICS).status_code == 201
    for name, text in (("ann.vcf", ANN), ("ben.vcf", BEN)):
        assert server.request("PUT", f"/alice/friends/{name}", "alice", text, headers=VCF).status_code == 201
    server.ok("share", "add", "alice/family", "--user", "bob", "--role", "collaborator")
    server.ok("share", "add", "alice/friends", "--user", "bob", "--role", "collaborator")
    server.ok("share", "add", "alice/family", "--user", "carol", "--role", "subscriber")
    return server


def create_link(server: Server, *args: str, acting_as: str | None = None) -> dict:
    out = server.ok("link", "create", *args, "--base-url", server.url, "--json", acting_as=acting_as)
    return json.loads(out)[0]


def anonymous(server: Server, url: str, method: str = "GET", **kwargs) -> requests.Response:
    """A request with no credentials and its own connection, as a stranger's phone makes it."""
    return requests.request(method, url, allow_redirects=False, timeout=30, **kwargs)


def link_path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def links_table(server: Server) -> list[dict]:
    return server.sharing_rows("SELECT * FROM links")


def move_expiry(server: Server, link_id: str, when: float) -> None:
    """The clock moves past a link's expiry (the server reads expiry from the database)."""
    conn = server.sharing_db()
    with conn:
        conn.execute("UPDATE links SET expires_at = ? WHERE id = ?", (when, link_id))
    conn.close()


def settle(server: Server, *collections: str) -> None:
    """Make a collection's files an hour old, as a calendar's usually are when it is read.  On PostgreSQL
    each change has its number in the row at once, but a Last-Modified date still has whole seconds: wait
    until the last change is older than the reader's RACY_SECONDS, as it is when a client comes back."""
    if server.sharing_dsn:
        from radicale_ext.index.pg_items import PgItems
        from radicale_ext.links.reader import RACY_SECONDS

        items = PgItems.shared(server.sharing_dsn, 1)
        for collection in collections:
            stored = items.collection(collection.strip("/"))
            assert stored is not None, collection
            newest = max(stored.modified_ns, stored.props_modified_ns) / 1e9
            time.sleep(max(0.0, newest + RACY_SECONDS + 0.2 - time.time()))
        return
    old = time.time() - 3600
    for collection in collections:
        folder = Path(layout.collection_folder(str(server.root / "data" / "collections"), collection))
        for path in [folder, *folder.iterdir()]:
            if not path.name.startswith(".Radicale.cache"):
                os.utime(path, (old, old))


def events_of(text: str) -> list[icalendar.Event]:
    return [c for c in icalendar.Calendar.from_ical(text).walk("VEVENT")]


def decode_qr(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image)]


def decode_png(data: bytes) -> list[str]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return decode_qr(Image.open(io.BytesIO(data)))


def decode_svg(data: bytes) -> list[str]:
    """Rasterize segno's SVG (one path of horizontal strokes) and decode it."""
    text = data.decode()
    assert text.startswith("<?xml") and "<svg" in text
    size = int(re.search(r'width="(\d+)"', text)[1])
    scale = int(re.search(r'scale\((\d+)\)', text)[1])
    modules = size // scale
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for command, numbers in re.findall(r"([MmHhVv])([^MmHhVvZz]*)", re.search(r' d="([^"]+)"', text)[1]):
        values = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", numbers)]
        if command == "M":
            x, y = values
        elif command == "m":
            x, y = x + values[0], y + values[1]
        elif command == "h":
            for col in range(int(x), int(x + values[0])):
                dark.add((col, int(y)))
            x += values[0]
        else:
            raise AssertionError(f"unexpected path command {command}")
    return decode_qr(_raster(modules, modules, dark))


def decode_terminal(text: str) -> list[str]:
    """Turn segno's compact terminal drawing (two module rows per line) back into an image."""
    light = {"\u2588": (True, True), " ": (False, False), "\u2580": (True, False), "\u2584": (False, True)}
    lines = [line for line in text.splitlines() if line]
    dark = set()
    for row, line in enumerate(lines):
        for col, ch in enumerate(line):
            top, bottom = light[ch]
            if not top:
                dark.add((col, 2 * row))
            if not bottom:
                dark.add((col, 2 * row + 1))
    height = 2 * len(lines) - 1  # the size is odd: the last line's lower half is padding
    return decode_qr(_raster(len(lines[0]), height, dark))


def _raster(width: int, height: int, dark: set[tuple[int, int]], scale: int = 6) -> Image.Image:
    image = Image.new("L", (width * scale, height * scale), 255)
    for col, row in dark:
        if row < height:
            image.paste(0, (col * scale, row * scale, (col + 1) * scale, (row + 1) * scale))
    return image


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory, sharing_database: str):
    """A server at log level info (to check what its log shows), with alice's data."""
    server = make_server(tmp_path_factory.mktemp("links"), logging={"level": "info"}).start()
    try:
        yield populate(server)
    finally:
        server.stop()


# -- every link kind over HTTP, no credentials ----------------------------------

def test_calendar_link_serves_the_whole_calendar_as_an_icalendar_feed(linked: Server) -> None:
    link = create_link(linked, "alice/family", "--label", "kitchen tablet")
    assert link["url"].startswith(f"{linked.url}/.links/") and link["url"].endswith(".ics")
    assert link["webcal"] == "webcal://" + link["url"].removeprefix("http://")
    r = anonymous(linked, link["url"])
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert r.headers["Content-Disposition"] == "attachment; filename=\"Family.ics\"; filename*=UTF-8''Family.ics"
    assert re.fullmatch(r'"[0-9a-f]{64}"', r.headers["ETag"]), "a strong ETag: quoted, no W/"
    assert dt.datetime.strptime(r.headers["Last-Modified"], "%a, %d %b %Y %H:%M:%S GMT")
    assert r.headers["Cache-Control"] == "private, no-cache"
    cal = icalendar.Calendar.from_ical(r.text)
    assert str(cal["X-WR-CALNAME"]) == str(cal["NAME"]) == "Family"
    assert str(cal["DESCRIPTION"]) == "Who is where, this week"
    assert {str(e["UID"]) for e in cal.walk("VEVENT")} == {"dinner-at-anns", "standup", "windows-zone", "holiday",
                                                            feeds.hidden_uid("doctor", link["id"])}
    assert [str(t["SUMMARY"]) for t in cal.walk("VTODO")] == ["Buy milk"]
    dinner = next(e for e in cal.walk("VEVENT") if e["UID"] == "dinner-at-anns")
    assert str(dinner["LOCATION"]) == "12 Rose Street" and dinner.walk("VALARM")


def test_every_tzid_the_feed_uses_has_a_vtimezone(linked: Server) -> None:
    r = anonymous(linked, create_link(linked, "alice/family")["url"])
    cal = icalendar.Calendar.from_ical(r.text)
    assert cal.get_used_tzids() >= {"Europe/Berlin", "America/New_York", "W. Europe Standard Time"}
    assert cal.get_missing_tzids() == set()
    assert len({str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")}) == len(cal.walk("VTIMEZONE")), "no duplicates"
    # the stored event has no VTIMEZONE at all: the feed made one from the time zone database
    assert "VTIMEZONE" not in linked.request("GET", "/alice/family/windows.ics", "alice").text
    call = next(e for e in cal.walk("VEVENT") if e["UID"] == "windows-zone")
    assert call.DTSTART.utcoffset() == dt.timedelta(hours=1)


def test_private_events_show_only_as_busy_in_a_full_calendar_link(linked: Server) -> None:
    r = anonymous(linked, create_link(linked, "alice/family")["url"])
    assert "Doctor" not in r.text and "Clinic" not in r.text
    busy = [e for e in events_of(r.text) if str(e["UID"]).startswith("busy-")]
    assert [(str(e["SUMMARY"]), e.DTSTART) for e in busy] == [
        ("Busy", dt.datetime(2026, 1, 8, 14, tzinfo=dt.UTC))]


def test_event_link_serves_one_event_with_its_overrides(linked: Server) -> None:
    link = create_link(linked, "alice/family", "--event", "standup")
    assert link["kind"] == "event" and link["webcal"] is None
    r = anonymous(linked, link["url"])
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "filename=\"Standup.ics\"" in r.headers["Content-Disposition"]
    cal = icalendar.Calendar.from_ical(r.text)
    assert [(str(e["UID"]), str(e["SUMMARY"])) for e in cal.walk("VEVENT")] == [
        ("standup", "Standup"), ("standup", "Standup moved for the review")]
    assert cal.get_missing_tzids() == set() and "Dinner" not in r.text
    by_file = create_link(linked, "alice/family", "--event", "dinner.ics")
    assert [str(e["UID"]) for e in events_of(anonymous(linked, by_file["url"]).text)] == ["dinner-at-anns"]


def without_hidden_uids(feed: str) -> str:
    """A free/busy feed with each event's UID, a salted hash by design ("busy-" and 32 hex digits, which
    hold "4711" now and then), left out; any other UID is kept and checked."""
    shown, hidden = re.subn(r"(?m)^UID:busy-[0-9a-f]{32}\r?$", "UID:", feed)
    assert hidden, "every event of a free/busy feed has its UID hidden"
    return shown


def test_free_busy_link_reveals_no_summaries_locations_or_attendees(linked: Server) -> None:
    link = create_link(linked, "alice/family", "--free-busy")
    assert link["view"] == "free-busy"
    r = anonymous(linked, link["url"])
    assert r.status_code == 200
    assert "filename=\"Family (free-busy).ics\"" in r.headers["Content-Disposition"]
    for word in PRIVATE_WORDS:
        assert word not in without_hidden_uids(r.text), f"{word!r} leaked into a free/busy feed"
    cal = icalendar.Calendar.from_ical(r.text)
    assert cal.get_missing_tzids() == set()
    assert not cal.walk("VTODO") and not cal.walk("VALARM")
    events = cal.walk("VEVENT")
    allowed = {"UID", "DTSTAMP", "DTSTART", "DTEND", "DURATION", "RRULE", "RECURRENCE-ID", "SUMMARY",
               "TRANSP", "STATUS", "SEQUENCE", "EXDATE", "RDATE"}
    for event in events:
        assert set(event.keys()) <= allowed, set(event.keys()) - allowed
        assert str(event["SUMMARY"]) == "Busy" and str(event["UID"]).startswith("busy-")
    # the times stay exact: dinner 18:00-21:00 Berlin, the standup's series and its moved instance
    starts = sorted(e.DTSTART.astimezone(dt.UTC) for e in events)
    assert dt.datetime(2026, 1, 5, 17, tzinfo=dt.UTC) in starts
    assert dt.datetime(2026, 1, 12, 15, tzinfo=dt.UTC) in starts
    assert sum("RRULE" in e for e in events) == 1
    # the transparent holiday makes no one busy: left out (5 events: 4 minus the holiday, plus an override)
    assert len(events) == 5


def test_address_book_and_card_links_serve_vcards(linked: Server) -> None:
    book = create_link(linked, "alice/friends")
    assert book["kind"] == "address-book" and book["url"].endswith(".vcf")
    r = anonymous(linked, book["url"])
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/vcard; charset=utf-8"
    assert "filename=\"Friends.vcf\"" in r.headers["Content-Disposition"]
    assert sorted(re.findall(r"^FN:(.*)\r$", r.text, re.M)) == ["Ann Smith", "Ben Jones"]
    card = create_link(linked, "alice/friends", "--card", "ann")
    r = anonymous(linked, card["url"])
    assert r.headers["Content-Type"] == "text/vcard; charset=utf-8"
    assert "filename=\"Ann Smith.vcf\"" in r.headers["Content-Disposition"]
    # projection: until audiences exist (the cards issue), a card link shows the card as stored
    assert r.text == linked.request("GET", "/alice/friends/ann.vcf", "alice").text
    assert "Ben" not in r.text


def test_a_link_serves_the_current_content(linked: Server) -> None:
    card = create_link(linked, "alice/friends", "--card", "ben.vcf")
    before = anonymous(linked, card["url"])
    changed = BEN.replace("+44 20 7946 0000", "+44 20 7946 0999")
    assert linked.request("PUT", "/alice/friends/ben.vcf", "alice", changed, headers=VCF).status_code in (201, 204)
    after = anonymous(linked, card["url"], headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and "0999" in after.text and after.headers["ETag"] != before.headers["ETag"]


def test_unicode_names_get_a_correct_filename(linked: Server) -> None:
    name = "Grüße"
    body = MKCALENDAR.replace("Family", name).replace("Who is where, this week", "x")
    assert linked.request("MKCALENDAR", "/alice/gruesse/", "alice", body.encode()).status_code == 201
    r = anonymous(linked, create_link(linked, "alice/gruesse")["url"])
    assert r.headers["Content-Disposition"] == (
        "attachment; filename=\"Gr__e.ics\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe.ics")
    assert str(icalendar.Calendar.from_ical(r.content.decode("utf-8"))["X-WR-CALNAME"]) == name


# -- conditional requests ----------------------------------------------------------

def test_304_on_if_none_match_and_if_modified_since(linked: Server) -> None:
    settle(linked, "/alice/family/")
    url = create_link(linked, "alice/family")["url"]
    first = anonymous(linked, url)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    for headers in ({"If-None-Match": etag}, {"If-None-Match": f'"nope", {etag}'}, {"If-None-Match": "*"},
                    {"If-None-Match": f"W/{etag}"}, {"If-Modified-Since": modified}):
        r = anonymous(linked, url, headers=headers)
        assert r.status_code == 304, headers
        assert r.content == b"" and r.headers["ETag"] == etag and r.headers["Last-Modified"] == modified
    assert anonymous(linked, url, headers={"If-None-Match": '"other"'}).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 section 13.2.2)
    assert anonymous(linked, url, headers={"If-None-Match": '"other"', "If-Modified-Since": modified}
                     ).status_code == 200
    head = anonymous(linked, url, "HEAD")
    assert head.status_code == 200 and head.content == b"" and head.headers["ETag"] == etag


def test_if_modified_since_is_not_trusted_within_the_second_of_a_change(linked: Server) -> None:
    """A date has whole seconds: a change in the same second as the reader's
    copy would not show in Last-Modified, so a fresh Last-Modified gets a 200."""
    assert linked.request("MKCALENDAR", "/alice/fresh/", "alice").status_code == 201
    linked.request("PUT", "/alice/fresh/a.ics", "alice", DINNER, headers=ICS)
    url = create_link(linked, "alice/fresh")["url"]
    modified = anonymous(linked, url).headers["Last-Modified"]
    linked.request("PUT", "/alice/fresh/b.ics", "alice", STANDUP, headers=ICS)
    r = anonymous(linked, url, headers={"If-Modified-Since": modified})
    assert r.status_code == 200 and "Standup" in r.text


def test_revalidation_notices_every_change_once_the_data_is_settled(linked: Server) -> None:
    assert linked.request("MKCALENDAR", "/alice/settled/", "alice").status_code == 201
    linked.request("PUT", "/alice/settled/a.ics", "alice", DINNER, headers=ICS)
    settle(linked, "/alice/settled/")
    url = create_link(linked, "alice/settled")["url"]
    etag = anonymous(linked, url).headers["ETag"]
    assert anonymous(linked, url, headers={"If-None-Match": etag}).status_code == 304
    linked.request("PUT", "/alice/settled/b.ics", "alice", STANDUP, headers=ICS)
    r = anonymous(linked, url, headers={"If-None-Match": etag})
    assert r.status_code == 200 and "Standup" in r.text
    linked.request("DELETE", "/alice/settled/b.ics", "alice")
    assert anonymous(linked, url, headers={"If-None-Match": r.headers["ETag"]}).status_code == 200


@pytest.mark.parametrize(("args", "content_type", "marker"), [
    (("alice/family",), "text/calendar", "SUMMARY:Call with the bank"),
    (("alice/family", "--free-busy"), "text/calendar", "SUMMARY:Busy"),
    (("alice/family", "--event", "windows-zone"), "text/calendar", "SUMMARY:Call with the bank"),
    (("alice/friends",), "text/vcard", "FN:Ben Jones"),
    (("alice/friends", "--card", "ben"), "text/vcard", "FN:Ben Jones"),
], ids=["calendar", "free-busy", "event", "address-book", "card"])
def test_every_kind_revalidates_expires_and_revokes(linked: Server, args: tuple[str, ...], content_type: str,
                                                     marker: str) -> None:
    settle(linked, "/alice/family/", "/alice/friends/")
    link = create_link(linked, *args, "--expires", "2w")
    r = anonymous(linked, link["url"])
    assert r.status_code == 200 and marker in r.text
    assert r.headers["Content-Type"] == f"{content_type}; charset=utf-8"
    assert re.fullmatch(r'"[0-9a-f]{64}"', r.headers["ETag"]) and r.headers["Last-Modified"].endswith(" GMT")
    assert r.headers["Content-Disposition"].startswith("attachment; filename=")
    assert anonymous(linked, link["url"], headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    assert anonymous(linked, link["url"], headers={"If-Modified-Since": r.headers["Last-Modified"]}
                     ).status_code == 304
    head = anonymous(linked, link["url"], "HEAD")
    assert head.status_code == 200 and head.headers["ETag"] == r.headers["ETag"] and head.content == b""
    move_expiry(linked, link["id"], time.time() - 1)
    gone = anonymous(linked, link["url"], headers={"If-None-Match": r.headers["ETag"]})
    assert gone.status_code == 404 and marker not in gone.text
    other = create_link(linked, *args)
    assert anonymous(linked, other["url"]).status_code == 200
    linked.ok("link", "revoke", other["id"])
    assert anonymous(linked, other["url"]).status_code == 404
    assert anonymous(linked, other["url"], "HEAD").status_code == 404


def test_configured_base_url_is_used_for_printed_links_and_qr_codes(tmp_path: Path) -> None:
    server = make_server(tmp_path / "s", sharing={"links_base_url": "https://cal.example.org/dav/"}).start()
    try:
        server.request("MKCALENDAR", "/alice/cal/", "alice")
        out = server.ok("link", "create", "alice/cal")
        url = next(line for line in out.splitlines() if line.startswith("https://"))
        assert url.startswith("https://cal.example.org/dav/.links/") and url.endswith(".ics")
        assert "webcal://cal.example.org/dav/.links/" in out
        path = "/" + url.split("/", 4)[4]
        assert anonymous(server, server.url + path).status_code == 200
        assert decode_png(server.request("GET", path + "?qr=png", "alice").content) == [url]
    finally:
        server.stop()


# -- the owner's list, revocation, expiry --------------------------------------------

def test_list_shows_label_target_dates_use_count_and_state(linked: Server) -> None:
    link = create_link(linked, "alice/friends", "--card", "ann", "--label", "for the school", "--expires", "30d")
    assert link["uses"] == 0 and link["last_used"] is None
    for _ in range(3):
        assert anonymous(linked, link["url"]).status_code == 200
    rows = {r["id"]: r for r in json.loads(linked.ok("link", "list", "alice/friends", "--json"))}
    row = rows[link["id"]]
    assert row["label"] == "for the school" and row["target"] == "alice/friends/ann.vcf"
    assert row["uses"] == 3 and row["state"] == "active"
    created = dt.datetime.fromisoformat(row["created"])
    assert dt.timedelta(days=29, hours=23) < dt.datetime.fromisoformat(row["expires"]) - created <= dt.timedelta(
        days=30, seconds=1)
    assert dt.datetime.fromisoformat(row["last_used"]) >= created
    text = linked.ok("link", "list", "alice/friends")
    line = next(line for line in text.splitlines() if line.startswith(link["id"]))
    assert "\"for the school\"" in line and "alice/friends/ann.vcf (card)" in line and "(3 uses)" in line


def test_revoked_link_answers_404_at_once_and_forever(linked: Server) -> None:
    link = create_link(linked, "alice/family", "--event", "dinner")
    assert anonymous(linked, link["url"]).status_code == 200
    out = linked.ok("link", "revoke", link["id"], acting_as="alice")
    assert "revoked" in out
    for _ in range(3):
        r = anonymous(linked, link["url"])
        assert r.status_code == 404 and "Dinner" not in r.text
    assert anonymous(linked, link["url"], headers={"If-None-Match": "*"}).status_code == 404
    rows = {r["id"]: r for r in json.loads(linked.ok("link", "list", "alice/family", "--json"))}
    assert rows[link["id"]]["state"] == "revoked"
    again = create_link(linked, "alice/family", "--event", "dinner")
    assert again["id"] != link["id"] and again["url"] != link["url"]
    assert anonymous(linked, link["url"]).status_code == 404


def test_deleting_the_calendar_revokes_its_links_for_good(linked: Server) -> None:
    assert linked.request("MKCALENDAR", "/alice/doomed/", "alice").status_code == 201
    link = create_link(linked, "alice/doomed", acting_as="alice")
    assert anonymous(linked, link["url"]).status_code == 200
    assert linked.request("DELETE", "/alice/doomed/", "alice").status_code == 200
    assert anonymous(linked, link["url"]).status_code == 404
    assert linked.request("MKCALENDAR", "/alice/doomed/", "alice").status_code == 201
    assert anonymous(linked, link["url"]).status_code == 404
    rows = {r["id"]: r for r in json.loads(linked.ok("link", "list", "alice/doomed", "--json"))}
    assert rows[link["id"]]["state"] == "revoked"


def test_expired_link_answers_404(linked: Server) -> None:
    link = create_link(linked, "alice/family", "--expires", "1h")
    assert anonymous(linked, link["url"]).status_code == 200
    move_expiry(linked, link["id"], time.time() - 1)
    r = anonymous(linked, link["url"])
    assert r.status_code == 404 and "Dinner" not in r.text
    assert "does not exist, has expired, or was revoked" in r.text
    rows = {r["id"]: r for r in json.loads(linked.ok("link", "list", "--json"))}
    assert rows[link["id"]]["state"] == "expired"


def test_new_links_never_reuse_an_id_or_a_token(linked: Server) -> None:
    made = [create_link(linked, "alice/friends") for _ in range(20)]
    assert len({m["id"] for m in made}) == 20 and len({m["url"] for m in made}) == 20
    hashes = [r["secret_hash"] for r in links_table(linked)]
    assert len(set(hashes)) == len(hashes)


def test_links_of_a_removed_user_stop_working(tmp_path: Path) -> None:
    server = make_server(tmp_path / "s").start()
    try:
        server.request("MKCALENDAR", "/grace/cal/", "grace")
        server.request("PUT", "/grace/cal/e.ics", "grace", DINNER, headers=ICS)
        url = create_link(server, "grace/cal")["url"]
        assert anonymous(server, url).status_code == 200
        server.ok("user", "remove", "grace")
        assert anonymous(server, url).status_code == 404
    finally:
        server.stop()


# -- links only ever read ---------------------------------------------------------

@pytest.mark.parametrize("method", ["PUT", "DELETE", "PROPPATCH", "MKCOL", "MKCALENDAR", "MOVE", "POST",
                                    "PROPFIND", "REPORT"])
@pytest.mark.parametrize("who", [None, "alice"])
def test_writes_on_link_paths_are_refused(linked: Server, method: str, who: str | None) -> None:
    url = create_link(linked, "alice/family")["url"]
    before = anonymous(linked, url).text
    path = link_path(url)
    headers = {"Content-Type": "text/calendar", "Destination": f"{linked.url}/alice/stolen/",
               "Depth": "0"}
    for target in (path, path + "/x.ics", "/.links/", "/.links/nothing.ics"):
        r = linked.request(method, target, who, DINNER, headers=headers)
        assert r.status_code == 405, (method, target, r.status_code)
        assert r.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert anonymous(linked, url).text == before
    assert linked.request("GET", "/alice/stolen/", "alice").status_code == 404
    assert len(stored_item_names(linked, "/alice/family/")) == len(EVENTS)


def test_options_on_a_link_says_it_only_reads(linked: Server) -> None:
    r = anonymous(linked, create_link(linked, "alice/family")["url"], "OPTIONS")
    assert r.status_code == 200 and r.headers["Allow"] == "GET, HEAD, OPTIONS"


# -- tokens -----------------------------------------------------------------------

def test_a_database_dump_holds_no_usable_token(tmp_path: Path) -> None:
    server = populate(make_server(tmp_path / "s").start())
    try:
        link = create_link(server, "alice/family")
        token = link_path(link["url"]).removeprefix("/.links/").removesuffix(".ics")
        secret = token[ID_LENGTH:]
        assert len(secret) == 32 and len(token) == 40
        if server.sharing_dsn:   # PostgreSQL: every row of every table, as text
            tables = [r["table_name"] for r in server.sharing_rows(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")]
            dump = "\n".join(repr(row) for t in tables for row in server.sharing_rows(f"SELECT * FROM {t}"))
            raw = dump.encode()
        else:
            db = server.root / "data" / "sharing.sqlite"
            with sqlite3.connect(db) as conn:
                dump = "\n".join(conn.iterdump())
            raw = b"".join(p.read_bytes() for p in db.parent.glob("sharing.sqlite*"))
        assert secret not in dump and secret.encode() not in raw and token.encode() not in raw
        row = next(r for r in links_table(server) if r["id"] == link["id"])
        # everything stored about the link, tried as its secret, opens nothing
        guesses = {re.sub(r"[^A-Za-z0-9_-]", "", bytes(v).hex() if isinstance(v, bytes) else str(v))[:32].ljust(32, "A")
                   for v in row.values() if v is not None}
        for guess in guesses:
            r = anonymous(server, f"{server.url}/.links/{link['id']}{guess}.ics")
            assert r.status_code in (404, 429) and "BEGIN:VCALENDAR" not in r.text
        assert anonymous(server, link["url"]).status_code in (200, 429)
    finally:
        server.stop()


def test_guessing_never_reads_anything(tmp_path: Path) -> None:
    server = populate(make_server(tmp_path / "s").start())
    try:
        url = create_link(server, "alice/family")["url"]
        token = link_path(url).removeprefix("/.links/").removesuffix(".ics")
        alphabet = string.ascii_letters + string.digits + "-_"
        guesses = [f"/.links/{''.join(secrets.choice(alphabet) for _ in range(40))}.ics" for _ in range(3)]
        for i in range(0, 40, 3):  # one character changed, in the id and in the secret
            changed = token[:i] + ("a" if token[i] != "a" else "b") + token[i + 1:]
            guesses.append(f"/.links/{changed}.ics")
        guesses += [
            f"/.links/{token.upper()}.ics", f"/.links/{token}.vcf", f"/.links/{token}.ics/",
            f"/.links/{token}", f"/.links/{token}.ics/../../alice/family/", f"/.links/{token}/dinner.ics",
            "/.links/../alice/family/", "/.links/%2e%2e/alice/family/dinner.ics", "/.links/..%2falice%2ffamily%2f",
            f"/.links/{token[:20]}.ics", f"/.links/{token}x.ics", "/.links/", "/.links",
            f"/.links//{token}.ics", f"/.links/{token}%00.ics", f"/.token/{token}/",
        ]
        statuses = []
        for guess in guesses:
            r = anonymous(server, server.url + guess)
            statuses.append(r.status_code)
            assert r.status_code in (400, 401, 403, 404, 429), (guess, r.status_code)
            assert "BEGIN:V" not in r.text and "Dinner" not in r.text, guess
        assert statuses[:5] == [404] * 5  # the first misses are plain "not found"
        assert anonymous(server, url).status_code in (200, 429)
    finally:
        server.stop()


def test_repeated_bad_tokens_from_one_address_are_slowed_down(tmp_path: Path) -> None:
    server = populate(make_server(tmp_path / "s").start())
    try:
        url = create_link(server, "alice/family")["url"]
        bad = f"{server.url}/.links/{'x' * 40}.ics"
        assert [anonymous(server, bad).status_code for _ in range(5)] == [404] * 5
        paused = anonymous(server, bad)
        assert paused.status_code == 429 and int(paused.headers["Retry-After"]) >= 1
        # while paused, even a good link is not looked at: a pause cannot test guesses
        good = anonymous(server, url)
        assert good.status_code == 429 and "BEGIN:VCALENDAR" not in good.text
        time.sleep(int(paused.headers["Retry-After"]) + 0.1)
        assert anonymous(server, url).status_code == 200
        # each further miss doubles the pause
        assert anonymous(server, bad).status_code == 404
        assert int(anonymous(server, bad).headers["Retry-After"]) >= 2
        # logged-in users' own requests are not affected
        assert server.request("GET", "/alice/family/dinner.ics", "alice").status_code == 200
    finally:
        server.stop()


def test_the_log_never_holds_a_whole_token(linked: Server) -> None:
    link = create_link(linked, "alice/family", "--free-busy")
    token = link_path(link["url"]).removeprefix("/.links/").removesuffix(".ics")
    anonymous(linked, link["url"])
    anonymous(linked, link["url"], "PUT", data="x")
    linked.request("GET", link_path(link["url"]) + "?qr=svg", "alice")
    log = linked.log()
    assert f"/.links/{token[:ID_LENGTH]}..." in log
    assert token[ID_LENGTH:] not in log and token[ID_LENGTH:ID_LENGTH + 8] not in log


# -- QR codes ---------------------------------------------------------------------

def test_cli_writes_qr_codes_that_decode_to_the_exact_url(linked: Server, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    png, svg = tmp_path / "family.png", tmp_path / "family.svg"
    out = linked.ok("link", "create", "alice/family", "--base-url", linked.url, "--qr", str(png), "--qr", str(svg),
                    "--qr", "-")
    lines = out.splitlines()
    url = next(line for line in lines if line.startswith("http://"))
    assert decode_png(png.read_bytes()) == [url]
    assert decode_svg(svg.read_bytes()) == [url]
    drawing = "\n".join(line for line in lines if set(line) <= set("\u2588\u2580\u2584 ") and line)
    assert decode_terminal(drawing) == [url]
    assert f"QR code written to {png}" in out
    webcal_png = tmp_path / "webcal.png"
    out = linked.ok("link", "create", "alice/family", "--base-url", "https://cal.example.org",
                    "--qr", str(webcal_png), "--qr-webcal")
    assert decode_png(webcal_png.read_bytes()) == [next(x for x in out.splitlines() if x.startswith("webcal://"))]


def test_owner_gets_the_same_qr_code_over_http(linked: Server) -> None:
    link = create_link(linked, "alice/family")
    path = link_path(link["url"])
    png = linked.request("GET", path + "?qr=png", "alice")
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert png.headers["Cache-Control"] == "private, no-store"
    assert decode_png(png.content) == [link["url"]]
    svg = linked.request("GET", path + "?qr=svg&scale=4", "alice")
    assert svg.headers["Content-Type"] == "image/svg+xml" and decode_svg(svg.content) == [link["url"]]
    webcal = linked.request("GET", path + "?qr=png&webcal=1", "alice")
    assert decode_png(webcal.content) == [link["webcal"]]
    assert anonymous(linked, link["url"] + "?qr=png").status_code == 401
    assert linked.request("GET", path + "?qr=png", "dave").status_code == 403
    assert linked.request("GET", path + "?qr=gif", "alice").status_code == 400
    linked.ok("link", "revoke", link["id"])
    assert linked.request("GET", path + "?qr=png", "alice").status_code == 404


# -- real clients -----------------------------------------------------------------

def test_vdirsyncer_syncs_the_webcal_feed(linked: Server, tmp_path: Path) -> None:
    link = create_link(linked, "alice/family")
    http_url = "http://" + link["webcal"].removeprefix("webcal://")  # what webcal:// means (RFC-less convention)
    local = tmp_path / "local"
    config = tmp_path / "config"
    config.write_text(f"""[general]
status_path = "{tmp_path / 'status'}/"

[pair family]
a = "feed"
b = "local"
collections = null
conflict_resolution = "a wins"

[storage feed]
type = "http"
url = "{http_url}"

[storage local]
type = "filesystem"
path = "{local}/"
fileext = ".ics"
""")
    local.mkdir()
    vdirsyncer = [sys.executable, "-m", "vdirsyncer", "-c", str(config)]
    for step in ("discover", "sync"):
        done = subprocess.run([*vdirsyncer, step], input="y\n", capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr + done.stdout
    synced = [icalendar.Calendar.from_ical(p.read_text()) for p in local.glob("*.ics")]
    assert len(synced) == len(EVENTS), "one file per stored event or to-do, overrides with their series"
    # vdirsyncer replaces the UIDs of http feeds with hashes; the summaries say what arrived
    summaries = {str(c["SUMMARY"]) for cal in synced for c in cal.walk() if c.name in ("VEVENT", "VTODO")}
    assert summaries == {"Dinner at Ann's", "Standup", "Standup moved for the review", "Call with the bank",
                         "Epiphany (a holiday)", "Busy", "Buy milk"}
    assert all(not c.get_missing_tzids() for c in synced)


# -- who may create links ---------------------------------------------------------

def test_collaborators_create_links_only_when_the_owner_allows_it(linked: Server) -> None:
    refused = linked.cli("link", "create", "alice/friends", "--base-url", linked.url, acting_as="bob")
    assert refused.code == 1 and refused.err.count("\n") == 1
    assert "allow-collaborators alice/friends on" in refused.err
    assert linked.cli("link", "allow-collaborators", "alice/friends", "on", acting_as="bob").code == 1
    linked.ok("link", "allow-collaborators", "alice/friends", "on", acting_as="alice")
    bobs = create_link(linked, "alice/friends", "--card", "ann", acting_as="bob")
    assert bobs["created_by"] == "bob" and anonymous(linked, bobs["url"]).status_code == 200
    alices = create_link(linked, "alice/friends", acting_as="alice")
    # bob sees and revokes the links he made, not the owner's
    seen = {r["id"] for r in json.loads(linked.ok("link", "list", "alice/friends", "--json", acting_as="bob"))}
    assert bobs["id"] in seen and alices["id"] not in seen
    assert linked.cli("link", "revoke", alices["id"], acting_as="bob").code == 1
    assert anonymous(linked, alices["url"]).status_code == 200
    out = linked.ok("link", "allow-collaborators", "alice/friends", "off", acting_as="alice")
    assert bobs["id"] in out, "the owner is told which of their links still work"
    assert linked.cli("link", "create", "alice/friends", acting_as="bob").code == 1
    linked.ok("link", "revoke", bobs["id"], acting_as="alice")
    assert anonymous(linked, bobs["url"]).status_code == 404


def test_subscribers_and_strangers_cannot_create_links(linked: Server) -> None:
    linked.ok("link", "allow-collaborators", "alice/family", "on", acting_as="alice")
    for user in ("carol", "dave"):
        result = linked.cli("link", "create", "alice/family", acting_as=user)
        assert result.code == 1 and "is not a collaborator" in result.err, result.err
        assert linked.cli("link", "list", "alice/family", acting_as=user).code == 1
    linked.ok("link", "allow-collaborators", "alice/family", "off", acting_as="alice")


@pytest.mark.parametrize(("args", "message"), [
    (("alice/nothing",), "no calendar or address book at /alice/nothing/"),
    (("alice/friends", "--event", "x"), "is an address book; link one of its cards with --card"),
    (("alice/family", "--card", "ann"), "is a calendar; link one of its events with --event"),
    (("alice/family", "--event", "no-such-uid"), "no event named or with UID 'no-such-uid'"),
    (("alice/family", "--event", "dinner", "--free-busy"), "free/busy links are for whole calendars"),
    (("alice/friends", "--free-busy"), "free/busy links are for whole calendars"),
    (("alice/family", "--expires", "yesterday"), "cannot read the expiry 'yesterday'"),
    (("alice/family", "--expires", "2001-01-01"), "the expiry is in the past"),
    (("alice/family", "--qr", "code.gif"), "end the file name with .svg or .png"),
    (("alice/family", "--base-url", "cal.example.org"), "must start with http:// or https://"),
    (("alice/family", "--label", "x" * 201), "longer than 200 characters"),
])
def test_cli_errors_are_one_line_and_store_nothing(linked: Server, args: tuple[str, ...], message: str) -> None:
    count = len(links_table(linked))
    result = linked.cli("link", "create", *args)
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("radicale-ext: error: ") and result.err.count("\n") == 1
    assert message in result.err, result.err
    assert len(links_table(linked)) == count


def test_revoking_an_unknown_id_is_a_clear_error(linked: Server) -> None:
    result = linked.cli("link", "revoke", "zzzzzzzz")
    assert result.code == 1 and "no link with id 'zzzzzzzz'" in result.err


# -- the core, with an injected clock ------------------------------------------------

class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def book(tmp_path: Path) -> tuple[LinkBook, FakeClock]:
    folder = tmp_path / "collections"
    cal = Path(layout.collection_folder(str(folder), "/alice/family/"))
    cal.mkdir(parents=True)
    (cal / ".Radicale.props").write_text('{"tag": "VCALENDAR"}')
    (cal / "dinner.ics").write_text(DINNER)
    db = Database.open(str(tmp_path / "db.sqlite"), schemas=(SCHEMA,))
    clock = FakeClock()
    return LinkBook(db, shares=ShareBook(db), circles_of=lambda _u: frozenset(), collections=FolderStore(str(folder)),
                    clock=clock), clock


def test_expiry_follows_the_clock(book: tuple[LinkBook, FakeClock]) -> None:
    links, clock = book
    new = links.create(links.target("alice/family"), expires_at=clock.now + 60)
    token = token_in_path(new.path)
    assert token is not None
    link = links.find(token.link_id, token.secret)
    assert link is not None and link.state(clock()) is LinkState.ACTIVE
    clock.now += 59.9
    assert link.state(clock()) is LinkState.ACTIVE
    clock.now += 0.1
    assert link.state(clock()) is LinkState.EXPIRED
    with pytest.raises(ExtError, match="in the past"):
        links.create(links.target("alice/family"), expires_at=clock.now)


def test_reader_refuses_an_expired_link_without_sleeping(book: tuple[LinkBook, FakeClock]) -> None:
    links, clock = book
    new = links.create(links.target("alice/family", event="dinner-at-anns"), expires_at=clock.now + 3600)

    class Source:
        def reading(self):
            return contextlib.nullcontext()

        def collection(self, path: str) -> StoredCollection | None:
            return None

        def item(self, collection: str, href: str):
            return feeds.StoredItem(href, DINNER, '"e"'), "Thu, 01 Jan 2026 00:00:00 GMT"

    reader = LinkReader(links, collections=links._collections, owner_exists=lambda _u: True,
                        throttle=BadTokenThrottle(clock=clock))
    assert reader.read(new.path, address="a", source=Source()).status == 200
    clock.now += 3600
    reply = reader.read(new.path, address="a", source=Source())
    assert reply.status == 404 and b"Dinner" not in (reply.body or b"")
    assert reader.throttle.pause_left("a") == 0, "an expired link is not a guess"


class CountingSource:
    """The owner's calendar from the test's folder; counts how often it is read."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.reads = folder, 0

    def reading(self):
        return contextlib.nullcontext()

    def collection(self, path: str) -> StoredCollection | None:
        self.reads += 1
        items = [feeds.StoredItem(p.name, p.read_text(), f'"{p.stat().st_mtime_ns}"')
                 for p in sorted(self.folder.glob("*.ics"))]
        return StoredCollection("VCALENDAR", "Family", None, items, "Thu, 01 Jan 2026 00:00:00 GMT")

    def item(self, collection: str, href: str):
        raise AssertionError("not an item link")


def test_revalidation_of_settled_data_reads_no_item(book: tuple[LinkBook, FakeClock]) -> None:
    links, _clock = book
    folder = Path(layout.collection_folder(links._collections.collections_folder, "/alice/family/"))
    old = time.time() - 3600
    for path in (folder / "dinner.ics", folder / ".Radicale.props", folder):
        os.utime(path, (old, old))
    new = links.create(links.target("alice/family"))
    source = CountingSource(folder)
    reader = LinkReader(links, collections=links._collections, owner_exists=lambda _u: True)
    first = reader.read(new.path, address="a", source=source)
    assert first.status == 200 and source.reads == 1
    etag = first.headers["ETag"]
    assert reader.read(new.path, address="a", source=source, if_none_match=etag).status == 304
    assert source.reads == 1, "a 304 of settled data comes from the folder's stamp"
    (folder / "standup.ics").write_text(STANDUP)  # a write changes the folder
    changed = reader.read(new.path, address="a", source=source, if_none_match=etag)
    assert changed.status == 200 and source.reads == 2 and b"Standup" in (changed.body or b"")
    # within the racy window the stamp is not trusted: every request reads again
    assert reader.read(new.path, address="a", source=source, if_none_match=changed.headers["ETag"]).status == 304
    assert source.reads == 3


def test_every_single_character_change_of_a_token_opens_nothing(book: tuple[LinkBook, FakeClock]) -> None:
    links, _clock = book
    new = links.create(links.target("alice/family"))
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
    for i in range(len(new.token)):
        for replacement in alphabet:
            if replacement == new.token[i]:
                continue
            changed = new.token[:i] + replacement + new.token[i + 1:]
            token = token_in_path(f"/.links/{changed}.ics")
            assert token is None or links.find(token.link_id, token.secret) is None, changed
    token = token_in_path(new.path)
    assert token is not None and links.find(token.link_id, token.secret) is not None


def test_collaborator_rules_in_the_core(book: tuple[LinkBook, FakeClock]) -> None:
    links, _clock = book
    with pytest.raises(Forbidden, match="is not a collaborator"):
        links.create(links.target("alice/family"), actor="bob")
    link = links.create(links.target("alice/family"), actor="alice").link
    assert link.created_by == "alice" and links.may_manage(link, "alice") and not links.may_manage(link, "bob")
    with pytest.raises(Forbidden):
        links.revoke(link.id, actor="bob")
    assert links.revoke(link.id).state(links.clock()) is LinkState.REVOKED


def test_throttle_pauses_double_and_are_forgotten() -> None:
    clock = FakeClock(0.0)
    throttle = BadTokenThrottle(free_misses=2, first_pause=1, longest_pause=8, forget_after=100, clock=clock)
    throttle.miss("x")
    assert throttle.pause_left("x") == 0
    throttle.miss("x")
    assert throttle.pause_left("x") == 1
    pauses = []
    for _ in range(5):
        clock.now += 10
        throttle.miss("x")
        pauses.append(throttle.pause_left("x"))
    assert pauses == [2, 4, 8, 8, 8]
    assert throttle.pause_left("y") == 0, "per address"
    clock.now += 200
    throttle.miss("x")
    assert throttle.pause_left("x") == 0, "misses are forgotten after a quiet while"


def test_parse_expiry() -> None:
    now = 1_800_000_000.0
    assert parse_expiry("30d", now) == now + 30 * 86400
    assert parse_expiry("12h", now) == now + 12 * 3600
    assert parse_expiry("2w", now) == now + 14 * 86400
    assert parse_expiry("90m", now) == now + 5400
    assert parse_expiry("2026-12-31T18:00Z", now) == dt.datetime(2026, 12, 31, 18, tzinfo=dt.UTC).timestamp()
    end_of_day = dt.datetime(2027, 1, 1).astimezone().timestamp()
    assert parse_expiry("2026-12-31", now) == end_of_day
    with pytest.raises(ExtError, match="cannot read the expiry"):
        parse_expiry("soon", now)


def test_tokens_are_cut_to_their_id_in_log_lines() -> None:
    line = "GET request for '/.links/abcd1234SECRETsecretSECRETsecretSECRETsecr.ics' received"
    assert redact_tokens(line) == "GET request for '/.links/abcd1234...' received"
    assert redact_tokens("/.links/abc") == "/.links/abc"


def test_feed_lines_are_folded_and_values_kept_exactly() -> None:
    long = "X" * 200 + "ü" * 50
    folded = content_lines.fold(f"SUMMARY:{long}")
    assert all(len(line.encode()) <= 75 for line in folded.split("\r\n"))
    assert content_lines.first_text(f"BEGIN:VEVENT\r\n{folded}END:VEVENT\r\n", "SUMMARY") == long
    parts = feeds.calendar_parts(WINDOWS)
    assert parts.tzids_used == {"W. Europe Standard Time"} and parts.timezones == ()
    busy = feeds.busy_parts(DINNER, "salt")
    assert "Dinner" not in busy.components and "DTSTART;TZID=Europe/Berlin:20260105T180000" in busy.components


def test_x_parameters_do_not_leak_into_free_busy() -> None:
    text = calendar("BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20260101T000000Z\r\n"
                    "DTSTART;X-NOTE=\"meet Bob: secret\";TZID=Europe/Berlin:20260105T180000\r\n"
                    "DURATION:PT1H\r\nEND:VEVENT\r\n")
    busy = feeds.busy_parts(text, "s").components
    assert "secret" not in busy and "DTSTART;TZID=Europe/Berlin:20260105T180000" in busy


def test_etag_matching() -> None:
    assert etag_matches('"a", "b"', '"b"') and etag_matches('W/"b"', '"b"') and etag_matches("*", '"x"')
    assert not etag_matches('"a"', '"b"') and not etag_matches("", '"b"')


def test_link_kinds_have_their_file_types() -> None:
    assert LinkKind.CALENDAR.extension == LinkKind.EVENT.extension == ".ics"
    assert LinkKind.ADDRESS_BOOK.extension == LinkKind.CARD.extension == ".vcf"
    assert str(LinkTarget(LinkKind.CARD, "alice", "/alice/friends/", "ann.vcf")) == "alice/friends/ann.vcf"
    assert LinkView("free-busy") is LinkView.FREE_BUSY
