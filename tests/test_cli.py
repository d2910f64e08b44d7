"""The radicale-ext command line: users, shares, listings, help, and bad input.

Every check of access goes over HTTP to the real server; the CLI runs
in-process (fast) except where the real console script's exit code and
stderr matter (``cli_process``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import bcrypt
import pytest

from radicale_ext import cli

from .samples import address_book_mkcol, card, event
from .server import CliResult, Server, password

ADDRESSBOOK = address_book_mkcol()


# -- helpers (also used by test_circles.py) ----------------------------------------

def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def mkcalendar(server: Server, owner: str, name: str | None = None) -> str:
    name = name or unique("cal")
    assert server.request("MKCALENDAR", f"/{owner}/{name}/", owner).status_code == 201
    return name


def mkaddressbook(server: Server, owner: str, name: str | None = None) -> str:
    name = name or unique("book")
    assert server.request("MKCOL", f"/{owner}/{name}/", owner, ADDRESSBOOK).status_code == 201
    return name


def add_user(server: Server, prefix: str = "u") -> str:
    """A new account whose password is the harness's ``password(user)``.

    Written straight into the users file with a cheap bcrypt cost, to keep the
    tests fast; ``user add`` itself is tested below.
    """
    user = unique(prefix)
    hashed = bcrypt.hashpw(password(user).encode(), bcrypt.gensalt(4)).decode()
    with open(server.root / "data" / "users", "a") as f:
        f.write(f"{user}:{hashed}\n")
    return user


def can_read(server: Server, user: str, owner: str, name: str) -> bool:
    """Through the share mounted in the user's home (207) or not at all (404)."""
    status = server.request("PROPFIND", f"/{user}/{name}~{owner}/", user, headers={"Depth": "0"}).status_code
    assert status in (207, 404), status
    return status == 207


def put_event(server: Server, user: str, owner: str, name: str, *, at_owner: bool = False) -> int:
    """Status of a new event's PUT through the share in the user's home
    (or, ``at_owner``, straight into the owner's collection)."""
    uid = uuid.uuid4().hex
    path = f"/{owner}/{name}/" if at_owner else f"/{user}/{name}~{owner}/"
    return server.request("PUT", f"{path}{uid}.ics", user, event(uid),
                          headers={"Content-Type": "text/calendar"}).status_code


def state(server: Server) -> dict[str, object]:
    """Everything the CLI may change: the sharing tables and the users and groups files."""
    conn = server.sharing_db()
    try:
        tables = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall())
                  for t in ("circles", "circle_members", "circle_managers", "shares")}
    finally:
        conn.close()
    return {**tables, "users": (server.root / "data" / "users").read_bytes(),
            "groups": server.groups_file.read_bytes()}


def one_line_error(result: CliResult | object, *contains: str) -> str:
    """The single stderr line of a failed command (in-process or real process)."""
    code = getattr(result, "code", getattr(result, "returncode", None))
    out, err = getattr(result, "out", getattr(result, "stdout", "")), getattr(result, "err",
                                                                               getattr(result, "stderr", ""))
    assert code == 1, (code, out, err)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("radicale-ext: error: "), line
    assert len(line) < 400, line
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in line), line
    for text in contains:
        assert text in line, line
    return line


# -- --help everywhere --------------------------------------------------------------

def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(cli._parser())


def test_every_command_is_listed() -> None:
    expected = {("user", "add"), ("user", "password"), ("user", "remove"), ("user", "list"),
                ("circle", "create"), ("circle", "delete"), ("circle", "add"), ("circle", "remove"),
                ("circle", "manager"), ("circle", "list"), ("circle", "show"),
                ("share", "add"), ("share", "role"), ("share", "remove"), ("share", "list"),
                ("shared-with",), ("serve",), ("outbox", "list")}
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "radicale-ext")
def test_help_of_every_command(command: tuple[str, ...]) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as done:
        cli.main([*command, "--help"])
    assert done.value.code == 0
    assert out.getvalue().startswith(" ".join(("usage: radicale-ext", *command)))
    assert err.getvalue() == ""


@pytest.mark.parametrize("command", [(), ("share", "add"), ("circle",)])
def test_help_of_the_installed_console_script(server: Server, command: tuple[str, ...]) -> None:
    result = server.cli_process(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(" ".join(("usage: radicale-ext", *command)))


def test_no_command_is_a_usage_error(server: Server) -> None:
    result = server.cli_process()
    assert result.returncode == 2
    assert "usage: radicale-ext" in result.stderr and "Traceback" not in result.stderr


# -- users ----------------------------------------------------------------------------

def test_user_add_stores_a_bcrypt_hash_the_server_accepts(server: Server) -> None:
    user = unique("henry")
    result = server.cli_process("user", "add", user, "--password-stdin", stdin=password(user) + "\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"user {user} added\n", "")

    lines = [ln for ln in (server.root / "data" / "users").read_text().splitlines() if ln.startswith(user + ":")]
    assert len(lines) == 1
    hashed = lines[0].split(":", 1)[1]
    assert hashed.startswith("$2b$")
    assert bcrypt.checkpw(password(user).encode(), hashed.encode())
    assert not bcrypt.checkpw(b"wrong", hashed.encode())

    assert server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"}).status_code == 207
    wrong = server.session.request("PROPFIND", f"{server.url}/{user}/", auth=(user, "wrong"),
                                   headers={"Depth": "0"}, timeout=30)
    assert wrong.status_code == 401


def test_user_list_text_and_json(server: Server) -> None:
    user = add_user(server, "list")
    text = server.ok("user", "list").splitlines()
    assert text == sorted(text) and user in text and "alice" in text
    rows = json.loads(server.ok("--json", "user", "list"))
    assert {"user": user} in rows and rows == sorted(rows, key=lambda r: r["user"])


def test_calls_in_one_process_share_the_parser_and_nothing_else(server: Server) -> None:
    """The parser is built once per process: what one call chose (--json, --as, a command's options, a bad
    command) is not what the next call gets."""
    calendar = mkcalendar(server, "alice", "Müller 家庭")
    assert cli._parser() is cli._parser()
    json_rows = json.loads(server.ok("--json", "user", "list"))
    assert server.ok("user", "list").splitlines() == [row["user"] for row in json_rows]
    server.ok("share", "add", f"alice/{calendar}", "--user", "bob", "--role", "collaborator", acting_as="alice")
    assert server.cli("share", "add", f"alice/{calendar}", "--user", "dave", "--role", "subscriber",
                      acting_as="carol").code == 1, "carol owns nothing here"
    server.ok("share", "add", f"alice/{calendar}", "--user", "dave", "--role", "subscriber")   # the admin: no --as left
    rows = {r["user"]: r["role"] for r in json.loads(server.ok("--json", "share", "list", f"alice/{calendar}"))}
    assert rows == {"bob": "collaborator", "dave": "subscriber"}
    assert server.cli("no-such-command").code == 2
    assert server.ok("user", "list").splitlines() == [row["user"] for row in json_rows]


def test_user_password_changes_the_hash(server: Server) -> None:
    user = add_user(server, "pw")
    server.ok("user", "password", user, "--password", "new secret")
    hashed = next(ln for ln in (server.root / "data" / "users").read_text().splitlines()
                  if ln.startswith(user + ":")).split(":", 1)[1]
    assert bcrypt.checkpw(b"new secret", hashed.encode())


def test_removed_user_who_never_logged_in_is_refused(server: Server) -> None:
    user = add_user(server, "gone")
    assert server.ok("user", "remove", user).startswith(f"user {user} removed")
    assert user not in server.ok("user", "list").split()
    assert server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"}).status_code == 401


def test_removed_user_is_refused_at_once(server: Server) -> None:
    user = add_user(server, "left")
    assert server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"}).status_code == 207
    server.ok("user", "remove", user)
    assert server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"}).status_code == 401


def test_changed_password_takes_effect_at_once(server: Server) -> None:
    user = add_user(server, "moved")
    assert server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"}).status_code == 207
    server.ok("user", "password", user, "--password", "another secret")
    assert server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"}).status_code == 401


def test_removed_user_leaves_no_access_to_a_new_account_of_the_same_name(server: Server) -> None:
    user = add_user(server, "reuse")
    calendar = mkcalendar(server, "alice")
    circle = unique("c")
    server.ok("circle", "create", circle, "--manager", "alice")
    server.ok("circle", "add", circle, user)
    server.ok("share", "add", f"alice/{calendar}", "--user", user, "--role", "collaborator")
    assert can_read(server, user, "alice", calendar)

    out = server.ok("user", "remove", user)
    assert "with the shares made to them and their circle memberships" in out
    server.ok("user", "add", user, "--password", password(user))
    assert server.ok("shared-with", user) == ""
    assert user not in json.loads(server.ok("--json", "circle", "show", circle))[0]["members"]
    assert not can_read(server, user, "alice", calendar)


def test_user_add_refuses_what_it_cannot_store(server: Server) -> None:
    user = add_user(server, "dup")
    before = state(server)
    one_line_error(server.cli("user", "add", user, "--password", "x"), f"user {user!r} already exists")
    one_line_error(server.cli("user", "add", unique("e"), "--password", ""), "the password is empty")
    one_line_error(server.cli("user", "add", unique("l"), "--password", "a\nb"), "control characters")
    one_line_error(server.cli("user", "add", unique("b"), "--password", "x" * 73), "longer than 72 bytes")
    one_line_error(server.cli("user", "remove", unique("nobody")), "no user named")
    one_line_error(server.cli("user", "password", unique("nobody"), "--password", "x"), "no user named")
    assert state(server) == before


def test_user_add_without_a_password_is_one_line(server: Server) -> None:
    before = state(server)
    one_line_error(server.cli_process("user", "add", unique("e"), "--password-stdin", stdin=""),
                   "the password is empty")
    one_line_error(server.cli_process("user", "add", unique("t"), stdin=""), "use --password-stdin")
    one_line_error(server.cli_process("user", "add", "x" * 10_000, stdin=""), "is longer than 128 characters")
    assert state(server) == before


# -- shares ---------------------------------------------------------------------------

def test_role_change_turns_write_access_on_and_off(server: Server) -> None:
    calendar = mkcalendar(server, "alice")
    assert not can_read(server, "bob", "alice", calendar)

    out = server.ok("share", "add", f"alice/{calendar}", "--user", "bob", "--role", "subscriber")
    assert out == (f"/alice/{calendar}/ shared with bob as subscriber; "
                   f"it appears as /bob/{calendar}~alice/ in bob's home\n")
    assert can_read(server, "bob", "alice", calendar)
    assert put_event(server, "bob", "alice", calendar) == 403

    out = server.ok("share", "role", f"alice/{calendar}", "--user", "bob", "--role", "collaborator")
    assert out == f"bob is now collaborator of /alice/{calendar}/\n"
    assert put_event(server, "bob", "alice", calendar) == 201

    server.ok("share", "role", f"alice/{calendar}", "--user", "bob", "--role", "subscriber")
    assert put_event(server, "bob", "alice", calendar) == 403
    assert can_read(server, "bob", "alice", calendar)


def test_remove_share_ends_access(server: Server) -> None:
    calendar = mkcalendar(server, "alice")
    server.ok("share", "add", f"alice/{calendar}", "--user", "carol", "--role", "collaborator")
    assert put_event(server, "carol", "alice", calendar) == 201
    assert server.ok("share", "remove", f"alice/{calendar}", "--user", "carol") == \
        f"alice/{calendar} is no longer shared with carol\n"
    assert not can_read(server, "carol", "alice", calendar)
    assert server.request("PROPFIND", f"/alice/{calendar}/", "carol", headers={"Depth": "0"}).status_code == 403
    assert server.ok("share", "list", f"alice/{calendar}") == ""


def test_share_an_address_book_with_a_circle(server: Server) -> None:
    book = mkaddressbook(server, "alice")
    circle = unique("book")
    server.ok("circle", "create", circle, "--manager", "alice")
    server.ok("circle", "add", circle, "dave")
    out = server.ok("share", "add", f"alice/{book}", "--circle", circle, "--role", "collaborator")
    assert out == (f"/alice/{book}/ shared with circle:{circle} as collaborator; "
                   f"it appears as /{{user}}/{book}~alice/ in the homes of the circle's members\n")
    uid = uuid.uuid4().hex
    r = server.request("PUT", f"/dave/{book}~alice/{uid}.vcf", "dave", card(uid, "Test"),
                       headers={"Content-Type": "text/vcard"})
    assert r.status_code == 201
    assert uid in server.request("GET", f"/alice/{book}/{uid}.vcf", "alice").text
    assert not can_read(server, "erin", "alice", book)


def test_listings_for_a_collection_and_for_a_user(server: Server) -> None:
    owner, carol, dave, erin = (add_user(server, p) for p in ("own", "car", "dav", "eri"))
    trip = mkcalendar(server, owner, "trip")
    circle = unique("hikers")
    server.ok("circle", "create", circle, "--manager", carol)
    server.ok("circle", "add", circle, dave, owner)
    server.ok("share", "add", f"{owner}/trip", "--circle", circle, "--role", "subscriber")
    server.ok("share", "add", f"{owner}/trip", "--user", dave, "--role", "collaborator")
    server.ok("share", "add", f"{owner}/trip", "--user", erin, "--role", "subscriber")

    # the owner, a member of the circle too, is not listed as a subscriber of their own calendar
    assert server.ok("share", "list", f"{owner}/{trip}") == (
        f"{carol}: subscriber via circle:{circle} (subscriber)\n"
        f"{dave}: collaborator via direct (collaborator), circle:{circle} (subscriber)\n"
        f"{erin}: subscriber via direct (subscriber)\n")
    assert json.loads(server.ok("--json", "share", "list", f"/{owner}/{trip}/")) == [
        {"user": carol, "role": "subscriber", "via": [f"circle:{circle} (subscriber)"]},
        {"user": dave, "role": "collaborator", "via": ["direct (collaborator)", f"circle:{circle} (subscriber)"]},
        {"user": erin, "role": "subscriber", "via": ["direct (subscriber)"]},
    ]

    second = mkcalendar(server, "alice", "zz" + unique(""))
    server.ok("share", "add", f"alice/{second}", "--user", dave, "--role", "subscriber")
    assert server.ok("shared-with", dave) == (
        f"/alice/{second}/ (subscriber, via direct) at /{dave}/{second}~alice/\n"
        f"/{owner}/trip/ (collaborator, via circle:{circle}, direct) at /{dave}/trip~{owner}/\n")
    assert json.loads(server.ok("shared-with", dave, "--json")) == [
        {"collection": f"/alice/{second}/", "owner": "alice", "role": "subscriber", "via": ["direct"],
         "path": f"/{dave}/{second}~alice/"},
        {"collection": f"/{owner}/trip/", "owner": owner, "role": "collaborator",
         "via": [f"circle:{circle}", "direct"], "path": f"/{dave}/trip~{owner}/"},
    ]
    assert server.ok("shared-with", owner) == ""
    assert server.ok("--json", "shared-with", owner) == "[]\n"

    # what the listing says is what the server does
    assert put_event(server, dave, owner, "trip") == 201
    assert put_event(server, carol, owner, "trip") == 403
    assert can_read(server, erin, owner, "trip")


def test_only_the_owner_may_share(server: Server) -> None:
    calendar = mkcalendar(server, "alice")
    before = state(server)
    for argv in (("--as", "bob", "share", "add", f"alice/{calendar}", "--user", "carol", "--role", "subscriber"),
                 ("share", "add", f"alice/{calendar}", "--user", "carol", "--role", "subscriber", "--as", "bob")):
        one_line_error(server.cli(*argv), "only 'alice' (the owner) may change how this collection is shared")
    assert state(server) == before
    server.ok("share", "add", f"alice/{calendar}", "--user", "carol", "--role", "subscriber", "--as", "alice")
    # an owner's share is an invitation (docs/sharing.md): it counts once carol accepts
    assert not can_read(server, "carol", "alice", calendar)
    server.ok("invitation", "accept", f"alice/{calendar}", "--as", "carol")
    assert can_read(server, "carol", "alice", calendar)


# -- bad input: one line, non-zero, nothing changed ------------------------------------

@pytest.fixture(scope="module")
def shared(server: Server) -> str:
    """alice/<calendar>, shared with bob as a subscriber."""
    calendar = mkcalendar(server, "alice")
    server.ok("share", "add", f"alice/{calendar}", "--user", "bob", "--role", "subscriber")
    return calendar


def test_unknown_names_are_refused_and_nothing_changes(server: Server, shared: str) -> None:
    collection = f"alice/{shared}"
    listing = server.ok("share", "list", collection)
    before = state(server)
    cases = [
        (("share", "add", collection, "--user", "nobody", "--role", "subscriber"), "no user named 'nobody'"),
        (("share", "add", collection, "--circle", "nocircle", "--role", "subscriber"),
         "no circle named 'nocircle'"),
        (("share", "add", "alice/nocollection", "--user", "carol", "--role", "subscriber"),
         "no calendar or address book at '/alice/nocollection/'"),
        (("share", "add", "nobody/x", "--user", "carol", "--role", "subscriber"),
         "no calendar or address book at '/nobody/x/'"),
        (("share", "add", collection, "--user", "carol", "--role", "owner"), "unknown role 'owner'"),
        (("share", "add", collection, "--user", "alice", "--role", "subscriber"), "cannot be shared with its owner"),
        (("share", "add", collection, "--user", "bob", "--role", "collaborator"),
         "is already shared with bob; use 'share role'"),
        (("share", "role", collection, "--user", "carol", "--role", "collaborator"), "is not shared with carol"),
        (("share", "remove", collection, "--circle", "nocircle"), "is not shared with circle:nocircle"),
        (("share", "list", "alice/nocollection"), "no calendar or address book at '/alice/nocollection/'"),
        (("shared-with", "nobody"), "no user named 'nobody'"),
        (("circle", "show", "nocircle"), "no circle named 'nocircle'"),
        (("circle", "add", "nocircle", "bob"), "no circle named 'nocircle'"),
        (("circle", "delete", "nocircle"), "no circle named 'nocircle'"),
        (("--as", "nobody", "share", "list", collection), "--as: no user named 'nobody'"),
    ]
    for argv, message in cases:
        one_line_error(server.cli(*argv), message)
    assert state(server) == before
    assert server.ok("share", "list", collection) == listing == "bob: subscriber via direct (subscriber)\n"


BAD_NAMES = {
    "dot dot": "..",
    "dots inside": "a..b",
    "slash": "a/b",
    "newline": "bad\nname",
    "escape": "bad\x1b[2Jname",
    "tab": "bad\tname",
    "ten thousand": "x" * 10_000,
}


@pytest.mark.parametrize("bad", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_names_are_refused_in_every_place(server: Server, shared: str, bad: str) -> None:
    collection = f"alice/{shared}"
    before = state(server)
    for argv in (("user", "add", bad, "--password", "x"),
                 ("user", "remove", bad),
                 ("circle", "create", bad),
                 ("circle", "create", unique("c"), "--manager", bad),
                 ("circle", "show", bad),
                 ("share", "add", collection, "--user", bad, "--role", "subscriber"),
                 ("share", "add", collection, "--circle", bad, "--role", "subscriber"),
                 ("share", "add", f"alice/{bad}", "--user", "carol", "--role", "subscriber"),
                 ("share", "add", f"{bad}/{shared}", "--user", "carol", "--role", "subscriber"),
                 ("share", "remove", collection, "--user", bad),
                 ("share", "list", bad),
                 ("shared-with", bad),
                 ("--as", bad, "share", "list", collection)):
        line = one_line_error(server.cli(*argv))
        assert bad not in line or len(bad) < 10, line
    assert state(server) == before


@pytest.mark.parametrize("argv, message", [
    (("user", "add", "x" * 10_000, "--password", "x"), "user name 'xxxx"),
    (("circle", "create", "fam\x1bily"), "circle name 'fam\\x1bily' contains control characters"),
    (("share", "add", "alice/../bob/x", "--user", "carol", "--role", "subscriber"),
     "is not of the form OWNER/COLLECTION"),
    (("share", "add", "alice/nocollection", "--user", "nobody", "--role", "subscriber"),
     "no user named 'nobody'"),
    (("circle", "add", "nocircle", "bob"), "no circle named 'nocircle'"),
])
def test_the_console_script_exits_non_zero_with_one_line(server: Server, argv: tuple[str, ...],
                                                         message: str) -> None:
    before = state(server)
    result = server.cli_process(*argv)
    assert result.stdout == ""
    one_line_error(result, message)
    assert state(server) == before


def test_a_config_file_that_cannot_be_read_is_one_line(server: Server, tmp_path: Path) -> None:
    result = server.cli_process("--config", str(tmp_path / "missing.ini"), "user", "list")
    one_line_error(result, "cannot read config file")


def test_user_changes_wait_for_one_another(server: Server) -> None:
    """Each change rewrites the users file; it takes the users file's lock first, so
    that two admins changing users at the same moment do not undo each other."""
    user = unique("wait")
    users_file = server.root / "data" / "users"
    with open(f"{users_file}.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "radicale-ext"), "--config", str(server.config),
             "user", "add", user, "--password-stdin"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdin is not None
        proc.stdin.write(password(user) + "\n")
        proc.stdin.close()
        time.sleep(1.5)  # ample time to start, hash and reach the lock
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert f"{user}:" not in users_file.read_text()
    assert proc.wait(30) == 0
    assert user in server.ok("user", "list").split()
