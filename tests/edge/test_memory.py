"""What a server process holds in memory (issue 17, item 6; docs/performance.md, "Memory").

A server process imports the libraries that only some requests need (the web page's templates and
Babel, QR codes, Web Push's cryptography, icalendar for reminders, personal parts and feeds) when such a
request comes, not at its start; and the server processes of ``serve --processes N`` are forked from a
parent that imported the server's modules, so they share those pages instead of each holding a copy.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from ..server import make_server

# imported where they are used: by no server process at its start
LAZY = ("cryptography", "jinja2", "segno", "babel", "icalendar", "recurring_ical_events", "x_wr_timezone", "click",
        "psycopg", "aiosmtpd", "radicale_ext.web.app")


def test_a_server_process_imports_no_library_that_only_some_requests_need(tmp_path: Path) -> None:
    server = make_server(tmp_path / "server")
    code = textwrap.dedent(f"""
        import sys
        from radicale import config
        import radicale_ext.notices.worker
        from radicale_ext.plugins import hook, server, worker
        from radicale_ext.plugins.app import Application
        Application(config.load([({str(server.config)!r}, False)]))
        print(" ".join(name for name in {LAZY!r} if name in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=server.root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "", f"imported at start: {done.stdout.strip()}"


def shared_dirty_kib(pid: int) -> int:
    """Memory the process wrote (or inherited written) and shares with another process, from smaps_rollup."""
    lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    return next(int(line.split()[1]) for line in lines if line.startswith("Shared_Dirty:"))


def test_the_server_processes_share_the_modules_their_parent_imported(tmp_path: Path) -> None:
    """Forked after the parent's imports, each process shares the module objects with it (written pages,
    which a process started afresh would have of its own): several MiB, where an exec'd one shares none."""
    server = make_server(tmp_path / "server", processes=2).start()
    try:
        pids = server.children()
        assert len(pids) == 2
        assert server.request("PROPFIND", "/alice/", "alice", headers={"Depth": "0"}).status_code == 207
        shared = {pid: shared_dirty_kib(pid) for pid in pids}
        assert all(kib > 4096 for kib in shared.values()), shared
    finally:
        server.stop()
