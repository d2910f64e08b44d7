"""Bad zone names, ids and numbers on the command line of notices and reminders (issue 13, item 22):
one readable line and a non-zero exit from the installed ``radicale-ext``, never a traceback, and
nothing changed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ..notice_kit import notice_server
from ..server import Server


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = notice_server(tmp_path_factory.mktemp("cli-errors")).start()
    assert server.request("MKCALENDAR", "/alice/familie/", "alice").status_code == 201
    server.ok("share", "add", "alice/familie", "--user", "bob", "--role", "subscriber")
    yield server
    server.stop()


def one_line_error(srv: Server, *args: str) -> str:
    done = srv.cli_process(*args)
    assert done.returncode != 0, done.stdout
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("radicale-ext: error: "), done.stderr
    for leak in ("Traceback", "Errno", "site-packages", "Error:"):
        assert leak not in done.stderr, done.stderr
    return done.stderr


@pytest.mark.parametrize(("args", "said"), [
    (("--as", "bob", "notices", "timezone", "America"), "'America' is not a time zone"),
    (("--as", "bob", "notices", "timezone", "Europe/" + "x" * 300), "is not a time zone"),
    (("--as", "bob", "notices", "timezone", "Europe/Berlin/"), "is not a time zone"),
    (("--as", "bob", "notices", "timezone", "../../etc/passwd"), "is not a time zone"),
    (("notices", "retry", "99999999999999999999999"), "is not an id from 'radicale-ext notices dead'"),
    (("notices", "retry", "S99999999999999999999999"), "is not an id from 'radicale-ext notices dead'"),
    (("--as", "bob", "reminders", "upcoming", "--limit", "99999999999999999999"), "--limit is a number from 1 to"),
    (("--as", "bob", "reminders", "upcoming", "--limit", "0"), "--limit is a number from 1 to"),
    (("--as", "bob", "reminders", "upcoming", "--now", "nan"), "--now is a time in Unix seconds"),
    (("--as", "bob", "reminders", "upcoming", "--now", "1e300"), "--now is a time in Unix seconds"),
    (("reminders", "default", "alice/familie", "99999w"), "between 1 minute and 4 weeks"),
    (("outbox", "list", "--after", "99999999999999999999999"), "--after is a record id"),
    (("--as", "bob", "outbox", "list"), "only the admin may list the outbox"),
])
def test_bad_values_get_one_readable_line(srv: Server, args: tuple[str, ...], said: str) -> None:
    before = srv.ok("--json", "notices", "show", "--user", "bob")
    assert said in one_line_error(srv, *args)
    assert srv.ok("--json", "notices", "show", "--user", "bob") == before, "nothing changed"


def test_a_zone_option_that_names_a_folder_is_refused_in_one_line(tmp_path) -> None:
    server = notice_server(tmp_path / "srv", notices_reminder_timezone="America")
    expected = "[hook] notices_reminder_timezone = 'America': not a time zone"
    assert expected in one_line_error(server, "--as", "bob", "reminders", "upcoming")
    with pytest.raises(RuntimeError, match="server exited with 1") as refused:
        server.start()
    assert expected in str(refused.value) and "Traceback" not in str(refused.value)


def test_a_good_zone_still_works(srv: Server) -> None:
    srv.ok("notices", "timezone", "America/Argentina/Buenos_Aires", acting_as="bob")
    assert json.loads(srv.ok("--json", "notices", "show", "--user", "bob"))[0]["timezone"] == \
        "America/Argentina/Buenos_Aires"
    srv.ok("notices", "timezone", "--clear", acting_as="bob")
