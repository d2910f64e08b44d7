"""A real SMTP server for the benchmarks: aiosmtpd on 127.0.0.1 in a process of its own.

It accepts every message and notes, for each, its recipients, its
``Message-ID``, when it arrived and the connection (client address and
port) it came over; stopped (SIGTERM), it writes them to a
JSON file that :meth:`MailSink.stop` reads back.  Its own process, so the
benchmark's clients and the server's workers do not share an interpreter
with it.

    with MailSink(folder) as sink:       # starts it on sink.port
        ...
    received = sink.received             # after the with block
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*<([^>\r\n]+)>", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Message:
    recipient: str
    message_id: str  # without the angle brackets; "" when the message has none
    at: float  # time.time() when the server had it
    connection: str  # the client's address and port: one per SMTP connection


@dataclass
class Received:
    messages: list[Message] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.messages)

    def by_recipient_and_id(self) -> Counter[tuple[str, str]]:
        return Counter((m.recipient, m.message_id) for m in self.messages)

    def per_connection(self) -> list[int]:
        """Messages per SMTP connection, most first: how the senders shared the work."""
        return [n for _c, n in Counter(m.connection for m in self.messages).most_common()]

    def first(self) -> float:
        """When the first message arrived (time.time())."""
        return min(m.at for m in self.messages)

    def span(self) -> float:
        """Seconds from the first message to the last."""
        times = [m.at for m in self.messages]
        return max(times) - min(times) if times else 0.0


class MailSink:
    """The SMTP server's process, from the benchmark's side."""

    def __init__(self, folder: Path, port: int) -> None:
        self.port = port
        self._out = folder / f"mail-sink-{port}.json"
        self._proc: subprocess.Popen[str] | None = None
        self.received = Received()

    def start(self) -> MailSink:
        self._proc = subprocess.Popen([sys.executable, __file__, str(self.port), str(self._out)],
                                      stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if line != "ready":
            self._proc.kill()
            raise RuntimeError(f"the SMTP server did not start on port {self.port}: {line!r}")
        return self

    def stop(self) -> Received:
        """Stop the server; what it received."""
        if self._proc is None:
            return self.received
        self._proc.terminate()
        self._proc.communicate(timeout=60)
        self._proc = None
        rows = json.loads(self._out.read_text())
        self.received = Received([Message(*row) for row in rows])
        return self.received

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def serve(port: int, out: Path) -> None:
    """The server's process: run until SIGTERM, then write what arrived to ``out``."""
    from aiosmtpd.controller import Controller

    arrived: list[tuple[str, str, float, str]] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001 - aiosmtpd's
            found = MESSAGE_ID.search(envelope.original_content or b"")
            message_id = found.group(1).decode("ascii", "replace") if found else ""
            now, peer = time.time(), f"{session.peer[0]}:{session.peer[1]}"
            arrived.extend((recipient, message_id, now, peer) for recipient in envelope.rcpt_tos)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("ready", flush=True)
    done.wait()
    controller.stop()
    out.write_text(json.dumps(arrived))


if __name__ == "__main__":
    serve(int(sys.argv[1]), Path(sys.argv[2]))
