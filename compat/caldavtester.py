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
   (``admin``, ``user01`` ... ``user40`` with passwords equal to their names)
   and their calendars ``calendar`` and ``tasks``;
4. writes a serverinfo.xml from CalDAVTester's own, with our paths (homes
   ``/user01/``, notification collection ``/user01/.notifications/``, people
   named by their principal URL) and the features we have;
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
# principal; people are named by their principal URL (sharing/addresses.py); Radicale has no inbox,
# outbox or dropbox.
SUBSTITUTIONS = {
    "$principal%d:": "/user%02d/",
    "$principaluri%d:": "/user%02d/",
    "$principal%dnoslash:": "/user%02d",
    "$calendarhome%d:": "/user%02d",
    "$calendarhomealt%d:": "/user%02d",
    "$cuaddr%d:": "/user%02d/",
    "$cuaddralt%d:": "/user%02d/",
    "$cuaddraltnoslash%d:": "/user%02d",
    "$cuaddrurn%d:": "/user%02d/",
    "$username%d:": "user%02d",
    "$addressbookhome%d:": "/user%02d",
    "$principal_admin:": "/admin/",
    "$principaluri_admin:": "/admin/",
    "$notification:": ".notifications",
    "$cuaddr2:": "/user02/",
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

def start_server(root: Path) -> Server:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT / "config" / "rights", root / "rights")
    (root / "data").mkdir()
    (root / "data" / "groups").write_text("")
    (root / "data" / "users").write_text("".join(
        f"{u}:{bcrypt.hashpw(u.encode(), bcrypt.gensalt(4)).decode()}\n" for u in USERS))
    port = free_port()
    server = Server(root=root, port=port, config=write_config(root, port))
    for user in USERS:
        for calendar in CALENDARS:
            server.ok("collection", "create", f"{user}/{calendar}", "--calendar")
    return server.start()


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

def run(python: str, folder: Path, info: Path, files: list[str], details: bool) -> list[dict]:
    tester = folder / "ccs-caldavtester"
    env = {**os.environ, "PYTHONPATH": str(folder / "ccs-pycalendar" / "src")}
    command = [python, "testcaldav.py", "-s", str(info), "--observer", "jsondump"]
    if details:
        command.append("--print-details-onfail")
    done = subprocess.run([*command, *files], cwd=tester, env=env, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    try:
        results = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise SystemExit(f"CalDAVTester ended without results (exit {done.returncode}):\n"
                         f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}") from None
    if details:
        print("\n".join(lines[:-1]))
    return results


def count(results: list[dict], failures: bool) -> dict[str, int]:
    totals = {"ok": 0, "failed": 0, "ignored": 0}
    for test_file in results:
        mine = {"ok": 0, "failed": 0, "ignored": 0}
        failed = []
        for suite in test_file["tests"]:
            for test in suite["tests"]:
                kind = {0: "ok", 1: "failed", 2: "failed", 3: "ignored"}.get(test["result"], "failed")
                mine[kind] += 1
                if kind == "failed":
                    failed.append(f"    {suite['name']} / {test['name']}: {(test['details'] or '').strip()[:300]}")
        for key in totals:
            totals[key] += mine[key]
        print(f"{test_file['name']:55} passed {mine['ok']:3}  failed {mine['failed']:3}  ignored {mine['ignored']:3}")
        if failures and failed:
            print("\n".join(failed))
    print(f"{'total':55} passed {totals['ok']:3}  failed {totals['failed']:3}  ignored {totals['ignored']:3}")
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", default=["CalDAV/sharing-*.xml"],
                        help="test files under CalDAVTester's scripts/tests/ (globs; default CalDAV/sharing-*.xml)")
    parser.add_argument("--failures", action="store_true", help="list each failed test with CalDAVTester's reason")
    parser.add_argument("--details", action="store_true", help="print CalDAVTester's requests and answers on failure")
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
    server = start_server(work / "server")
    try:
        info = serverinfo(tester, server.port, work / "serverinfo.xml")
        totals = count(run(python, folder, info, files, args.details), args.failures)
    finally:
        server.stop()
        if args.keep:
            print(f"server folder and log: {work / 'server'}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if totals["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
