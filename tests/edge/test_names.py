"""Names people give calendars and events round-trip through every request (issue 13, items 10, 12, 13).

Clients send a path percent-encoded as UTF-8 (RFC 3986 section 2.5).
Waitress hands it over as latin-1 (PEP 3333), so before the fix ``Müller``
became a folder ``MÃ¼ller``, ``café.ics`` was stored as ``cafÃ©.ics`` and a
``€`` was refused.  A ``#`` starts a fragment, which is not part of the
path (RFC 3986 section 3.5): ``DELETE /alice/frag/#ment`` deleted
``frag/``.  A name longer than a file name may be gave 500.
"""

from __future__ import annotations

import base64
import datetime
import socket
import uuid
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import caldav
import pytest
import requests

from ..dav_kit import calendar_multiget, calendar_query, parse_sync, responses, sync_collection
from ..samples import ICS, event
from ..server import Server, password

NAMES = ["家庭", "Fußball", "Müller", "🎉 party", "Team #1", "100% Fußball", "Preis €"]
ITEM_NAMES = ["café.ics", "Müller € Abend.ics", "🎉 party.ics", "家庭聚会.ics", "50%.ics", "Nr #2.ics"]


def url(*names: str, collection: bool = False) -> str:
    """The path a client sends: each name percent-encoded as UTF-8."""
    return "/" + "/".join(quote(n, safe="") for n in names) + ("/" if collection else "")


def paths_in(answer: requests.Response) -> set[str]:
    """The hrefs of a multistatus, decoded."""
    assert answer.status_code == 207, (answer.status_code, answer.text[:500])
    return {unquote(urlparse(href).path) for href, _ in responses(answer.content)}


def on_disk(server: Server, *names: str) -> Path:
    return server.root.joinpath("data", "collections", "collection-root", *names)


def listing(server: Server, *names: str) -> list[str]:
    """The names in a collection's folder, Radicale's own files left out."""
    return sorted(p.name for p in on_disk(server, *names).iterdir() if not p.name.startswith("."))


def stored(server: Server, path: str, uid: str) -> int:
    return server.request("PUT", path, "alice", event(uid), headers=ICS).status_code


@pytest.mark.parametrize("name", NAMES)
def test_a_calendar_name_round_trips(server: Server, name: str) -> None:
    home = url("alice", collection=True)
    calendar = url("alice", name, collection=True)
    created = server.request("MKCALENDAR", calendar, "alice")
    assert created.status_code == 201, created.text
    assert on_disk(server, "alice", name).is_dir(), sorted(p.name for p in on_disk(server, "alice").iterdir())
    assert f"/alice/{name}/" in paths_in(server.request("PROPFIND", home, "alice", headers={"Depth": "1"}))
    assert paths_in(server.request("PROPFIND", calendar, "alice", headers={"Depth": "0"})) == {f"/alice/{name}/"}
    assert server.request("DELETE", calendar, "alice").status_code in (200, 204)
    assert not on_disk(server, "alice", name).exists()
    assert server.request("PROPFIND", calendar, "alice", headers={"Depth": "0"}).status_code == 404


@pytest.mark.parametrize("item", ITEM_NAMES)
def test_an_item_name_round_trips_through_every_method(server: Server, item: str) -> None:
    folder = f"Fußball 家庭 {uuid.uuid4().hex[:6]}"
    calendar = url("alice", folder, collection=True)
    assert server.request("MKCALENDAR", calendar, "alice").status_code == 201
    uid = f"{item}-{uuid.uuid4().hex[:6]}"
    put = server.request("PUT", calendar + quote(item), "alice", event(uid, "Müller kommt 🎉"), headers=ICS)
    assert put.status_code == 201, put.text
    assert listing(server, "alice", folder) == [item]

    got = server.request("GET", calendar + quote(item), "alice")
    assert got.status_code == 200 and "Müller kommt 🎉" in got.text

    href = f"/alice/{folder}/{item}"
    assert href in paths_in(server.request("PROPFIND", calendar, "alice", headers={"Depth": "1"}))
    assert paths_in(server.request("REPORT", calendar, "alice", calendar_multiget([quote(href)]),
                                   headers={"Depth": "1"})) == {href}
    assert paths_in(server.request("REPORT", calendar, "alice",
                                   calendar_query("VEVENT", "20260101T000000Z", "20270101T000000Z"),
                                   headers={"Depth": "1"})) == {href}
    synced = parse_sync(server.request("REPORT", calendar, "alice", sync_collection(), headers={"Depth": "1"}))
    assert {unquote(urlparse(h).path) for h in synced.found} == {href}

    renamed = "umbenannt " + item.replace("#", "Nr.")   # a MOVE to a name with '#' is refused (below)
    moved = server.request("MOVE", calendar + quote(item), "alice",
                           headers={"Destination": server.url + calendar + quote(renamed)})
    assert moved.status_code in (201, 204), moved.text
    assert server.request("GET", calendar + quote(item), "alice").status_code == 404
    assert "Müller kommt 🎉" in server.request("GET", calendar + quote(renamed), "alice").text
    assert on_disk(server, "alice", folder, renamed).is_file()

    after = parse_sync(server.request("REPORT", calendar, "alice", sync_collection(synced.token),
                                      headers={"Depth": "1"}))
    assert {unquote(urlparse(h).path) for h in after.gone} == {href}
    assert {unquote(urlparse(h).path) for h in after.found} == {f"/alice/{folder}/{renamed}"}

    assert server.request("DELETE", calendar + quote(renamed), "alice").status_code in (200, 204)
    assert server.request("GET", calendar + quote(renamed), "alice").status_code == 404


def test_the_caldav_library_keeps_the_names(server: Server) -> None:
    client = caldav.DAVClient(url=server.url + "/", username="bob", password=password("bob"))
    principal = client.principal()
    made = principal.make_calendar(name="Fußball 🎉", cal_id="家庭 Fußball")
    assert unquote(urlparse(str(made.url)).path) == "/bob/家庭 Fußball/"
    found = {c.get_display_name(): c for c in principal.calendars()}
    assert unquote(urlparse(str(found["Fußball 🎉"].url)).path) == "/bob/家庭 Fußball/"
    calendar = found["Fußball 🎉"]
    calendar.save_event(event("Müller-Geburtstag-家庭", "Müllers Geburtstag 🎉"))
    assert on_disk(server, "bob", "家庭 Fußball", "Müller-Geburtstag-家庭.ics").is_file()
    [stored] = calendar.events()
    assert unquote(urlparse(str(stored.url)).path) == "/bob/家庭 Fußball/Müller-Geburtstag-家庭.ics"
    assert stored.icalendar_component["summary"] == "Müllers Geburtstag 🎉"
    [found_again] = calendar.search(start=_dt(2026, 1, 1), end=_dt(2026, 2, 1), event=True)
    assert str(found_again.icalendar_component["uid"]) == "Müller-Geburtstag-家庭"
    stored.delete()
    assert calendar.events() == []


def _dt(year: int, month: int, day: int) -> datetime.datetime:
    return datetime.datetime(year, month, day, tzinfo=datetime.UTC)


def test_a_path_that_is_not_utf8_is_refused_with_a_reason(server: Server) -> None:
    answer = raw(server, b"PROPFIND /alice/M%FCller/ HTTP/1.1", b"Depth: 0", auth="alice")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"UTF-8" in answer
    assert not on_disk(server, "alice", "M\xfcller").exists()


# -- a fragment is not part of the path (item 12) -------------------------------------------


def raw(server: Server, request_line: bytes, *headers: bytes, auth: str | None = None, body: bytes = b"") -> bytes:
    """Send one request exactly as written (requests drops a '#...' before sending) and read the answer."""
    lines = [request_line, f"Host: 127.0.0.1:{server.port}".encode(), b"Connection: close",
             f"Content-Length: {len(body)}".encode(), *headers]
    if auth:
        lines.append(b"Authorization: Basic " + base64.b64encode(f"{auth}:{password(auth)}".encode()))
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PROPPATCH", "MKCOL", "MOVE"])
def test_a_request_target_with_a_fragment_touches_nothing(server: Server, method: str) -> None:
    name = f"frag-{method.lower()}"
    assert server.request("MKCALENDAR", f"/alice/{name}/", "alice").status_code == 201
    assert stored(server, f"/alice/{name}/keep.ics", f"keep-{name}") == 201
    extra = [b"Destination: /alice/elsewhere/"] if method == "MOVE" else []
    body = event("frag").encode() if method == "PUT" else b""
    answer = raw(server, f"{method} /alice/{name}/#ment HTTP/1.1".encode(), *extra, auth="alice", body=body)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"fragment" in answer and b"%23" in answer, answer
    assert server.request("GET", f"/alice/{name}/keep.ics", "alice").status_code == 200
    assert listing(server, "alice", name) == ["keep.ics"]


def test_a_move_to_a_name_radicale_would_cut_short_is_refused(server: Server) -> None:
    """Radicale decodes the Destination before splitting it: "Nr #2.ics" would become "Nr "."""
    calendar = url("alice", "Umzug Müller", collection=True)
    assert server.request("MKCALENDAR", calendar, "alice").status_code == 201
    assert stored(server, calendar + "from.ics", "umzug") == 201
    moved = server.request("MOVE", calendar + "from.ics", "alice",
                           headers={"Destination": server.url + calendar + quote("Nr #2.ics")})
    assert moved.status_code == 403 and "Nr #2.ics" in moved.text, moved.text
    assert listing(server, "alice", "Umzug Müller") == ["from.ics"]


def test_a_hash_sign_in_a_name_is_sent_percent_encoded(server: Server) -> None:
    assert server.request("MKCALENDAR", url("alice", "Spiel #3", collection=True), "alice").status_code == 201
    assert on_disk(server, "alice", "Spiel #3").is_dir()


# -- names too long (item 13) -----------------------------------------------------------------


LONG = "a" * 10_000


@pytest.mark.parametrize("method, path, extra", [
    ("MKCALENDAR", url("alice", LONG, collection=True), {}),
    ("MKCOL", url("alice", LONG, collection=True), {}),
    ("PUT", url("alice", "long-names", LONG + ".ics"), ICS),
    ("PUT", url("alice", "long-names", "家" * 90 + ".ics"), ICS),   # 274 bytes in UTF-8
    ("GET", url("alice", "long-names", LONG + ".ics"), {}),
    ("PROPFIND", url("alice", LONG, collection=True), {"Depth": "0"}),
    ("DELETE", url("alice", LONG, collection=True), {}),
    ("MOVE", url("alice", "long-names", "short.ics"), {"Destination": url("alice", "long-names", LONG + ".ics")}),
])
def test_a_name_too_long_is_refused_before_the_disk(server: Server, method: str, path: str,
                                                     extra: dict[str, str]) -> None:
    if server.request("PROPFIND", "/alice/long-names/", "alice", headers={"Depth": "0"}).status_code == 404:
        assert server.request("MKCALENDAR", "/alice/long-names/", "alice").status_code == 201
        assert stored(server, "/alice/long-names/short.ics", "short") == 201
    body = event("long") if method == "PUT" else None
    answer = server.request(method, path, "alice", body, headers=dict(extra))
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert "255" in answer.text and "long" in answer.text, answer.text[:500]
    assert "Traceback" not in server.log() and "File name too long" not in server.log()
    assert listing(server, "alice", "long-names") == ["short.ics"]


def test_the_longest_name_a_file_may_have_is_kept(server: Server) -> None:
    name = "家" * 80 + ".ics"   # 244 bytes in UTF-8
    assert server.request("MKCALENDAR", "/alice/longest/", "alice").status_code == 201
    assert stored(server, "/alice/longest/" + quote(name), "longest") == 201
    assert server.request("GET", "/alice/longest/" + quote(name), "alice").status_code == 200
