"""How long each server process waits for and holds the storage lock (bench/run_processes.py --lock-times).

Put on the servers' PYTHONPATH with LOCK_TIMING_DIR set: Radicale's lock file (the embedded default,
``radicale.pathutils.RwLock``, and ours in its place, ``radicale_ext.plugins.storage_lock.WritersFirst``)
and PostgreSQL's advisory lock (``PgItems.locked``) are wrapped to add up, per mode ("r" shared, "w"
exclusive), how many times each was taken, the seconds spent waiting for it, the seconds it was held
(a write's until it lets go, not counting what runs after: ``write_lock_let_go``) and the processor seconds
the holding thread used meanwhile (the rest of a hold it waited: for the interpreter, which the process's
other threads had, or for the kernel); every second the sums go to ``LOCK_TIMING_DIR/PID.json``.  A measuring
aid only: nothing of the project imports it.

Two more aids, each set by an environment variable (bench/run_processes.py --fsync-ms, --folder-fsync-in-lock):
``SLOW_FSYNC_MS``, every fsync Radicale's code asks for (an item file's, a folder's) waits that many
milliseconds first, a slow disk's stand-in (an SD card or a disk shared with others: the wait holds no
processor and no interpreter lock, as a real fsync's); ``FOLDER_FSYNC_IN_LOCK``, a PUT's fsync of its folder
is made inside the write lock and the write is waited for until its request ends, as before session 27
(plugins/storage_lock.py, "After the write"): our own path without that change, for a side-by-side run.
"""

import contextlib
import json
import os
import threading
import time

FOLDER = os.environ.get("LOCK_TIMING_DIR", "")
_released = threading.local()   # when this thread let go of its write lock (the actions after it not counted)


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
        got = None
        got_cpu = 0.0
        _released.at = _released.cpu = None
        try:
            with taking(self, mode, *args, **kwargs):
                got = time.perf_counter()
                got_cpu = time.thread_time()
                yield
        finally:   # after the release: a write's hold ends where it let go (write_lock_let_go), else now
            ended = getattr(_released, "at", None) or time.perf_counter()
            ended_cpu = getattr(_released, "cpu", None) or time.thread_time()
            _released.at = _released.cpu = None
            depth.n = 0
            if got is not None:
                with lock:
                    line = sums.setdefault(mode, [0, 0.0, 0.0, 0.0])
                    line[0] += 1
                    line[1] += got - asked
                    line[2] += ended - got
                    line[3] += ended_cpu - got_cpu

    setattr(owner, name, timed)


def _start() -> None:
    sums: dict = {}
    lock = threading.Lock()
    with contextlib.suppress(ImportError):
        from radicale import pathutils
        _wrap(pathutils.RwLock, "acquire", sums, lock)
    with contextlib.suppress(ImportError):   # ours takes the place of Radicale's (its own acquire)
        from radicale_ext.plugins import storage_lock
        _wrap(storage_lock.WritersFirst, "acquire", sums, lock)
        let_go = storage_lock.write_lock_let_go

        def noted_let_go() -> None:   # the hold ends here, before the actions that follow it
            _released.at = time.perf_counter()
            _released.cpu = time.thread_time()
            let_go()
        storage_lock.write_lock_let_go = noted_let_go
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


def _slow_disk(seconds: float) -> None:
    from radicale import pathutils
    fsync = pathutils.fsync

    def slow_fsync(fd: int) -> None:
        time.sleep(seconds)
        fsync(fd)
    pathutils.fsync = slow_fsync


def _folder_fsync_in_lock() -> None:
    from radicale_ext.plugins import pg_storage, storage, storage_lock
    storage.when_write_lock_released = lambda key, action: False   # done at once, inside the lock
    storage_lock.write_lock_let_go = pg_storage.write_lock_let_go = lambda: None   # waited for to its end


if os.environ.get("SLOW_FSYNC_MS"):
    _slow_disk(float(os.environ["SLOW_FSYNC_MS"]) / 1000)
if os.environ.get("FOLDER_FSYNC_IN_LOCK"):
    _folder_fsync_in_lock()
if FOLDER:
    _start()
