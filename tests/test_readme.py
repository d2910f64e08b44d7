"""The README's commands work as written, top to bottom, for a newcomer.

Every ```sh block of README.md is run, in order, with bash, from the project
root, as a newcomer pastes it, while the server runs the README's way
(``./dev serve``).  The data folder is fresh: ``RADICALE_EXT_CONFIG`` (which
``./dev`` honours) names a copy of config/radicale.ini whose folders are in a
temporary folder, so the developer's ``data/`` is never touched.  A block whose
preceding line is the comment ``<!-- not run by tests/test_readme.py: WHY -->``
is left out (``./dev serve`` and ``./dev test`` themselves).

After the blocks of a section, what the README promises there is checked over
HTTP (``CHECKS``): the shares took effect, bob writes and carol only reads.
Passwords are never typed: the README feeds them to ``--password-stdin``, and
the checks log in with those same passwords, read from the README.
"""

from __future__ import annotations

import configparser
import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import requests

from .samples import ICS, event
from .server import PROJECT, free_port

README = PROJECT / "README.md"
SKIP_MARK = "<!-- not run by tests/test_readme.py"
DAV = "{DAV:}"


@dataclass(frozen=True)
class Block:
    section: str   # the heading above it, without the "#"s
    line: int      # its first line in README.md (1-based), for messages
    text: str
    run: bool


def readme_blocks(text: str) -> list[Block]:
    """The ```sh blocks of a Markdown text, in order, with their section."""
    blocks: list[Block] = []
    section = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        if line.strip() == "```sh":
            before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            body: list[str] = []
            start = i + 1
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            blocks.append(Block(section, start + 1, "\n".join(body) + "\n",
                                run=not before.strip().startswith(SKIP_MARK)))
        i += 1
    return blocks


def passwords(blocks: list[Block]) -> dict[str, str]:
    """The passwords the README gives its users: ``echo 'PASSWORD' | ./dev cli user add NAME --password-stdin``."""
    found: dict[str, str] = {}
    for block in blocks:
        if block.run:
            for password, user in re.findall(r"echo '([^']+)' \| \./dev cli user add (\S+) --password-stdin",
                                              block.text):
                found[user] = password
    return found


# -- the newcomer's server and their HTTP client ------------------------------------------------

@dataclass
class Newcomer:
    """The server started by ./dev serve on a fresh data folder, and the people of the README."""

    url: str
    env: dict[str, str]
    passwords: dict[str, str]
    log: Path

    def request(self, method: str, path: str, user: str, body: str | None = None,
                headers: dict[str, str] | None = None) -> requests.Response:
        assert user in self.passwords, f"the README never gives {user} a password with --password-stdin"
        return requests.request(method, self.url + path, auth=(user, self.passwords[user]),
                                data=body.encode() if body is not None else None, headers=headers or {},
                                allow_redirects=False, timeout=30)

    def collections(self, user: str) -> dict[str, str]:
        """The display names of the collections in ``user``'s home, by path."""
        r = self.request("PROPFIND", f"/{user}/", user, headers={"Depth": "1"},
                         body='<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/>'
                              "</D:prop></D:propfind>")
        assert r.status_code == 207, (r.status_code, r.text)
        found = {}
        for response in ET.fromstring(r.content).iter(f"{DAV}response"):
            href = unquote(response.findtext(f"{DAV}href") or "")
            name = response.find(f".//{DAV}displayname")
            if href.rstrip("/") != f"/{user}" and name is not None and name.text:
                found[href] = name.text
        return found

    def mount_of(self, user: str, display_name: str) -> str:
        found = [href for href, name in self.collections(user).items() if name == display_name]
        assert found, f"{user}'s home lists no {display_name!r}: {self.collections(user)}"
        return found[0]

    def put_event(self, user: str, collection: str) -> tuple[int, str]:
        uid = f"readme-{uuid.uuid4().hex[:8]}"
        r = self.request("PUT", f"{collection}{uid}.ics", user, event(uid, f"{user}'s event"), headers=ICS)
        return r.status_code, f"{collection}{uid}.ics"


def _fresh_config(root: Path, port: int) -> Path:
    """config/radicale.ini as shipped, with its folders in ``root`` and its own port."""
    parser = configparser.RawConfigParser()
    parser.read(PROJECT / "config" / "radicale.ini")
    parser.set("server", "hosts", f"127.0.0.1:{port}")
    parser.set("auth", "htpasswd_filename", str(root / "data" / "users"))
    parser.set("rights", "file", str(PROJECT / "config" / "rights"))
    parser.set("group", "htgroup_filename", str(root / "data" / "groups"))
    parser.set("storage", "filesystem_folder", str(root / "data" / "collections"))
    parser.set("sharing", "database_path", str(root / "data" / "sharing.sqlite"))
    path = root / "radicale.ini"
    with open(path, "w") as f:
        parser.write(f)
    return path


@contextlib.contextmanager
def _serve(root: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """``./dev serve`` on a fresh data folder, as a newcomer starts it in a terminal of its own."""
    port = free_port()
    env = {**os.environ, "RADICALE_EXT_CONFIG": str(_fresh_config(root, port))}
    log = root / "server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([str(PROJECT / "dev"), "serve"], cwd=PROJECT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120  # ./dev sets up .venv first when it has to
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"./dev serve exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"./dev serve did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", env, log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- what each section promises ----------------------------------------------------------------

def created(newcomer: Newcomer) -> None:
    """alice's calendar is in her home as "family"; bob's own, named in German with an emoji, in his."""
    assert newcomer.collections("alice").get("/alice/family/") == "family"
    assert "Fußball 🎉" in newcomer.collections("bob").values()


def shared(newcomer: Newcomer) -> None:
    """"family (alice)" appears in bob's, erin's and carol's calendar lists, writable for bob and
    erin (the family circle, collaborators), read-only for carol (a subscriber)."""
    written = []
    for writer in ("bob", "erin"):
        status, path = newcomer.put_event(writer, newcomer.mount_of(writer, "family (alice)"))
        assert status == 201, f"{writer} may not write into family (alice): {status}"
        written.append(path)
    mount = newcomer.mount_of("carol", "family (alice)")
    status, _ = newcomer.put_event("carol", mount)
    assert status == 403, f"carol, a subscriber, wrote into family (alice): {status}"
    seen = newcomer.request("GET", mount + written[0].rsplit("/", 1)[1], "carol")
    assert seen.status_code == 200 and "bob's event" in seen.text, seen.status_code
    assert newcomer.request("GET", "/alice/family/" + written[1].rsplit("/", 1)[1], "alice").status_code == 200


def changed(newcomer: Newcomer) -> None:
    """carol's share is gone; erin's account is gone; bob still writes."""
    assert "family (alice)" not in newcomer.collections("carol").values()
    assert newcomer.request("PROPFIND", "/erin/", "erin", headers={"Depth": "0"}).status_code == 401
    status, _ = newcomer.put_event("bob", newcomer.mount_of("bob", "family (alice)"))
    assert status == 201


CHECKS: dict[str, Callable[[Newcomer], None]] = {
    "Create a calendar": created,
    "Share a calendar": shared,
    "Change a share, remove a user": changed,
}


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} \
        if folder.is_dir() else {}


def _run(block: Block, env: dict[str, str]) -> None:
    assert "./dev serve" not in block.text and "./dev test" not in block.text, (
        f"README.md line {block.line}: mark this block '{SKIP_MARK}: WHY -->'; it cannot run in a test")
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.text], cwd=PROJECT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (
        f"README.md line {block.line} ({block.section}) failed with {done.returncode}:\n{block.text}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")


def test_the_readme_blocks_are_found() -> None:
    """The extraction itself: fenced sh blocks, their section, the skip mark."""
    text = ("# Top\n\n## One\n\n```sh\necho one\n```\n\n<!-- not run by tests/test_readme.py: slow -->\n"
            "```sh\n./dev serve\n```\n\n```text\nnot shell\n```\n\n## Two\n```sh\necho 'pw 1' | "
            "./dev cli user add bob --password-stdin\n```\n")
    blocks = readme_blocks(text)
    assert [(b.section, b.line, b.run) for b in blocks] == [("One", 6, True), ("One", 11, False), ("Two", 20, True)]
    assert blocks[0].text == "echo one\n"
    assert passwords(blocks) == {"bob": "pw 1"}


def test_a_newcomer_follows_the_readme_top_to_bottom(tmp_path: Path) -> None:
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    sections = {b.section for b in blocks if b.run}
    assert not set(CHECKS) - sections, f"README.md has no runnable block under {set(CHECKS) - sections}"
    developers_data = _files(PROJECT / "data")
    with _serve(tmp_path) as (url, env, log):
        newcomer = Newcomer(url, env, passwords(blocks), log)
        for section, group in itertools.groupby(blocks, key=lambda b: b.section):
            for block in group:
                if block.run:
                    _run(block, env)
            if section in CHECKS:
                CHECKS[section](newcomer)
        assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")
    assert "alice:" in (tmp_path / "data" / "users").read_text(), "the commands did not use the fresh data folder"
    assert _files(PROJECT / "data") == developers_data, "the README's commands changed the developer's data/"
