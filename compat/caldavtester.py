"""Apple's CalDAVTester sharing files against radicale-ext, on loopback.

    .venv/bin/python compat/caldavtester.py                 # CalDAV/sharing-*.xml
    .venv/bin/python compat/caldavtester.py CalDAV/sharing-invites.xml --failures

Not part of the test suite (it needs python2.7 and third-party sources, and
takes minutes).  What it does:

1. finds CalDAVTester (github.com/apple/ccs-caldavtester, archived; its
   last commit is ``PINNED``) and the pycalendar it imports
   (github.com/apple/ccs-pycalendar): in ``$CALDAVTESTER_SOURCES`` (a folder
   holding ``ccs-caldavtester/`` and ``ccs-pycalendar/``, checkouts or
   unpacked archives), else in ``compat/.cache/``, else it clones both from
   GitHub into ``compat/.cache/``;
2. finds a Python 2.7 (``$PYTHON2``, ``python2.7`` or ``python2`` on the path,
   or pyenv's ``~/.pyenv/versions/2.7.*``; Debian 12 packages none);
3. starts our server on 127.0.0.1 with the accounts the files expect
   (``admin``, ``apprentice``, ``user01`` ... ``user40``, ``public01`` ...
   ``public10``, with passwords equal to their names) and their calendars
   ``calendar`` and ``tasks``, a fresh one for each file
   (CalendarServer's admin cleans up between files; ours may not touch other
   people's notifications, so files would see each other's leftovers);
4. writes a serverinfo.xml from CalDAVTester's own, with our paths (homes
   ``/user01/``, notification collection ``/user01/.notifications/``, people
   named ``mailto:user01`` or by their principal URL) and the features we have;
5. runs the files and prints passed/failed/ignored per file and in total.

Without sources or python2.7 it says why and exits 77 (skipped).  Exit 1
when a test failed, 0 when all passed.  The counts we recorded are in
docs/sharing.md, "Interoperability".
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import bcrypt

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from tests.server import Server, free_port, write_config  # noqa: E402  (the project's own server harness)

CACHE = PROJECT / "compat" / ".cache"
SOURCES = {"ccs-caldavtester": "https://github.com/apple/ccs-caldavtester.git",
           "ccs-pycalendar": "https://github.com/apple/ccs-pycalendar.git"}
PINNED = "bed21e59"  # ccs-caldavtester's archival commit, the one our counts were taken with
SKIPPED = 77
USERS = ["admin", "apprentice", *(f"user{n:02d}" for n in range(1, 41)), *(f"public{n:02d}" for n in range(1, 11))]
CALENDARS = ("calendar", "tasks")

# What we offer, in CalDAVTester's words (scripts/server/serverinfo.xml lists them all).
FEATURES = ("MOVE Method", "ctag", "current-user-principal", "sync-report", "well-known", "caldav", "carddav",
            "shared-calendars", "shared-addressbooks", "webcal")

# CalDAVTester's substitutions that differ here: one home per person at /<user>/, which is also their
# principal; people are named by their principal URL, or as mailto:NAME where NAME is their user name
# (sharing/addresses.py: an address is never guessed from its local part, so user01's e-mail address, for
# the tests, is "user01").
SUBSTITUTIONS = {
    "$email%d:": "user%02d",
    "$principal%d:": "/user%02d/",
    "$principaluri%d:": "/user%02d/",
    "$principal%dnoslash:": "/user%02d",
    "$calendarhome%d:": "/user%02d",
    "$calendarhomealt%d:": "/user%02d",
    "$cuaddr%d:": "mailto:user%02d",
    "$cuaddralt%d:": "/user%02d/",
    "$cuaddraltnoslash%d:": "/user%02d",
    "$cuaddrurn%d:": "/user%02d/",
    "$username%d:": "user%02d",
    "$addressbookhome%d:": "/user%02d",
    "$principal_admin:": "/admin/",
    "$principaluri_admin:": "/admin/",
    "$notification:": ".notifications",
    "$cuaddr2:": "mailto:user02",
    # Radicale's sync-collection answers the members only, never the collection itself (RFC 6578 section 3.4)
    "$calendar_sync_extra_count:": "0",
    "$calendar_sync_extra_items:": "[]",
}


class Skip(Exception):
    """Something this run needs is not on this machine."""


# -- sources and python2.7 ------------------------------------------------------------------------

def sources() -> Path:
    """The folder holding ccs-caldavtester/ and ccs-pycalendar/."""
    given = os.environ.get("CALDAVTESTER_SOURCES")
    if given:
        folder = Path(given)
        missing = [name for name in SOURCES if not (folder / name).is_dir()]
        if missing:
            raise Skip(f"CALDAVTESTER_SOURCES={given} has no {' and no '.join(missing)}")
        return folder
    for name, url in SOURCES.items():
        if not (CACHE / name).is_dir():
            CACHE.mkdir(parents=True, exist_ok=True)
            try:
                subprocess.run(["git", "clone", "--quiet", url, str(CACHE / name)], check=True, timeout=300,
                               capture_output=True, text=True)
            except (OSError, subprocess.SubprocessError) as e:
                shutil.rmtree(CACHE / name, ignore_errors=True)
                detail = getattr(e, "stderr", None) or str(e)
                raise Skip(f"cannot get {name} from {url} ({detail.strip().splitlines()[-1]}); put checkouts of "
                           f"{', '.join(SOURCES)} in a folder and set CALDAVTESTER_SOURCES to it") from None
    return CACHE


def python2() -> str:
    candidates = [os.environ.get("PYTHON2", ""), shutil.which("python2.7") or "", shutil.which("python2") or ""]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(str(p) for p in pyenv_root.glob("versions/2.7*/bin/python2.7"))
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run([candidate, "-c", "import sys; assert sys.version_info[:2] == (2, 7)"],
                                  capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:  # (pyenv's shim exists but fails when 2.7 is not the selected version)
            return candidate
    raise Skip("no Python 2.7 found (CalDAVTester is Python 2): install one, e.g. 'pyenv install 2.7.18' "
               "(Debian 12 packages none), and set PYTHON2 to it")


# -- our server ------------------------------------------------------------------------------------

def prepare(template: Path) -> None:
    """A data folder with the accounts and calendars the files expect, copied for each file's server."""
    template.mkdir(parents=True)
    shutil.copy(PROJECT / "config" / "rights", template / "rights")
    (template / "data").mkdir()
    (template / "data" / "groups").write_text("")
    (template / "data" / "users").write_text("".join(
        f"{u}:{bcrypt.hashpw(u.encode(), bcrypt.gensalt(4)).decode()}\n" for u in USERS))
    server = Server(root=template, port=0, config=write_config(template, 0))
    for user in USERS:
        for calendar in CALENDARS:
            server.ok("collection", "create", f"{user}/{calendar}", "--calendar")


def start_server(template: Path, root: Path) -> Server:
    """A server of its own on a copy of ``template``: CalendarServer's admin may clean up after each file,
    ours may not touch other people's notifications, so each file starts from the same state."""
    shutil.copytree(template, root)
    port = free_port()
    return Server(root=root, port=port, config=write_config(root, port)).start()


def serverinfo(tester: Path, port: int, target: Path) -> Path:
    """CalDAVTester's serverinfo.xml with our host, port, features and paths."""
    tree = ET.parse(tester / "scripts" / "server" / "serverinfo.xml")
    root = tree.getroot()
    root.find("host").text = "127.0.0.1"
    root.find("nonsslport").text = str(port)
    features = root.find("features")
    for child in list(features):
        features.remove(child)
    for name in FEATURES:
        ET.SubElement(features, "feature").text = name
    seen = set()
    for substitution in root.iter("substitution"):
        key = substitution.findtext("key")
        if key in SUBSTITUTIONS:
            substitution.find("value").text = SUBSTITUTIONS[key]
            seen.add(key)
    unknown = set(SUBSTITUTIONS) - seen
    if unknown:
        raise SystemExit(f"CalDAVTester's serverinfo.xml has no {', '.join(sorted(unknown))}: a newer version?")
    tree.write(target, encoding="utf-8", xml_declaration=True)
    return target


# -- running and counting --------------------------------------------------------------------------

def run(python: str, folder: Path, info: Path, files: list[str], details: bool) -> list[dict] | None:
    """CalDAVTester's results (its jsondump); with ``details``, its own log with every failed request and
    answer is printed instead, and there are no results to count."""
    tester = folder / "ccs-caldavtester"
    env = {**os.environ, "PYTHONPATH": str(folder / "ccs-pycalendar" / "src")}
    command = [python, "testcaldav.py", "-s", str(info)]
    command += ["--observer", "log", "--print-details-onfail"] if details else ["--observer", "jsondump"]
    done = subprocess.run([*command, *files], cwd=tester, env=env, capture_output=True, text=True)
    if details:
        print(done.stdout, done.stderr)
        return None
    lines = done.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        raise SystemExit(f"CalDAVTester ended without results (exit {done.returncode}):\n"
                         f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}") from None


def _indented(text: str, limit: int = 600) -> str:
    text = (text or "").strip()[:limit]
    return "\n".join("        " + line for line in text.splitlines() if line.strip())


def count(results: list[dict], failures: bool) -> dict[str, int]:
    """Print passed/failed/ignored per file and in total; a file whose set-up failed is "not run"."""
    totals = {"ok": 0, "failed": 0, "ignored": 0, "not run": 0}
    for test_file in results:
        mine = {"ok": 0, "failed": 0, "ignored": 0}
        failed = []
        for suite in test_file["tests"]:
            for test in suite["tests"]:
                kind = {0: "ok", 3: "ignored"}.get(test["result"], "failed")
                mine[kind] += 1
                if kind == "failed":
                    failed.append(f"    {suite['name']} / {test['name']}:\n{_indented(test['details'])}")
        for key in mine:
            totals[key] += mine[key]
        line = f"{test_file['name']:55} passed {mine['ok']:3}  failed {mine['failed']:3}  ignored {mine['ignored']:3}"
        if test_file.get("result") in (1, 2) and not test_file["tests"]:
            totals["not run"] += 1
            line += "  (not run: its set-up failed)"
            failed.append(_indented(test_file.get("details") or ""))
        elif not test_file["tests"]:
            line += "  (not run: needs features we do not offer)"
        print(line)
        if failures and failed:
            print("\n".join(failed))
    print(f"{'total':55} passed {totals['ok']:3}  failed {totals['failed']:3}  ignored {totals['ignored']:3}"
          f"  (files not run because their set-up failed: {totals['not run']})")
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", default=["CalDAV/sharing-*.xml"],
                        help="test files under CalDAVTester's scripts/tests/ (globs; default CalDAV/sharing-*.xml)")
    parser.add_argument("--failures", action="store_true", help="list each failed test with CalDAVTester's reason")
    parser.add_argument("--details", action="store_true",
                        help="print CalDAVTester's own log, with the requests and answers of each failure (no counts)")
    parser.add_argument("--keep", action="store_true", help="keep the server's folder (its log) afterwards")
    args = parser.parse_args(argv)
    try:
        folder, python = sources(), python2()
    except Skip as e:
        print(f"SKIPPED: {e}")
        return SKIPPED
    tester = folder / "ccs-caldavtester"
    head = subprocess.run(["git", "-C", str(tester), "rev-parse", "--short=8", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    if head and head != PINNED:
        print(f"note: CalDAVTester at {head}, our recorded counts are for {PINNED}")
    tests = tester / "scripts" / "tests"
    files = sorted({str(Path(p).relative_to(tests)) for pattern in args.files
                    for p in glob.glob(str(tests / pattern))})
    if not files:
        print(f"no test files match {' '.join(args.files)} under {tests}")
        return 2
    work = Path(tempfile.mkdtemp(prefix="radicale-ext-caldavtester-"))
    try:
        prepare(work / "template")
        results: list[dict] = []
        for number, name in enumerate(files):
            server = start_server(work / "template", work / f"server-{number}")
            try:
                answer = run(python, folder, serverinfo(tester, server.port, work / f"serverinfo-{number}.xml"),
                             [name], args.details)
            finally:
                server.stop()
            results += answer or []
        if args.details:
            return 0
        totals = count(results, args.failures)
    finally:
        if args.keep:
            print(f"servers' folders and logs: {work}/server-N (N in the order of the files)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if totals["failed"] or totals["not run"] else 0


if __name__ == "__main__":
    sys.exit(main())
