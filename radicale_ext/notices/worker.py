"""The notice worker: composes notices, hands them out, delivers them; apart from requests.

It runs as a thread of the server (``[hook] notices_worker = thread``, the
default) or as its own process (``radicale-ext worker``), several at once
if wanted: they share the work through the database (a lease for composing,
leased deliveries), so none is delivered twice by two workers.  Each
:meth:`Worker.step` does what is due now:

1. compose notices whose window has closed (:mod:`.compose`);
2. hand notices to their recipients (:mod:`.fanout`);
   (these two by one worker at a time: the one holding the lease
   :data:`.compose.LEASE`, taken over when its holder stops renewing it)
3. deliver due deliveries, a batch at a time (:mod:`.delivery`, :mod:`.channels`);
4. once a minute, remove what has expired (old notices, old deliveries,
   expired push subscriptions).

Before delivering, it plans and fires reminders when it is given the
reminder scheduler (:mod:`radicale_ext.reminders`, which stands on this
feature), so a reminder's deliveries go out in the same step.

No piece of work can stop the others: a record, notice or reminder that
raises is set aside (:mod:`.set_aside`) by its stage, a delivery that fails
is retried and dead-lettered (:mod:`.delivery`), and a stage that fails as a
whole (the database locked) is logged once and tried again next round,
after the other stages have run.

The clock is a parameter, so tests move time instead of sleeping.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..sharing.notifications import NoticeBox, NoticeKind
from .changes import ChangeNotices
from .channels import DeliveryFailed, Outgoing, RecipientGone, Sender
from .compose import LEASE, set_aside_records
from .delivery import Delivery, State
from .outbox import Outbox, process_gone
from .push.subscriptions import PushSubscriptions
from .push.vapid_keys import VapidKeys
from .service import Notices
from .set_aside import describe

logger = logging.getLogger("radicale_ext.notices")

PURGE_EVERY = 60.0


@dataclass
class Progress:
    composed: int = 0
    handed_out: int = 0      # chunks of recipients handed a notice
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    reminders_planned: int = 0   # calendar items whose reminders were (re)computed
    reminded: int = 0            # reminders fired
    reminders_skipped: int = 0   # reminders too late to send (beyond the grace)

    def __bool__(self) -> bool:
        return any(getattr(self, name) for name in _COUNTS)

    def add(self, other: Progress) -> None:
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


_COUNTS = ("composed", "handed_out", "delivered", "failed", "dropped", "reminders_planned", "reminded",
           "reminders_skipped")


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


class Yielding:
    """For a worker that shares its process with requests: after each piece of work, rest twice as
    long as it took (a third of the time at most is the worker's), so Python's lock on the
    interpreter, and the database's write lock, go to the requests in between.

    A rest lasts at least 1 ms and at most ``longest`` seconds.  The time since the last rest is
    all counted as work, waiting for the database included (a worker that holds the write lock
    keeps requests waiting as surely as one that computes), but only up to that bound: after an
    idle night, or an hour-long stretch of quiet, the first rest is as short as after a busy
    second, so a notice never waits long for it, whatever came before.
    """

    def __init__(self, share: float = 1 / 3, longest: float = 0.5) -> None:
        self._rest = (1 - share) / share
        self._longest = longest
        self._since = time.perf_counter()

    def __call__(self) -> None:
        worked = max(0.0, time.perf_counter() - self._since)
        time.sleep(min(self._longest, max(0.001, worked * self._rest)))
        self._since = time.perf_counter()


class Reminded(Protocol):
    planned: int
    sent: int
    skipped: int


class Reminding(Protocol):
    """Reminders, planned and fired in each step (:class:`radicale_ext.reminders.scheduler.ReminderScheduler`)."""

    def step(self, now: float, holder: str) -> Reminded: ...

    def release(self, holder: str) -> None: ...


class Worker:
    def __init__(self, notices: Notices, *, name: str | None = None, clock: Callable[[], float] = time.time,
                 senders: Mapping[str, Sender] | None = None, batch: int = 100,
                 pause: Callable[[], None] = lambda: None, reminders: Reminding | None = None) -> None:
        self.notices = notices
        self.name = name or default_name()
        self._clock = clock
        self._pause = pause
        self._senders = dict(senders) if senders is not None else None
        self._own_senders = senders is None   # made here: closed when idle
        self._batch = batch
        self._last_purge = 0.0
        self._failing: dict[str, str] = {}   # stage -> the error it last failed with
        self._started = False
        self.reminders = reminders

    # -- one round ---------------------------------------------------------------------

    def step(self) -> Progress:
        """Do everything that is due now, once.  Each stage runs even when another failed: a stage
        that raises (the database locked, a bug) is logged once and tried again next round."""
        progress = Progress()
        self.notices.forget_names()
        if not self._started:   # claims left by a worker of this machine that stopped (a restart, a crash)
            self._stage("starting", lambda: self.notices.queue.release_leases(process_gone, self._clock()))
            self._started = True
        self._stage("composing and handing out", lambda: self._compose(progress))
        if self.reminders is not None:
            self._stage("reminders", lambda: self._remind(progress))
        self._stage("delivering", lambda: self._deliver_due(progress))
        now = self._clock()
        if now - self._last_purge >= PURGE_EVERY:
            self._stage("tidying", lambda: self.purge(now))
            self._last_purge = now
        return progress

    def _compose(self, progress: Progress) -> None:
        n, s = self.notices, self.notices.settings
        if n.leases.hold(LEASE, self.name, self._clock(), s.lease):  # one worker at a time composes
            progress.composed = n.composer.compose_due(self._clock())
            progress.handed_out = n.fanout.fan_out(self._clock(), pause=self._pause)

    def _remind(self, progress: Progress) -> None:
        assert self.reminders is not None
        reminded = self.reminders.step(self._clock(), self.name)
        progress.reminders_planned, progress.reminded = reminded.planned, reminded.sent
        progress.reminders_skipped = reminded.skipped

    def _stage(self, name: str, run: Callable[[], None]) -> None:
        try:
            run()
        except Exception as e:
            text = describe(e)
            if self._failing.get(name) != text:   # said once, not at every round
                logger.error("notices: worker %s: %s failed; trying again each round: %s", self.name, name, text,
                             exc_info=e)
                self._failing[name] = text
        else:
            if self._failing.pop(name, None) is not None:
                logger.warning("notices: worker %s: %s works again", self.name, name)

    def run_until_idle(self, max_steps: int = 100_000) -> Progress:
        """Steps until one finds nothing due (what ``radicale-ext worker --once`` does)."""
        total = Progress()
        try:
            for _ in range(max_steps):
                progress = self.step()
                total.add(progress)
                if not progress:
                    break
        finally:
            self.notices.leases.release(LEASE, self.name)   # the next worker need not wait for it
            if self.reminders is not None:
                self.reminders.release(self.name)
            self._close_senders()
        return total

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set: steps, resting ``[hook] notices_poll`` seconds when idle, and ``pause``
        after a busy round (as after each delivery and each chunk of a fan-out)."""
        logger.info("notices: worker %s started", self.name)
        while not stop.is_set():
            try:
                busy = bool(self.step())
            except Exception:  # one bad round must not end delivery for good
                logger.exception("notices: worker %s: a round failed; trying again", self.name)
                busy = False
            if not busy:
                stop.wait(self.notices.settings.poll)
            else:   # a busy round (composing, planning reminders) rests too, not only its deliveries
                self._pause()
        self.notices.leases.release(LEASE, self.name)
        if self.reminders is not None:
            self.reminders.release(self.name)
        self._close_senders()
        logger.info("notices: worker %s stopped", self.name)

    # -- delivering ------------------------------------------------------------------------

    def _deliver_due(self, progress: Progress) -> None:
        n, s = self.notices, self.notices.settings
        claimed = n.queue.claim(self.name, self._clock(), s.lease, self._batch)
        if not claimed:
            self._close_senders()   # idle: let go of connections
            return
        lease_until = self._clock() + s.lease
        groups = _groups(claimed)
        notices = n.changes.get(d.notice_id for d in claimed)
        contacts = n.preferences.contacts(d.recipient for d in claimed)
        if self._senders is None:
            self._senders = n.senders()
            self._own_senders = True
        senders = self._senders
        for index, group in enumerate(groups):
            now = self._clock()
            if now > lease_until - s.lease / 2:
                lease_until = now + s.lease
                n.queue.renew(self.name, [d.id for g in groups[index:] for d in g], lease_until)
            carried = tuple(notices[i] for i in sorted({d.notice_id for d in group}) if i in notices)
            sender = senders.get(group[0].channel)
            if sender is None or not carried:
                n.queue.dropped(self.name, [d.id for d in group], now, "nothing to deliver it with")
                progress.dropped += len(group)
                continue
            self._attempt(sender, Outgoing(tuple(group), carried, contacts[group[0].recipient]), progress)
            self._pause()

    def _close_senders(self) -> None:
        if self._own_senders and self._senders is not None:
            for sender in self._senders.values():
                sender.close()
            self._senders = None

    def _attempt(self, sender: Sender, outgoing: Outgoing, progress: Progress) -> None:
        n, s = self.notices, self.notices.settings
        ids = [d.id for d in outgoing.deliveries]
        first = outgoing.deliveries[0]
        try:
            sender.send(outgoing, self._clock())
        except RecipientGone as e:
            n.queue.dropped(self.name, ids, self._clock(), str(e))
            logger.info("notices: delivery #%d (%s to %s) dropped: %s", first.id, first.channel, first.recipient, e)
            progress.dropped += len(ids)
        except Exception as e:  # a channel's bug is a failed attempt too, never a lost delivery
            permanent = isinstance(e, DeliveryFailed) and e.permanent
            text = str(e) if isinstance(e, DeliveryFailed) else f"{type(e).__name__}: {e}"
            if not isinstance(e, DeliveryFailed):
                logger.exception("notices: the %s channel failed unexpectedly", first.channel)
            for d in n.queue.failed(self.name, ids, self._clock(), text, permanent=permanent,
                                    max_attempts=s.max_attempts, delay_after=s.retry_delay):
                _log_failure(d)
            progress.failed += len(ids)
        else:
            n.queue.delivered(self.name, ids, self._clock())
            progress.delivered += len(ids)

    # -- tidying ------------------------------------------------------------------------

    def purge(self, now: float) -> None:
        """Remove expired change notices (notification collections too), push subscriptions, VAPID keys no
        device is bound to any more, and the outbox records every reader is done with, as old as those notices."""
        cutoff = now - self.notices.settings.max_age
        with self.notices.site.db.write() as w:
            NoticeBox.expire(w, NoticeKind.RESOURCE_CHANGE, cutoff)
            # a day later than the notices that show them (a notice's age counts from its last change)
            ChangeNotices.forget_older_than(w, cutoff - 86400)
            Outbox.forget_read(w, cutoff - 86400, keep=set_aside_records(w))
            PushSubscriptions.forget_expired(w, now)
            VapidKeys.forget_unused(w)


def _groups(claimed: list[Delivery]) -> list[list[Delivery]]:
    """One attempt per delivery, except that a digest's deliveries to one person go together."""
    groups: dict[tuple, list[Delivery]] = {}
    for d in claimed:
        key = (d.recipient, d.channel, d.target, d.digest) if d.digest else (d.id,)
        groups.setdefault(key, []).append(d)
    return list(groups.values())


def _log_failure(d: Delivery) -> None:
    if d.state is State.DEAD:
        logger.error("notices: delivery #%d (%s to %s) is dead after %d attempt(s): %s "
                     "(list: 'radicale-ext notices dead'; retry: 'radicale-ext notices retry %d')",
                     d.id, d.channel, d.recipient, d.attempts, d.last_error, d.id)
    else:
        logger.warning("notices: delivery #%d (%s to %s) failed (attempt %d), will try again: %s",
                       d.id, d.channel, d.recipient, d.attempts, d.last_error)


def start_thread(notices: Notices, *, reminders: Reminding | None = None,
                 name: str = "notices") -> tuple[threading.Thread, threading.Event]:
    """Run a worker in a daemon thread of this process; set the event to stop it.  It yields to the
    requests of the process (:class:`Yielding`): busy, it takes at most a third of the time."""
    stop = threading.Event()
    worker = Worker(notices, name=f"{socket.gethostname()}:{os.getpid()}:{name}", pause=Yielding(),
                    reminders=reminders)
    thread = threading.Thread(target=worker.run, args=(stop,), name=f"radicale-ext-{name}", daemon=True)
    thread.start()
    return thread, stop
