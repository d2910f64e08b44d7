"""``radicale-ext migrate``: a family's server on files and SQLite, copied into PostgreSQL, then served from
there as it was (items with the same ETags, shares, links, circles), the copy checked and safe to run again;
a database that cannot be reached is a sentence and a non-zero exit, nothing copied."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import requests

from ..server import Server, make_server

EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//migrate test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
         "DTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20270104T170000\r\nDURATION:PT1H\r\n"
         "{rule}SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
CARD = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:oma\r\nFN:Oma Gisela Müller 🎂\r\nTEL;TYPE=CELL:+49 170 1234567\r\n"
        "END:VCARD\r\n")
NS = {"D": "DAV:"}
PROPFIND = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
            "</D:prop></D:propfind>")


def etags(srv: Server, user: str, path: str) -> dict[str, str]:
    r = srv.request("PROPFIND", path, user, body=PROPFIND, headers={"Depth": "1"})
    assert r.status_code == 207, r.text[:300]
    found = {}
    for response in ET.fromstring(r.content).findall("D:response", NS):
        etag = response.findtext(".//D:getetag", namespaces=NS)
        href = response.findtext("D:href", namespaces=NS) or ""
        if etag and not href.endswith("/"):   # the items' (a collection's own is made anew, as its sync token)
            found[href] = etag
    return found


def migrate(srv: Server, dsn: str) -> subprocess.CompletedProcess:
    """``radicale-ext migrate`` as the admin types it, with the server's config."""
    return srv.cli_process("migrate", "--to", dsn)


def test_a_family_server_moves_to_postgresql_and_answers_as_before(tmp_path: Path, postgres_database: str) -> None:
    files = make_server(tmp_path / "files").start()
    try:
        assert files.request("MKCALENDAR", "/alice/家庭/", "alice").status_code == 201
        for uid, rule, summary in (("fussball", "RRULE:FREQ=WEEKLY;BYDAY=MO\r\n", "Fußball 🎉 training"),
                                   ("oma", "", "Oma Müllers Geburtstag")):
            r = files.request("PUT", f"/alice/家庭/{quote(uid + ' event')}.ics", "alice",
                              body=EVENT.format(uid=uid, rule=rule, summary=summary),
                              headers={"Content-Type": "text/calendar"})
            assert r.status_code == 201
        r = files.request("MKCOL", "/alice/Kontakte/", "alice", body=(
            '<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>'
            "<D:resourcetype><D:collection/><C:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>"))
        assert r.status_code == 201
        assert files.request("PUT", "/alice/Kontakte/oma.vcf", "alice", body=CARD,
                             headers={"Content-Type": "text/vcard"}).status_code == 201
        files.ok("circle", "create", "familie", "--manager", "alice")
        files.ok("circle", "add", "familie", "bob", "carol")
        files.ok("share", "add", "alice/家庭", "--circle", "familie", "--role", "subscriber")
        link = re.search(r"https?://\S+/\.links/\S+", files.ok("link", "create", "alice/家庭")).group(0)
        before = {path: etags(files, "alice", path) for path in ("/alice/家庭/", "/alice/Kontakte/")}
        before_bob = etags(files, "bob", "/bob/家庭~alice/")
        feed = requests.get(link, timeout=30)
        assert feed.status_code == 200 and "Fußball 🎉 training" in feed.text
    finally:
        files.stop()

    done = migrate(files, postgres_database)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "with 3 items" in done.stdout and "rows of" in done.stdout, done.stdout
    assert "checked: every item's ETag and every row are the same in PostgreSQL" in done.stdout
    again = migrate(files, postgres_database)            # safe to run again: the same copy
    assert again.returncode == 0 and again.stdout == done.stdout, again.stderr + again.stdout

    moved = make_server(tmp_path / "moved", storage={"postgresql_dsn": postgres_database})
    moved.start()
    try:
        for path, known in before.items():
            assert etags(moved, "alice", path) == known      # what clients hold stays valid
        assert etags(moved, "bob", "/bob/家庭~alice/") == before_bob   # the circle's share, as it was
        assert moved.request("PUT", "/bob/家庭~alice/x.ics", "bob", body=EVENT.format(
            uid="x", rule="", summary="x"), headers={"Content-Type": "text/calendar"}).status_code == 403
        r = moved.request("PROPFIND", "/dave/家庭~alice/", "dave", headers={"Depth": "0"})
        assert r.status_code == 404, moved.log()[-3000:]
        feed = requests.get(link.replace(f":{files.port}/", f":{moved.port}/"), timeout=30)
        assert feed.status_code == 200 and "Fußball 🎉 training" in feed.text   # the link's secret came along
        assert moved.request("GET", "/alice/Kontakte/oma.vcf", "alice").text == CARD   # byte for byte
    finally:
        moved.stop()
    assert not list((tmp_path / "moved" / "data" / "collections").rglob("*.ics"))   # nothing on files there


def test_a_database_that_cannot_be_reached_is_one_sentence_and_nothing_is_copied(tmp_path: Path) -> None:
    files = make_server(tmp_path / "files")
    done = migrate(files, "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.startswith("radicale-ext: error: PostgreSQL ") and "cannot be reached" in done.stderr, \
        done.stderr
    assert "postgresql_dsn" in done.stderr or "127.0.0.1:9" in done.stderr
