"""My alarms on someone else's calendar (caldav-sharing 5.5.x), with raw WebDAV requests: alice owns
"家庭" with a weekly "Fußball 🎉 training" that has a moved occurrence; bob collaborates, carol
subscribes.  Each sets their own alarms through their own path; alice's file never changes for it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import icalendar
import pytest

from ..dav_kit import NS, calendar_multiget, calendar_query, ctag, listing, parse_sync, responses, sync
from ..samples import ICS
from ..server import Server, StoredItem, make_server

CALENDAR = "家庭"
ITEM = "Fußball 🎉 training.ics"
UID = "fussball-müller-家庭"


def alarm(trigger: str, description: str = "Fußball 🎉") -> str:
    return f"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:{description}\r\nTRIGGER:{trigger}\r\nEND:VALARM\r\n"


def series(*, master: str = "", moved: str = "", summary: str = "Fußball 🎉 training", transp: str = "",
           extra: str = "") -> str:
    """The weekly training (Mondays 17:00 in Berlin), its 23 March occurrence moved to Tuesday 18:00."""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{UID}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260302T170000\r\n"
            "DURATION:PT1H30M\r\nRRULE:FREQ=WEEKLY;BYDAY=MO\r\n"
            f"SUMMARY:{summary}\r\nLOCATION:Sportplatz Müllerstraße\r\n{transp}{master}END:VEVENT\r\n"
            f"BEGIN:VEVENT\r\nUID:{UID}\r\nDTSTAMP:20260101T000000Z\r\n"
            "RECURRENCE-ID;TZID=Europe/Berlin:20260323T170000\r\nDTSTART;TZID=Europe/Berlin:20260324T180000\r\n"
            f"DURATION:PT1H30M\r\nSUMMARY:{summary} (Dienstag)\r\n{moved}END:VEVENT\r\n{extra}END:VCALENDAR\r\n")


def triggers(text: str) -> dict[str, list[str]]:
    """RECURRENCE-ID key ("" for the series) -> the TRIGGER values of its alarms."""
    found: dict[str, list[str]] = {}
    for component in icalendar.Calendar.from_ical(text).walk("VEVENT"):
        rid = component.get("RECURRENCE-ID")
        key = rid.dt.strftime("%m%d") if rid is not None else ""
        found[key] = sorted(a["TRIGGER"].to_ical().decode() for a in component.walk("VALARM"))
    return found


def path(user: str, item: str = ITEM) -> str:
    home = CALENDAR if user == "alice" else f"{CALENDAR}~alice"
    return f"/{user}/{quote(home)}/{quote(item)}"


def collection(user: str) -> str:
    return path(user, "")


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory, sharing_database: str):
    server = make_server(tmp_path_factory.mktemp("personal-alarms")).start()
    assert server.request("MKCALENDAR", collection("alice"), "alice").status_code == 201
    server.ok("share", "add", f"alice/{CALENDAR}", "--user", "bob", "--role", "collaborator")
    server.ok("share", "add", f"alice/{CALENDAR}", "--user", "carol", "--role", "subscriber")
    yield server
    server.stop()


def file_of(server: Server, item: str = ITEM) -> StoredItem:
    """alice's item as stored (her file, or its row on PostgreSQL)."""
    return StoredItem(server, f"/alice/{CALENDAR}/", item)


def put(server: Server, user: str, text: str, item: str = ITEM, **headers: str):
    return server.request("PUT", path(user, item), user, text, headers={**ICS, **headers})


def get(server: Server, user: str, item: str = ITEM):
    answer = server.request("GET", path(user, item), user)
    assert answer.status_code == 200, (user, answer.status_code, answer.text)
    return answer


def test_each_person_sets_their_own_alarms_and_the_owners_file_stays_byte_identical(family: Server) -> None:
    assert put(family, "alice", series(master=alarm("-PT30M"), moved=alarm("-PT1H"))).status_code == 201
    before = file_of(family).read_bytes()
    etags = {u: get(family, u).headers["ETag"] for u in ("alice", "bob", "carol")}
    assert etags["bob"] == etags["carol"] == etags["alice"], "nobody has alarms of their own yet"

    bob = put(family, "bob", series(master=alarm("-PT2H"), moved=alarm("-PT3H")), **{"If-Match": etags["bob"]})
    assert bob.status_code == 204, bob.text
    carol = put(family, "carol", series(master=alarm("-P1D") + alarm("-PT10M")), **{"If-Match": etags["carol"]})
    assert carol.status_code == 204, carol.text

    assert file_of(family).read_bytes() == before, "alice's file is never written for someone's alarms"
    assert triggers(get(family, "alice").text) == {"": ["-PT30M"], "0323": ["-PT1H"]}
    assert triggers(get(family, "bob").text) == {"": ["-PT2H"], "0323": ["-PT3H"]}
    # carol gave the series two alarms and sent the moved occurrence without any: she reads back what she sent
    assert triggers(get(family, "carol").text) == {"": ["-P1D", "-PT10M"], "0323": []}
    assert get(family, "bob").headers["ETag"] == bob.headers["ETag"]
    assert get(family, "carol").headers["ETag"] == carol.headers["ETag"]
    assert get(family, "alice").headers["ETag"] == etags["alice"], "alice's ETag moves only with her data"
    assert len({bob.headers["ETag"], carol.headers["ETag"], etags["alice"]}) == 3
    for user in ("bob", "carol"):   # the shared data is everyone's
        text = get(family, user).text
        assert "Sportplatz Müllerstraße" in text and "Fußball 🎉 training (Dienstag)" in text


def fresh(server: Server, item: str, text: str) -> str:
    """Put ``text`` as alice's ``item`` (a new event); its href in bob's mount, as the server writes it."""
    assert put(server, "alice", text, item).status_code in (201, 204)
    return path("bob", item)


def single(uid: str, summary: str, alarms: str = "", transp: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260310T190000\r\n"
            f"DURATION:PT2H\r\nSUMMARY:{summary}\r\n{transp}{alarms}END:VEVENT\r\nEND:VCALENDAR\r\n")


def test_a_subscriber_may_change_nothing_else_and_add_nothing(family: Server) -> None:
    item = "Oma Müller.ics"
    fresh(family, item, single("oma", "Oma Müllers Geburtstag 🎉", alarm("-PT1H")))
    before = file_of(family, item).read_bytes()
    for text, what in ((single("oma", "Oma Müllers Geburtstag (verschoben)", alarm("-PT2H")), "the summary"),
                       (single("oma", "Oma Müllers Geburtstag 🎉", alarm("-PT1H")).replace("PT2H", "PT3H"),
                        "the duration")):
        refused = put(family, "carol", text, item)
        assert refused.status_code == 403, (what, refused.text)
        error = ET.fromstring(refused.content)
        needed = error.find("D:need-privileges/D:resource", NS)
        assert needed is not None and needed.find("D:privilege/D:write-content", NS) is not None, refused.text
        reason = error.findtext("{urn:radicale-ext}reason") or ""
        assert "only their own alarms" in reason and "read-only" in reason, reason
    added = put(family, "carol", single("neu", "Neues Ereignis"), "neu.ics")
    assert added.status_code == 403 and "may not add events" in added.text
    assert family.request("DELETE", path("carol", item), "carol").status_code == 403
    assert file_of(family, item).read_bytes() == before
    assert not file_of(family, "neu.ics").exists()
    # her own alarms and TRANSP are hers, also when her client rewrote DTSTAMP
    own = single("oma", "Oma Müllers Geburtstag 🎉", alarm("-P1D"), "TRANSP:TRANSPARENT\r\n")
    kept = put(family, "carol", own.replace("DTSTAMP:20260101T000000Z", "DTSTAMP:20260301T101500Z"), item)
    assert kept.status_code == 204, kept.text
    seen = icalendar.Calendar.from_ical(get(family, "carol", item).text).walk("VEVENT")[0]
    assert str(seen["TRANSP"]) == "TRANSPARENT" and triggers(get(family, "carol", item).text) == {"": ["-P1D"]}
    assert "TRANSP" not in icalendar.Calendar.from_ical(get(family, "alice", item).text).walk("VEVENT")[0]
    assert file_of(family, item).read_bytes() == before
    stale = put(family, "carol", own, item, **{"If-Match": '"not-what-carol-sees"'})
    assert stale.status_code == 412


def test_a_collaborators_change_goes_to_the_file_with_the_owners_alarms_and_theirs_to_them(family: Server) -> None:
    item = "Elternabend.ics"
    fresh(family, item, single("eltern", "Elternabend", alarm("-PT30M")))
    changed = put(family, "bob", single("eltern", "Elternabend (Aula)", alarm("-PT5M")), item)
    assert changed.status_code == 204, changed.text
    stored = file_of(family, item).read_text()
    assert "Elternabend (Aula)" in stored and triggers(stored) == {"": ["-PT30M"]}, "alice's alarm as it was"
    assert triggers(get(family, "bob", item).text) == {"": ["-PT5M"]}
    assert triggers(get(family, "carol", item).text) == {"": ["-PT30M"]}, "carol has none of her own: alice's"
    assert "Elternabend (Aula)" in get(family, "carol", item).text
    # a collaborator's new event: the file has no alarm of theirs, they have theirs
    created = put(family, "bob", single("training", "Training 🎉", alarm("-PT45M")), "Training.ics")
    assert created.status_code == 201, created.text
    assert "VALARM" not in file_of(family, "Training.ics").read_text()
    assert triggers(get(family, "bob", "Training.ics").text) == {"": ["-PT45M"]}


def test_etags_ctags_and_sync_move_only_for_the_person_whose_alarms_changed(family: Server) -> None:
    item = "Schwimmen.ics"
    fresh(family, item, single("schwimmen", "Schwimmen 🏊", alarm("-PT20M")))
    people = ("alice", "bob", "carol")
    tokens = {u: parse_sync(sync(family, collection(u), u)).token for u in people}
    ctags = {u: ctag(family, collection(u), u) for u in people}
    listed = {u: listing(family, collection(u), u) for u in people}
    assert put(family, "bob", single("schwimmen", "Schwimmen 🏊", alarm("-PT1H")), item).status_code == 204
    for user in people:
        answer = parse_sync(sync(family, collection(user), user, tokens[user]))
        reported = {h.rsplit("/", 1)[-1] for h in answer.reported}
        now = listing(family, collection(user), user)
        if user == "bob":
            assert reported == {quote(item)}, answer
            assert ctag(family, collection(user), user) != ctags[user]
            assert now[path(user, item)] != listed[user][path(user, item)]
            assert now[path(user, item)] == get(family, user, item).headers["ETag"]
        else:
            assert reported == set() and answer.token == tokens[user], (user, answer)
            assert ctag(family, collection(user), user) == ctags[user]
            assert now == listed[user]
    # the multiget and the week's query through bob's mount give bob's alarms
    multiget = family.request("REPORT", collection("bob"), "bob", calendar_multiget([path("bob", item)]),
                              headers={"Content-Type": "application/xml", "Depth": "1"})
    query = family.request("REPORT", collection("bob"), "bob",
                           calendar_query("VEVENT", "20260309T000000Z", "20260316T000000Z"),
                           headers={"Content-Type": "application/xml", "Depth": "1"})
    for answer in (multiget, query):
        data = [r.findtext(".//C:calendar-data", namespaces=NS) for h, r in responses(answer.content)
                if h == path("bob", item)]
        assert data and triggers(data[0]) == {"": ["-PT1H"]}, answer.text


def test_an_event_sent_without_alarms_means_no_alarms_for_me(family: Server) -> None:
    item = "Chor.ics"
    fresh(family, item, single("chor", "Chorprobe", alarm("-PT15M")))
    assert put(family, "carol", single("chor", "Chorprobe"), item).status_code == 204
    assert triggers(get(family, "carol", item).text) == {"": []}
    assert triggers(get(family, "alice", item).text) == {"": ["-PT15M"]}
    # alice changes her alarm: carol's stay hers (none)
    fresh(family, item, single("chor", "Chorprobe", alarm("-PT25M")))
    assert triggers(get(family, "carol", item).text) == {"": []}


def test_one_occurrence_alone_gets_an_alarm_of_its_own(family: Server) -> None:
    item = "Wochentraining.ics"
    fresh(family, item, series(summary="Wochentraining").replace(UID, "woche"))
    stored = file_of(family, item).read_bytes()
    occurrence = ("BEGIN:VEVENT\r\nUID:woche\r\nDTSTAMP:20260101T000000Z\r\n"
                  "RECURRENCE-ID;TZID=Europe/Berlin:20260309T170000\r\nDTSTART;TZID=Europe/Berlin:20260309T170000\r\n"
                  "DURATION:PT1H30M\r\nSUMMARY:Wochentraining\r\nLOCATION:Sportplatz Müllerstraße\r\n"
                  f"{alarm('-PT10M')}END:VEVENT\r\n")
    text = series(summary="Wochentraining", extra=occurrence).replace(UID, "woche")
    answer = put(family, "carol", text, item)
    assert answer.status_code == 204, answer.text
    assert file_of(family, item).read_bytes() == stored
    assert triggers(get(family, "carol", item).text) == {"": [], "0323": [], "0309": ["-PT10M"]}
    assert "0309" not in triggers(get(family, "alice", item).text)


def test_the_owner_deleting_the_event_drops_everyones_own_alarms(family: Server) -> None:
    item = "Flohmarkt.ics"
    fresh(family, item, single("floh", "Flohmarkt", alarm("-PT30M")))
    assert put(family, "bob", single("floh", "Flohmarkt", alarm("-PT2H")), item).status_code == 204
    assert family.request("DELETE", path("alice", item), "alice").status_code in (200, 204)
    fresh(family, item, single("floh", "Flohmarkt", alarm("-PT30M")))
    assert triggers(get(family, "bob", item).text) == {"": ["-PT30M"]}, "the new event: alice's alarms"


def test_moving_or_renaming_the_event_keeps_everyones_own_alarms(family: Server) -> None:
    item, renamed = "Sommerfest.ics", "Sommerfest 2026 🎉.ics"
    fresh(family, item, single("sommer", "Sommerfest", alarm("-PT30M")))
    assert put(family, "carol", single("sommer", "Sommerfest", alarm("-P2D")), item).status_code == 204
    moved = family.request("MOVE", path("bob", item), "bob",
                           headers={"Destination": family.url + path("bob", renamed)})
    assert moved.status_code in (201, 204), moved.text
    assert triggers(get(family, "carol", renamed).text) == {"": ["-P2D"]}
    assert triggers(get(family, "alice", renamed).text) == {"": ["-PT30M"]}


def test_own_alarms_larger_than_an_event_may_be_are_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    server = make_server(tmp_path / "small", server={"max_resource_size": "4000"}).start()
    try:
        assert server.request("MKCALENDAR", collection("alice"), "alice").status_code == 201
        server.ok("share", "add", f"alice/{CALENDAR}", "--user", "carol", "--role", "subscriber")
        assert put(server, "alice", single("oma", "Oma Müllers Geburtstag 🎉", alarm("-PT1H")), "Oma.ics"
                   ).status_code == 201
        many = "".join(alarm(f"-PT{n}M", "Erinnerung an Oma Müllers Geburtstag 🎉") for n in range(1, 120))
        refused = put(server, "carol", single("oma", "Oma Müllers Geburtstag 🎉", many), "Oma.ics")
        assert refused.status_code == 413 and "max_resource_size" in refused.text, refused.text
        assert triggers(get(server, "carol", "Oma.ics").text) == {"": ["-PT1H"]}, "nothing kept"
    finally:
        server.stop()
