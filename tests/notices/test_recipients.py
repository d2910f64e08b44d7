"""Who hears about a change: everyone whose access counts, but the actor, and nobody else.

Each test changes a calendar through HTTP, runs the notice worker once, and
reads every user's notification collection."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote, unquote

import pytest

from ..notice_kit import change_documents, change_texts, notice_server, put_event, worker_of
from ..server import USERS, Server, stored_beforehand


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = notice_server(tmp_path_factory.mktemp("recipients")).start()
    yield server
    server.stop()


def calendar(srv: Server, owner: str, name: str) -> str:
    assert srv.request("MKCALENDAR", f"/{owner}/{name}/", owner).status_code == 201
    return f"{owner}/{name}"


def who_heard(srv: Server, words: str) -> set[str]:
    """Run the worker, then: which users have a change notice whose sentence contains ``words``."""
    worker_of(srv).run_until_idle()
    return {u for u in USERS if any(words in (t or "") for t in change_texts(srv, u))}


def test_owner_collaborator_and_subscriber_hear_and_the_actor_does_not(srv: Server) -> None:
    club = calendar(srv, "alice", "club")
    srv.ok("share", "add", club, "--user", "bob", "--role", "collaborator")
    srv.ok("share", "add", club, "--user", "carol", "--role", "subscriber")

    put_event(srv, "bob", "/bob/club~alice/dinner.ics", "dinner", "Club dinner")
    assert who_heard(srv, "Club dinner") == {"alice", "carol"}

    put_event(srv, "alice", "/alice/club/lunch.ics", "lunch", "Club lunch")
    assert who_heard(srv, "Club lunch") == {"bob", "carol"}


def test_circle_members_hear_and_a_member_who_left_does_not(srv: Server) -> None:
    cal = calendar(srv, "alice", "family")
    srv.ok("circle", "create", "fam", "--manager", "alice")
    srv.ok("circle", "add", "fam", "bob", "erin", acting_as="alice")
    srv.ok("share", "add", cal, "--circle", "fam", "--role", "collaborator")

    put_event(srv, "erin", "/erin/family~alice/zoo.ics", "zoo", "Zoo trip")
    assert who_heard(srv, "Zoo trip") == {"alice", "bob"}

    srv.ok("circle", "remove", "fam", "erin", acting_as="alice")
    put_event(srv, "alice", "/alice/family/pool.ics", "pool", "Pool day")
    assert who_heard(srv, "Pool day") == {"bob"}


def test_only_accepted_invitations_count(srv: Server) -> None:
    cal = calendar(srv, "alice", "party")
    for user in ("bob", "carol", "dave", "erin"):
        srv.ok("invite", cal, "--user", user, "--role", "subscriber", acting_as="alice")
    srv.ok("invitation", "accept", cal, acting_as="carol")      # accepted
    srv.ok("invitation", "decline", cal, acting_as="dave")      # declined
    srv.ok("invitation", "accept", cal, acting_as="erin")
    srv.ok("invitation", "remove", cal, acting_as="erin")       # took it out of their home
    # bob never answered: pending

    put_event(srv, "alice", "/alice/party/cake.ics", "cake", "Cake time")
    assert who_heard(srv, "Cake time") == {"carol"}


def test_subscribers_in_scope_hear_and_out_of_scope_do_not(srv: Server) -> None:
    cal = calendar(srv, "alice", "school")
    srv.ok("scope", "add", cal, "--user", "grace", acting_as="alice")
    srv.ok("scope", "add", cal, "--user", "frank", acting_as="alice")
    srv.ok("subscribe", cal, acting_as="grace")
    srv.ok("subscribe", cal, acting_as="frank")

    put_event(srv, "alice", "/alice/school/fair.ics", "fair", "School fair")
    assert who_heard(srv, "School fair") == {"grace", "frank"}

    srv.ok("scope", "remove", cal, "--user", "frank", acting_as="alice")
    put_event(srv, "alice", "/alice/school/exam.ics", "exam", "Exam week")
    assert who_heard(srv, "Exam week") == {"grace"}


def test_a_muted_collection_and_muting_everything_are_silent(srv: Server) -> None:
    cal = calendar(srv, "alice", "quiet")
    for user in ("bob", "carol", "dave"):
        srv.ok("share", "add", cal, "--user", user, "--role", "subscriber")
    srv.ok("notices", "mute", cal, acting_as="bob")
    srv.ok("notices", "mute", "--user", "carol")                  # the admin, for carol: everything

    put_event(srv, "alice", "/alice/quiet/a.ics", "qa", "Quiet one")
    assert who_heard(srv, "Quiet one") == {"dave"}

    srv.ok("notices", "unmute", cal, acting_as="bob")
    put_event(srv, "alice", "/alice/quiet/b.ics", "qb", "Loud two")
    assert who_heard(srv, "Loud two") == {"bob", "dave"}


def test_reached_twice_hears_once(srv: Server) -> None:
    cal = calendar(srv, "alice", "twice")
    srv.ok("circle", "create", "pair", "--manager", "alice")
    srv.ok("circle", "add", "pair", "dave", acting_as="alice")
    srv.ok("share", "add", cal, "--circle", "pair", "--role", "subscriber")
    srv.ok("share", "add", cal, "--user", "dave", "--role", "collaborator")

    put_event(srv, "alice", "/alice/twice/t.ics", "t", "Twice shared")
    worker_of(srv).run_until_idle()
    assert [t for t in change_texts(srv, "dave") if "Twice shared" in (t or "")] == [
        "Alice added Twice shared on Mon 5 Jan 18:00 in twice (alice)"]


def test_the_rights_file_has_the_last_word(srv: Server) -> None:
    cal = calendar(srv, "alice", "private")
    srv.ok("share", "add", cal, "--user", "erin", "--role", "subscriber")
    srv.ok("share", "add", cal, "--user", "bob", "--role", "subscriber")
    rules = srv.rights_file.read_text()
    srv.rights_file.write_text("[no-erin-on-private]\nuser: erin\ncollection: alice/private(/.*)?\npermissions:\n\n"
                               + rules)
    try:
        put_event(srv, "alice", "/alice/private/p.ics", "p", "Private matter")
        assert who_heard(srv, "Private matter") == {"bob"}
    finally:
        srv.rights_file.write_text(rules)


def test_deleting_a_shared_calendar_tells_who_had_it(srv: Server) -> None:
    cal = calendar(srv, "alice", "doomed")
    srv.ok("share", "add", cal, "--user", "bob", "--role", "collaborator")
    srv.ok("invite", cal, "--user", "carol", "--role", "subscriber", acting_as="alice")   # pending: no access
    assert srv.request("DELETE", "/alice/doomed/", "alice").status_code == 200
    assert who_heard(srv, "deleted doomed") == {"bob"}


def test_a_notice_names_the_share_where_it_is_in_the_persons_home(tmp_path) -> None:
    """bob kept a calendar of his own at ``家庭~alice`` (from before mount names were reserved), so
    alice's share of 家庭 is ``家庭~alice~2`` in his home: the notice's links lead there, not to his own."""
    server = notice_server(tmp_path / "displaced")
    stored_beforehand(server, "/bob/家庭~alice/", {"tag": "VCALENDAR", "D:displayname": "Bobs eigener"})
    server.start()
    try:
        assert server.request("MKCALENDAR", f"/alice/{quote('家庭')}/", "alice").status_code == 201
        server.ok("share", "add", "alice/家庭", "--user", "bob", "--role", "subscriber")
        put_event(server, "alice", f"/alice/{quote('家庭')}/{quote('Fußball 🎉.ics')}", "fb", "Fußball 🎉")
        worker_of(server).run_until_idle()
        [document] = change_documents(server, "bob")
        hrefs = [unquote(h.text or "") for h in document.iter("{DAV:}href")]
        assert "/bob/家庭~alice~2/Fußball 🎉.ics" in hrefs, hrefs
        assert not any(h.startswith("/bob/家庭~alice/") for h in hrefs), hrefs
    finally:
        server.stop()
