"""How long each server process waits for and holds the storage lock (bench/run_processes.py --lock-times).

Put on the servers' PYTHONPATH with LOCK_TIMING_DIR set: Radicale's lock file (the embedded default,
``radicale.pathutils.RwLock``) and PostgreSQL's advisory lock (``PgItems.locked``) are wrapped to add up,
per mode ("r" shared, "w" exclusive), how many times each was taken, the seconds spent waiting for it and
the seconds it was held; every second the sums go to ``LOCK_TIMING_DIR/PID.json``.  A measuring aid only:
nothing of the project imports it.
"""

import contextlib
import json
import os
import threading
import time

FOLDER = os.environ.get("LOCK_TIMING_DIR", "")


def _wrap(owner, name: str, sums: dict, lock: threading.Lock) -> None:
    taking = getattr(owner, name)
    depth = threading.local()

    @contextlib.contextmanager
    def timed(self, mode, *args, **kwargs):
        if getattr(depth, "n", 0):   # taken again inside a hold of this thread (Radicale nests read locks)
            with taking(self, mode, *args, **kwargs):
                yield
            return
        depth.n = 1
        asked = time.perf_counter()
        with taking(self, mode, *args, **kwargs):
            got = time.perf_counter()
            try:
                yield
            finally:
                held = time.perf_counter() - got
                depth.n = 0
                with lock:
                    line = sums.setdefault(mode, [0, 0.0, 0.0])
                    line[0] += 1
                    line[1] += got - asked
                    line[2] += held

    setattr(owner, name, timed)


def _start() -> None:
    sums: dict = {}
    lock = threading.Lock()
    with contextlib.suppress(ImportError):
        from radicale import pathutils
        _wrap(pathutils.RwLock, "acquire", sums, lock)
    with contextlib.suppress(ImportError):
        from radicale_ext.index.pg_items import PgItems
        _wrap(PgItems, "locked", sums, lock)

    def write() -> None:
        while True:
            time.sleep(1)
            with lock:
                text = json.dumps(sums)
            with open(os.path.join(FOLDER, f"{os.getpid()}.json"), "w") as f:
                f.write(text)

    def start_writing() -> None:
        threading.Thread(target=write, name="lock timing", daemon=True).start()

    def in_forked_process() -> None:   # a server process forked by --processes N: its own sums, its own writer
        sums.clear()
        start_writing()

    os.register_at_fork(after_in_child=in_forked_process)
    start_writing()


if FOLDER:
    _start()
