"""The options of change notices, read from the ``[hook]`` section of Radicale's INI file.

They are options of our hook plugin: ``radicale_ext/plugins/hook.py`` declares them to
Radicale through its plugin-schema mechanism (``Configuration.copy``), so
Radicale refuses an unknown option in ``[hook]`` at start-up with one line
naming it.  SMTP uses Radicale's own ``[hook]`` options (``smtp_server``,
``smtp_port``, ``smtp_security``, ``smtp_ssl_verify_mode``, ``smtp_username``,
``smtp_password``, ``smtp_password_file``, ``from_email``), the ones its
e-mail hook reads, so an admin who knows Radicale's mail set-up knows ours.

This module only parses and checks values; each bad value raises
:class:`~radicale_ext.base.errors.ExtError` with the option, the value and what
is expected.  docs/notifications.md lists every option.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..base import ini
from ..base.errors import ExtError
from ..base.names import shown
from .outbound import AllowList, BadDestination, Outbound
from .zones import is_zone

HOOK_TYPE = "radicale_ext.plugins.hook"


class BadOption(ExtError):
    """A notice option whose value cannot be used."""


def _number(name: str, text: str, parse: type[float] | type[int], kind: str,
            allowed: Callable[[float], bool], rule: str) -> float:
    try:
        value = parse(text)
    except ValueError:
        raise BadOption(f"[hook] {name} = {text!r}: expected {kind}") from None
    if not allowed(value):
        raise BadOption(f"[hook] {name} = {text!r}: {rule}")
    return value


def _seconds(name: str, text: str) -> float:
    return _number(name, text, float, "a number of seconds", lambda v: v >= 0, "may not be negative")


def _days(name: str, text: str) -> float:
    return _number(name, text, float, "a number of days", lambda v: v > 0, "must be more than 0")


def _count(name: str, text: str) -> int:
    return int(_number(name, text, int, "a whole number", lambda v: v >= 1, "must be at least 1"))


def _flag(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "yes", "true", "on"):
        return True
    if lowered in ("0", "no", "false", "off"):
        return False
    raise BadOption(f"[hook] {name} = {text!r}: expected true or false")


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, text: str) -> str:
        value = text.strip()
        if value not in allowed:
            raise BadOption(f"[hook] {name} = {text!r}: expected one of {', '.join(allowed)}")
        return value
    return parse


def _clock_time(name: str, text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*([01]?\d|2[0-3]):([0-5]\d)\s*", text)
    if not match:
        raise BadOption(f"[hook] {name} = {text!r}: expected a time of day as HH:MM, e.g. 07:00")
    return int(match.group(1)), int(match.group(2))


def _text(name: str, text: str) -> str:
    return text.strip()


def _allow_list(name: str, text: str) -> AllowList:
    try:
        return AllowList.parse(text)
    except BadDestination as e:
        raise BadOption(f"[hook] {name} = {text!r}: {e}") from None


@dataclass(frozen=True)
class Option:
    name: str
    default: str
    help: str
    parse: Callable[[str, str], Any]


# Our options in [hook]; each name starts with "notices_".
OPTIONS: tuple[Option, ...] = (
    Option("notices_worker", "thread", "where notices are delivered: 'thread' (a thread of the server) or 'none' "
           "(run 'radicale-ext worker' processes instead)", _choice("thread", "none")),
    Option("notices_window", "60", "seconds: changes by one person to one collection within this window "
           "become one notice", _seconds),
    Option("notices_max_age", "30", "days a change notice stays in the notification collection", _days),
    Option("notices_max_attempts", "8", "failed delivery attempts before a delivery is dead-lettered", _count),
    Option("notices_retry_after", "30", "seconds before the first retry; doubled after each failure", _seconds),
    Option("notices_retry_max", "3600", "longest wait between two attempts, in seconds", _seconds),
    Option("notices_lease", "120", "seconds a worker holds what it took before another worker may take it over",
           _seconds),
    Option("notices_poll", "1", "seconds an idle worker waits before looking for work again", _seconds),
    Option("notices_daily_at", "07:00", "time of day of daily digests, in the recipient's time zone (UTC when "
           "unknown)", _clock_time),
    Option("notices_https_only", "true", "push endpoints and webhooks must be https:// addresses", _flag),
    Option("notices_outbound_allow", "", "addresses, networks and host names on the server's own machine or "
           "network that push endpoints and webhooks may reach (e.g. 10.0.0.5/32, push.internal.example); by "
           "default the server sends only to public Internet addresses", _allow_list),
    Option("notices_webhook_max_bytes", "262144", "largest webhook body, in bytes; larger ones are dead-lettered",
           _count),
    Option("notices_timeout", "10", "seconds to wait for an SMTP server, a push service or a webhook", _seconds),
    Option("notices_push_max_days", "7", "longest life of a WebDAV-Push subscription, in days (at least 3)", _days),
    Option("notices_vapid_key", "", "a VAPID private key file (PEM, RFC 8292) from before the key was kept in the "
           "sharing database: taken over once, when the database has none yet; default: vapid-private.pem beside "
           "the sharing database", _text),
    Option("notices_vapid_subject", "", "contact for push services (RFC 8292 'sub'): mailto: or https: URL; "
           "default: mailto: from_email", _text),
    Option("notices_public_url", "", "the server's address as people use it (https://dav.example.org), for "
           "links in e-mails and WebDAV-Push registration URLs", _text),
    # reminders (docs/reminders.md)
    Option("notices_reminders", "true", "send reminders (VALARM) of shared calendars", _flag),
    Option("notices_reminder_window", "180", "days ahead for which reminders are scheduled (recurring events "
           "are expanded this far, and the window rolls on daily)", _days),
    Option("notices_reminder_grace", "3600", "seconds: a reminder missed while no worker ran is still sent "
           "this long after its time; older ones are skipped and logged", _seconds),
    Option("notices_reminder_max_occurrences", "1000", "occurrences of one recurring event reminded within "
           "the window; more are left out and logged", _count),
    Option("notices_reminder_timezone", "UTC", "time zone of floating times and all-day events in calendars "
           "that name none (calendar-timezone) and whose owner chose none", _text),
)
OPTION_NAMES = frozenset(o.name for o in OPTIONS)

# Radicale's own [hook] options that we read (its e-mail hook's SMTP settings).
SMTP_OPTIONS: Mapping[str, str] = {
    "smtp_server": "", "smtp_port": "25", "smtp_security": "none", "smtp_ssl_verify_mode": "REQUIRED",
    "smtp_username": "", "smtp_password": "", "smtp_password_file": "", "from_email": "",
}


def radicale_schema() -> dict[str, dict[str, dict[str, Any]]]:
    """Our options as Radicale's ``plugin_schema`` for the ``[hook]`` section (values checked here)."""
    return {"hook": {o.name: {"value": o.default, "help": o.help, "type": str} for o in OPTIONS}}


@dataclass(frozen=True)
class SmtpSettings:
    server: str = ""
    port: int = 25
    security: str = "none"           # none | starttls | tls
    verify: str = "REQUIRED"         # REQUIRED | OPTIONAL | NONE
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = ""                 # From: address

    @property
    def configured(self) -> bool:
        return bool(self.server)


@dataclass(frozen=True)
class NoticeSettings:
    """Everything the notice worker and its channels need to know."""

    enabled: bool = False
    worker: str = "thread"
    window: float = 60.0
    max_age_days: float = 30.0
    max_attempts: int = 8
    retry_after: float = 30.0
    retry_max: float = 3600.0
    lease: float = 120.0
    poll: float = 1.0
    daily_at: tuple[int, int] = (7, 0)
    https_only: bool = True
    outbound_allow: AllowList = field(default_factory=AllowList)
    webhook_max_bytes: int = 262144
    timeout: float = 10.0
    push_max_days: float = 7.0
    vapid_key_file: str = ""
    vapid_subject: str = ""
    public_url: str = ""
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    reminders: bool = True
    reminder_window_days: float = 180.0
    reminder_grace: float = 3600.0
    reminder_max_occurrences: int = 1000
    reminder_timezone: str = "UTC"

    @property
    def max_age(self) -> float:
        return self.max_age_days * 86400.0

    def outbound(self) -> Outbound:
        """Where push messages and webhooks may go (:mod:`radicale_ext.notices.outbound`)."""
        return Outbound(self.outbound_allow, https_only=self.https_only)

    def retry_delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure: doubling, at most ``retry_max``."""
        return min(self.retry_max, self.retry_after * (2 ** max(0, attempts - 1)))

    @classmethod
    def from_options(cls, options: Mapping[str, str], *, database_path: str) -> NoticeSettings:
        """Parse our options (missing ones take their defaults) and Radicale's SMTP options.

        Raises :class:`BadOption` for a value that cannot be used.
        """
        values: dict[str, Any] = {}
        for option in OPTIONS:
            raw = options.get(option.name)
            values[option.name] = option.parse(option.name, option.default if raw is None else str(raw))
        smtp = _smtp(options)
        vapid_key = values["notices_vapid_key"] or os.path.join(
            os.path.dirname(os.path.abspath(database_path)), "vapid-private.pem")
        subject = values["notices_vapid_subject"] or (f"mailto:{smtp.sender}" if smtp.sender else
                                                      "mailto:postmaster@localhost")
        if not subject.startswith(("mailto:", "https:")):
            raise BadOption(f"[hook] notices_vapid_subject = {subject!r}: expected a mailto: or https: URL "
                            "(RFC 8292 section 2.1)")
        if values["notices_push_max_days"] < 3:
            raise BadOption(f"[hook] notices_push_max_days = {values['notices_push_max_days']:g}: WebDAV-Push "
                            "subscriptions must be allowed to live at least 3 days")
        return cls(
            enabled=True, worker=values["notices_worker"], window=values["notices_window"],
            max_age_days=values["notices_max_age"], max_attempts=values["notices_max_attempts"],
            retry_after=values["notices_retry_after"], retry_max=values["notices_retry_max"],
            lease=max(1.0, values["notices_lease"]), poll=values["notices_poll"],
            daily_at=values["notices_daily_at"], https_only=values["notices_https_only"],
            outbound_allow=values["notices_outbound_allow"],
            webhook_max_bytes=values["notices_webhook_max_bytes"], timeout=values["notices_timeout"] or 10.0,
            push_max_days=values["notices_push_max_days"], vapid_key_file=os.path.abspath(vapid_key),
            vapid_subject=subject, public_url=values["notices_public_url"].rstrip("/"), smtp=smtp,
            reminders=values["notices_reminders"], reminder_window_days=values["notices_reminder_window"],
            reminder_grace=values["notices_reminder_grace"],
            reminder_max_occurrences=values["notices_reminder_max_occurrences"],
            reminder_timezone=check_zone_option("notices_reminder_timezone", values["notices_reminder_timezone"]))


def check_zone_option(name: str, zone: str) -> str:
    if not is_zone(zone):
        raise BadOption(f"[hook] {name} = {shown(zone)}: not a time zone; use a name such as Europe/Berlin")
    return zone


def _smtp(options: Mapping[str, str]) -> SmtpSettings:
    raw = {key: str(options.get(key, default)).strip() for key, default in SMTP_OPTIONS.items()}
    security = raw["smtp_security"].lower()
    if security not in ("none", "starttls", "tls"):
        raise BadOption(f"[hook] smtp_security = {raw['smtp_security']!r}: expected none, starttls or tls")
    verify = raw["smtp_ssl_verify_mode"].upper()
    if verify not in ("REQUIRED", "OPTIONAL", "NONE"):
        raise BadOption(f"[hook] smtp_ssl_verify_mode = {raw['smtp_ssl_verify_mode']!r}: "
                        "expected REQUIRED, OPTIONAL or NONE")
    try:
        port = int(raw["smtp_port"])
    except ValueError:
        raise BadOption(f"[hook] smtp_port = {raw['smtp_port']!r}: expected a port number") from None
    password = raw["smtp_password"]
    if raw["smtp_password_file"]:
        try:
            with open(os.path.expanduser(raw["smtp_password_file"]), encoding="utf-8") as f:
                password = f.read().strip()
        except OSError as e:
            raise BadOption(f"[hook] smtp_password_file = {raw['smtp_password_file']!r}: cannot be read "
                            f"({e.strerror})") from None
    return SmtpSettings(server=raw["smtp_server"], port=port, security=security, verify=verify,
                        username=raw["smtp_username"], password=password, sender=raw["from_email"])


def from_ini(path: str, *, database_path: str) -> NoticeSettings:
    """The notice settings of a config file, for the command line (values checked; Radicale itself,
    at the server's start, refuses unknown options)."""
    parser = ini.read(path)
    options = dict(parser.items("hook")) if parser.has_section("hook") else {}
    if options.get("type", "").strip() != HOOK_TYPE:
        return NoticeSettings(enabled=False)
    return NoticeSettings.from_options(options, database_path=database_path)
