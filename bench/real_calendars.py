"""Calendars and address books that look like real ones (issue 17), the same for a seed on every run.

A calendar of N items, each one iCalendar object (one event, or a series with its moved occurrence),
spread over 2025-2027 in the proportions of a family's and a team's calendars:

- 72% single events: 50% timed with a TZID in one of three zones (Europe/Berlin 60%,
  America/New_York 25%, Asia/Shanghai 15%; each item carries its zone's VTIMEZONE, with the
  DST rules in force since 2007), 8% timed in UTC, 10% all-day, 4% multi-day all-day (2-5 days);
  timed ones start between 07:00 and 20:30 local time and last 30 minutes to 3 hours;
- 20% bounded series with a TZID (a tenth all-day): daily (COUNT 3-14 or UNTIL 1-4 weeks on),
  weekly (COUNT 6-20 or UNTIL, a fifth of them school runs on weekdays, BYDAY=MO,TU,WE,TH,FR),
  monthly (BYMONTHDAY, COUNT 6-24 or UNTIL); half with one to three EXDATEs, a third of the timed
  ones with an overridden occurrence (a second VEVENT with RECURRENCE-ID, moved by two hours, a day
  or a week);
- 5% unbounded weekly series (a quarter every other week), timed with a TZID;
- 3% birthdays: yearly all-day series without end, DTSTART in the birth year (1940-2020);
- a third of all items with a VALARM (15 minutes or an hour before; the evening before for all-day ones);
- summaries, locations and descriptions in German, Chinese and English, some with emoji;
  UIDs are UUIDs (the href is the UID + ".ics").

An address book of N vCards 3.0: FN and N of real-world names (German with umlauts and ß, 40%;
Chinese written in Han characters, 20%; others with diacritics, 40%), one to three EMAIL (addresses
transliterated: Müller -> mueller, 王芳 -> wang.fang), one to three TEL, one or two ADR, and some
NICKNAME, ORG/TITLE, BDAY, NOTE and CATEGORIES; emoji in about one card in ten (FN, NICKNAME or NOTE).

Counts a query must give are computed here from the data, not asked of a server: ``week_matches``
(items with an occurrence in a week: RFC 4791 9.9 overlap, each occurrence expanded with dateutil
from the rule, EXDATEs and the moved occurrence taken out, the override put in; all-day dates as
UTC days, as a calendar without CALDAV:calendar-timezone has them), ``email_matches`` and
``fn_or_email_matches`` (RFC 6352 text-match "contains", ASCII case-insensitive).
"""

from __future__ import annotations

import datetime
import math
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from dateutil.rrule import rruleset, rrulestr

UTC = datetime.UTC
DAY = datetime.timedelta(days=1)
YEARS = (2025, 2026, 2027)
FIRST_DAY, LAST_DAY = datetime.date(2025, 1, 1), datetime.date(2027, 12, 31)
QUERY_YEAR = 2026  # the weeks the benchmark asks for
WEEK_STARTS = 358  # a week starts on one of the first 358 days of 2026 at 00:00 UTC and ends within the year

BERLIN, NEW_YORK, SHANGHAI = "Europe/Berlin", "America/New_York", "Asia/Shanghai"
ZONES = ((BERLIN, 60), (NEW_YORK, 25), (SHANGHAI, 15))

# The proportions of the calendar, in percent of its items (see the module's docstring).
KINDS: tuple[tuple[str, int], ...] = (
    ("zoned", 50), ("utc", 8), ("all-day", 10), ("multi-day", 4),
    ("bounded", 20), ("unbounded", 5), ("birthday", 3),
)
ALARM_SHARE = 1 / 3

VTIMEZONES = {
    BERLIN: """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
""",
    NEW_YORK: """BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:20070311T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:20071104T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE
""",
    SHANGHAI: """BEGIN:VTIMEZONE
TZID:Asia/Shanghai
BEGIN:STANDARD
TZOFFSETFROM:+0800
TZOFFSETTO:+0800
TZNAME:CST
DTSTART:19700101T000000
END:STANDARD
END:VTIMEZONE
""",
}

CALENDAR_HEAD = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//radicale-ext//real calendars bench//EN\nCALSCALE:GREGORIAN\n"
CALENDAR_TAIL = "END:VCALENDAR\n"

SUMMARIES = {
    BERLIN: ("Elternabend Klasse 5b", "Zahnarzt Dr. Groß", "Fußballtraining ⚽", "Kita-Fest", "Physiotherapie",
             "Übergabe Projekt Süd", "Abendessen bei Müllers", "Friseur", "Besprechung mit Jürgen",
             "Kundentermin Köln", "Elterngespräch", "Tierarzt mit Bello 🐶", "Wohnungsbesichtigung",
             "Chorprobe", "Steuerberater", "Geburtstagsfeier Käthe 🎉"),
    NEW_YORK: ("Quarterly review", "Flight LH 401 to Frankfurt ✈️", "Dentist", "Lunch with Sam", "Board call",
               "Soccer practice", "Parent-teacher conference", "Yoga", "Design sync", "Dinner at Lucia's"),
    SHANGHAI: ("家庭聚餐", "项目评审", "春节采购 🧧", "客户拜访", "看望奶奶", "体检", "团队午餐", "中文课"),
}
UTC_SUMMARIES = ("Release window", "Server maintenance", "Webinar: CalDAV in practice", "Incident review",
                 "Standup (UTC)", "Backup check")
ALL_DAY_SUMMARIES = ("Urlaub 🏖️", "Brückentag", "Schulfrei", "Müllabfuhr: Papier", "Home office",
                     "Tag der offenen Tür", "中秋节", "Konferenz", "Betriebsausflug", "Klassenfahrt")
SERIES = {
    "daily": ("Reha-Termin", "Sprachkurs Intensiv", "Antibiotikum nehmen 💊", "Sommercamp"),
    "weekly": ("Schwimmkurs", "Klavierunterricht 🎹", "Jour fixe Team Süd", "Turnen", "Mathe-Nachhilfe"),
    "school": ("Schulweg Emma & Jonas", "Kita bringen", "Fahrgemeinschaft Schule"),
    "monthly": ("Miete überweisen", "Elternbeirat", "Stammtisch", "Review Monatsabschluss", "读书会"),
    "unbounded": ("Weekly standup", "Chorprobe", "Fußball mit den Jungs ⚽", "Jour fixe", "Familien-Call 📞",
                  "周会"),
}
LOCATIONS = ("Hauptstraße 12, 10115 Berlin", "Praxis Dr. Groß, Königsallee 3, Düsseldorf", "Sporthalle Süd",
             "Zoom", "350 5th Ave, New York, NY", "上海市人民路88号", "Café Ölmühle", "Raum 2.07")
DESCRIPTIONS = ("Bitte Unterlagen mitbringen; Parkplatz hinten, Eingang über den Hof.",
                "Agenda:\n1. Status\n2. Budget, Risiken\n3. Nächste Schritte",
                "Dial-in: +1 212 555 0100, PIN 4711#", "记得带护照和材料。", "🎁 Geschenk nicht vergessen!")


def escape(text: str) -> str:
    """A TEXT value (RFC 5545 3.3.11, RFC 2426 4): backslash, semicolon, comma and newline escaped."""
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> str:
    """One content line folded at 75 octets (RFC 5545 3.1), never inside a UTF-8 character."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts, start, limit = [], 0, 75
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1
        parts.append(data[start:end].decode())
        start, limit = end, 74  # a continuation line starts with a space
    return "\r\n ".join(parts)


def crlf(text: str) -> str:
    """Lines (LF-separated, unfolded) as a content stream: folded, CRLF-terminated."""
    return "".join(fold(line) + "\r\n" for line in text.splitlines())


def stamp(value: datetime.datetime | datetime.date, zone: str | None) -> tuple[str, str]:
    """(parameters, value) of a DTSTART-like property: ";TZID=..." and local time, UTC with Z, or a date."""
    if isinstance(value, datetime.datetime):
        if zone is None:
            return "", f"{value.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        return f";TZID={zone}", f"{value:%Y%m%dT%H%M%S}"
    return ";VALUE=DATE", f"{value:%Y%m%d}"


@dataclass(frozen=True)
class Moved:
    """An overridden occurrence: the occurrence starting at ``recurrence_id`` starts at ``start`` instead."""

    recurrence_id: datetime.datetime
    start: datetime.datetime
    end: datetime.datetime


@dataclass(frozen=True)
class Event:
    """One calendar item.  Times are local (aware, in ``zone``; ``zone`` None: UTC) or dates (all-day)."""

    uid: str
    kind: str
    summary: str
    start: datetime.datetime | datetime.date
    end: datetime.datetime | datetime.date
    zone: str | None = None
    rule: str | None = None  # the RRULE value
    exdates: tuple[datetime.datetime | datetime.date, ...] = ()
    moved: Moved | None = None
    alarm: str | None = None  # the VALARM's TRIGGER value
    location: str | None = None
    description: str | None = None
    created: datetime.datetime = datetime.datetime(2024, 11, 3, 9, 12, 44, tzinfo=UTC)

    @property
    def href(self) -> str:
        return f"{self.uid}.ics"

    @property
    def recurring(self) -> bool:
        return self.rule is not None

    @property
    def bounded(self) -> bool:
        return self.rule is not None and ("COUNT=" in self.rule or "UNTIL=" in self.rule)

    def vevents(self, summary: str | None = None) -> str:
        """The item's VEVENT components (LF lines, unfolded): the master, then its moved occurrence."""
        summary = summary or self.summary
        created = f"{self.created:%Y%m%dT%H%M%SZ}"
        lines = ["BEGIN:VEVENT", f"UID:{self.uid}", f"DTSTAMP:{created}", f"CREATED:{created}",
                 f"LAST-MODIFIED:{created}", "SEQUENCE:0", f"SUMMARY:{escape(summary)}"]
        lines += self._times(self.start, self.end)
        if self.rule:
            lines.append(f"RRULE:{self.rule}")
        if self.exdates:
            params, _ = stamp(self.exdates[0], self.zone)
            lines.append(f"EXDATE{params}:" + ",".join(stamp(x, self.zone)[1] for x in self.exdates))
        if self.location:
            lines.append(f"LOCATION:{escape(self.location)}")
        if self.description:
            lines.append(f"DESCRIPTION:{escape(self.description)}")
        if isinstance(self.start, datetime.datetime):
            lines.append("TRANSP:OPAQUE")
        else:
            lines.append("TRANSP:TRANSPARENT")
        if self.kind == "birthday":
            lines.append("CATEGORIES:Geburtstag")
        lines += self._alarm(summary)
        lines.append("END:VEVENT")
        if self.moved:
            params, value = stamp(self.moved.recurrence_id, self.zone)
            lines += ["BEGIN:VEVENT", f"UID:{self.uid}", f"DTSTAMP:{created}", f"RECURRENCE-ID{params}:{value}",
                      "SEQUENCE:1", f"SUMMARY:{escape(summary)} (verschoben)"]
            lines += self._times(self.moved.start, self.moved.end)
            lines += self._alarm(summary)
            lines.append("END:VEVENT")
        return "\n".join(lines) + "\n"

    def _times(self, start: datetime.datetime | datetime.date, end: datetime.datetime | datetime.date) -> list[str]:
        (p1, v1), (p2, v2) = stamp(start, self.zone), stamp(end, self.zone)
        return [f"DTSTART{p1}:{v1}", f"DTEND{p2}:{v2}"]

    def _alarm(self, summary: str) -> list[str]:
        if not self.alarm:
            return []
        return ["BEGIN:VALARM", "ACTION:DISPLAY", f"DESCRIPTION:{escape(summary)}", f"TRIGGER:{self.alarm}",
                "END:VALARM"]

    def text(self, summary: str | None = None) -> str:
        """The item as a client PUTs it: a VCALENDAR with the zone's VTIMEZONE and the VEVENTs, CRLF and folded."""
        zone = VTIMEZONES[self.zone] if self.zone else ""
        return crlf(CALENDAR_HEAD + zone + self.vevents(summary) + CALENDAR_TAIL)

    # -- what a time-range query sees ------------------------------------------------------------------

    def spans(self, after: datetime.datetime, before: datetime.datetime) -> list[tuple[datetime.datetime,
                                                                                      datetime.datetime]]:
        """Every occurrence [start, end) in UTC that overlaps [after, before): the rule expanded with
        dateutil, EXDATEs and the moved occurrence left out, the override in its place."""
        found = []
        for start, end in self._occurrences(before):
            if start < before and end > after:
                found.append((start, end))
        if self.moved:
            start, end = instant(self.moved.start), instant(self.moved.end)
            if start < before and end > after:
                found.append((start, end))
        return found

    def _occurrences(self, before: datetime.datetime) -> Iterable[tuple[datetime.datetime, datetime.datetime]]:
        length = local(self.end) - local(self.start)  # wall-clock length: timed ones never cross a DST change
        if not self.rule:
            yield instant(self.start), instant(self.end)
            return
        starts = rruleset()
        starts.rrule(rrulestr(self.rule, dtstart=local(self.start)))
        for x in self.exdates:
            starts.exdate(local(x))
        if self.moved:
            starts.exdate(local(self.moved.recurrence_id))
        for start in starts:
            first = instant(start)
            if first >= before:
                return
            yield first, instant(start + length)  # aware: wall-clock addition, as RFC 5545 3.3.10 expands


def local(value: datetime.datetime | datetime.date) -> datetime.datetime:
    """A datetime for dateutil: aware local time as it is, a date as naive midnight."""
    if isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.combine(value, datetime.time())


def instant(value: datetime.datetime | datetime.date) -> datetime.datetime:
    """The UTC instant: a local time converted, a naive one (an all-day date) taken as UTC."""
    value = local(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# -- cards ----------------------------------------------------------------------------------------------

GERMAN_GIVEN = ("Jürgen", "Käthe", "Björn", "Jörg", "Sabine", "Günter", "Anneliese", "Lukas", "Mia", "Leonie",
                "Maximilian", "Sören", "Gisela", "Ömer", "Hannelore", "Jonas", "Emma", "Uwe")
GERMAN_FAMILY = ("Müller", "Schäfer", "Groß", "Weiß", "Köhler", "Jäger", "Schröder", "Krüger", "Hoffmann",
                 "Schmidt", "Bäcker", "Fuchs", "Lößner")
CHINESE_FAMILY = (("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
                  ("黄", "huang"), ("赵", "zhao"), ("周", "zhou"), ("吴", "wu"))
CHINESE_GIVEN = (("芳", "fang"), ("伟", "wei"), ("秀英", "xiuying"), ("娜", "na"), ("敏", "min"), ("静", "jing"),
                 ("丽", "li"), ("强", "qiang"), ("磊", "lei"), ("洋", "yang"))
OTHER_GIVEN = ("Emma", "Olivia", "Noah", "Liam", "Ingrid", "Astrid", "Zoë", "Chloé", "José", "Sofía", "Ayşe",
               "Mehmet", "Siobhán", "Lucy", "Mateo", "Agnieszka", "Nguyễn Văn", "Dorothée")
OTHER_FAMILY = ("Lindqvist", "O'Brien", "García", "Núñez", "Dubois", "Ødegaard", "Kowalski", "Yılmaz", "Smith",
                "Rossi", "Chen", "Wang", "Johnson", "Lefèvre", "Brontë", "Nowak")
EMOJI = ("🎾", "👵", "🚲", "🌻", "⚽", "🎂", "🐶", "☕")
MAIL_DOMAINS = ("gmx.de", "web.de", "posteo.de", "gmail.com", "outlook.com", "qq.com", "163.com", "icloud.com")
WORK_DOMAINS = ("firma-sued.de", "example-gmbh.de", "acme.example", "stadtwerke.example", "uni.example.edu")
STREETS = (("Hauptstraße 12", "Berlin", "", "10115", "Deutschland"),
           ("Königsallee 3", "Düsseldorf", "", "40212", "Deutschland"),
           ("Am Mühlbach 7a", "München", "Bayern", "80331", "Deutschland"),
           ("人民路88号", "上海", "", "200000", "中国"),
           ("朝阳门外大街 6号", "北京", "", "100020", "中国"),
           ("350 5th Ave, Apt 4", "New York", "NY", "10118", "USA"),
           ("Storgatan 5", "Umeå", "", "903 26", "Sverige"))
TRANSLITERATION = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ø": "oe", "é": "e", "è": "e",
                                 "ë": "e", "á": "a", "í": "i", "ñ": "n", "ú": "u", "ş": "s", "ı": "i", "ễ": "e",
                                 "ă": "a", "'": "", " ": "."})
EMAIL_QUERY = "mueller"  # addressbook-query EMAIL contains: the Müllers' addresses (about 3%)
FN_OR_EMAIL_QUERY = "chen"  # anyof FN, EMAIL contains: "Lucy Chen" by name, 陈静 by chen.jing@


def mail_name(text: str) -> str:
    return text.lower().translate(TRANSLITERATION)


@dataclass(frozen=True)
class Card:
    uid: str
    fn: str
    family: str
    given: str
    emails: tuple[tuple[str, str], ...]
    tels: tuple[tuple[str, str], ...]
    addresses: tuple[tuple[str, tuple[str, ...]], ...]
    nickname: str | None = None
    org: str | None = None
    title: str | None = None
    birthday: datetime.date | None = None
    note: str | None = None
    categories: tuple[str, ...] = ()

    @property
    def href(self) -> str:
        return f"{self.uid}.vcf"

    def text(self) -> str:
        lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{self.uid}", f"FN:{escape(self.fn)}",
                 f"N:{escape(self.family)};{escape(self.given)};;;"]
        if self.nickname:
            lines.append(f"NICKNAME:{escape(self.nickname)}")
        if self.org:
            lines.append(f"ORG:{escape(self.org)}")
        if self.title:
            lines.append(f"TITLE:{escape(self.title)}")
        lines += [f"EMAIL;TYPE=INTERNET,{kind}:{address}" for kind, address in self.emails]
        lines += [f"TEL;TYPE={kind}:{number}" for kind, number in self.tels]
        lines += [f"ADR;TYPE={kind}:;;" + ";".join(escape(part) for part in parts) for kind, parts in self.addresses]
        if self.birthday:
            lines.append(f"BDAY:{self.birthday:%Y-%m-%d}")
        if self.note:
            lines.append(f"NOTE:{escape(self.note)}")
        if self.categories:
            lines.append("CATEGORIES:" + ",".join(escape(c) for c in self.categories))
        lines += ["REV:20250114T081512Z", "END:VCARD"]
        return crlf("\n".join(lines))

    def matches(self, text: str, properties: Sequence[str]) -> bool:
        """RFC 6352 text-match "contains" (ASCII ``text``, case-insensitive) on any of ``properties``."""
        values = {"FN": [self.fn], "EMAIL": [address for _kind, address in self.emails]}
        return any(text.lower() in value.lower() for name in properties for value in values[name])


# -- the generator ----------------------------------------------------------------------------------------

def uid_of(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()


def shuffled(rng: random.Random, shares: Sequence[tuple[str, float]], count: int) -> list[str]:
    """``count`` labels in the given proportions (largest remainders), in random order."""
    total = sum(share for _label, share in shares)
    exact = [(label, count * share / total) for label, share in shares]
    counts = {label: math.floor(x) for label, x in exact}
    rest = count - sum(counts.values())
    for label, _x in sorted(exact, key=lambda e: e[1] - math.floor(e[1]), reverse=True)[:rest]:
        counts[label] += 1
    labels = [label for label, _share in shares for _ in range(counts[label])]
    rng.shuffle(labels)
    return labels


def random_day(rng: random.Random, first: datetime.date = FIRST_DAY, last: datetime.date = LAST_DAY) -> datetime.date:
    return first + datetime.timedelta(days=rng.randrange((last - first).days + 1))


def random_time(rng: random.Random, day: datetime.date, zone: str) -> datetime.datetime:
    """A start between 07:00 and 20:30 local time, on the quarter hour (never near a DST change at 02:00-03:00)."""
    minutes = 7 * 60 + 15 * rng.randrange(55)
    return datetime.datetime.combine(day, datetime.time(minutes // 60, minutes % 60), ZoneInfo(zone))


def random_length(rng: random.Random, start: datetime.datetime) -> datetime.timedelta:
    """30 minutes to 3 hours, ending by midnight."""
    longest = min(180, (24 * 60 - start.hour * 60 - start.minute) - 15)
    return datetime.timedelta(minutes=rng.choice([m for m in (30, 45, 60, 60, 90, 120, 180) if m <= longest]))


def pick_zone(rng: random.Random) -> str:
    return rng.choices([z for z, _w in ZONES], [w for _z, w in ZONES])[0]


def until_value(last: datetime.datetime | datetime.date, zone: str | None) -> str:
    """UNTIL as clients write it: the end of the last occurrence's day in UTC, or a date for all-day series."""
    if isinstance(last, datetime.datetime):
        end_of_day = datetime.datetime.combine(last.date(), datetime.time(23, 59, 59), last.tzinfo)
        return f"{end_of_day.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return f"{last:%Y%m%d}"


def expanded(rule: str, start: datetime.datetime | datetime.date, limit: int = 400) -> list[datetime.datetime]:
    out = []
    for n, occurrence in enumerate(rrulestr(rule, dtstart=local(start))):
        if n >= limit:
            break
        out.append(occurrence)
    return out


def as_value(occurrence: datetime.datetime,
             like: datetime.datetime | datetime.date) -> datetime.datetime | datetime.date:
    return occurrence if isinstance(like, datetime.datetime) else occurrence.date()


def single(rng: random.Random, kind: str, uid: str) -> Event:
    day = random_day(rng)
    if kind == "zoned":
        zone = pick_zone(rng)
        start = random_time(rng, day, zone)
        return Event(uid, kind, rng.choice(SUMMARIES[zone]), start, start + random_length(rng, start), zone,
                     location=rng.choice(LOCATIONS) if rng.random() < 0.5 else None,
                     description=rng.choice(DESCRIPTIONS) if rng.random() < 0.3 else None)
    if kind == "utc":
        start = random_time(rng, day, "UTC").astimezone(UTC)
        return Event(uid, kind, rng.choice(UTC_SUMMARIES), start, start + random_length(rng, start), None,
                     description=rng.choice(DESCRIPTIONS) if rng.random() < 0.3 else None)
    days = 1 if kind == "all-day" else rng.randint(2, 5)
    return Event(uid, kind, rng.choice(ALL_DAY_SUMMARIES), day, day + days * DAY)


def bounded(rng: random.Random, uid: str) -> Event:
    every = rng.choices(("daily", "weekly", "school", "monthly"), (25, 40, 10, 25))[0]
    zone = pick_zone(rng) if rng.random() < 0.5 else BERLIN
    day = random_day(rng, last=datetime.date(2027, 10, 1))
    all_day = every in ("weekly", "monthly") and rng.random() < 0.2
    if all_day:
        start: datetime.datetime | datetime.date = day
        end: datetime.datetime | datetime.date = day + DAY
    else:
        start = random_time(rng, day, zone)
        end = start + random_length(rng, start)
    by_count = rng.random() < 0.5
    if every == "daily":
        rule, count, span = "FREQ=DAILY", rng.randint(3, 14), rng.randint(7, 28)
    elif every in ("weekly", "school"):
        if every == "school":
            while day.weekday() >= 5:  # a school run starts on a weekday
                day += DAY
            start = random_time(rng, day, zone).replace(hour=7, minute=30)
            end = start + datetime.timedelta(minutes=30)
        rule = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR" if every == "school" else "FREQ=WEEKLY"
        count, span = rng.randint(6, 20), rng.randint(42, 200)
    else:
        rule, count, span = f"FREQ=MONTHLY;BYMONTHDAY={day.day}", rng.randint(6, 24), rng.randint(180, 540)
    if by_count:
        rule += f";COUNT={count}"
    else:
        bound = local(start) + datetime.timedelta(days=span)
        occurrences = [o for o in expanded(rule, start) if o <= bound]
        last = as_value(occurrences[-1], start)
        rule += f";UNTIL={until_value(last, None if all_day else zone)}"
    occurrences = expanded(rule, start)
    exdates: tuple = ()
    if len(occurrences) > 3 and rng.random() < 0.5:
        exdates = tuple(sorted(as_value(o, start) for o in rng.sample(occurrences[1:], min(rng.randint(1, 3),
                                                                                          len(occurrences) - 2))))
    moved = None
    if not all_day and rng.random() < 1 / 3:
        left = [o for o in occurrences[1:] if o not in exdates]
        if left:
            original = rng.choice(left)
            shift = rng.choice((datetime.timedelta(hours=2) if original.hour < 18 else DAY, DAY, 7 * DAY))
            moved = Moved(original, original + shift, original + shift + (local(end) - local(start)))
    summary = rng.choice(SERIES[every])
    return Event(uid, "bounded", summary, start, end, None if all_day else zone, rule, exdates, moved,
                 location=rng.choice(LOCATIONS) if rng.random() < 0.4 else None)


def unbounded(rng: random.Random, uid: str) -> Event:
    zone = pick_zone(rng) if rng.random() < 0.4 else BERLIN
    day = random_day(rng, last=datetime.date(2027, 9, 1))
    start = random_time(rng, day, zone)
    rule = "FREQ=WEEKLY;INTERVAL=2" if rng.random() < 0.25 else "FREQ=WEEKLY"
    return Event(uid, "unbounded", rng.choice(SERIES["unbounded"]), start, start + random_length(rng, start), zone,
                 rule, location=rng.choice(LOCATIONS) if rng.random() < 0.3 else None)


def birthday(rng: random.Random, uid: str, name: str) -> Event:
    born = datetime.date(rng.randint(1940, 2020), rng.randint(1, 12), rng.randint(1, 28))
    summary = rng.choice(("🎂 {}", "Geburtstag {}", "{}'s birthday", "{}生日"))
    return Event(uid, "birthday", summary.format(name), born, born + DAY, None, "FREQ=YEARLY")


def alarm_for(rng: random.Random, event: Event) -> str:
    if isinstance(event.start, datetime.datetime):
        return rng.choice(("-PT15M", "-PT15M", "-PT1H", "-PT5M"))
    return "-PT15H"  # 09:00 the day before


@dataclass(frozen=True)
class Person:
    culture: str  # "de", "zh" or "other"
    fn: str
    family: str
    given: str
    family_mail: str  # as the mail addresses spell them
    given_mail: str


def person(rng: random.Random) -> Person:
    culture = rng.choices(("de", "zh", "other"), (40, 20, 40))[0]
    if culture == "zh":
        (family, family_mail), (given, given_mail) = rng.choice(CHINESE_FAMILY), rng.choice(CHINESE_GIVEN)
        return Person(culture, family + given, family, given, family_mail, given_mail)
    if culture == "de":
        given, family = rng.choice(GERMAN_GIVEN), rng.choice(GERMAN_FAMILY)
    else:
        given, family = rng.choice(OTHER_GIVEN), rng.choice(OTHER_FAMILY)
    return Person(culture, f"{given} {family}", family, given, mail_name(family), mail_name(given))


def phone(rng: random.Random, country: str) -> str:
    digits = "".join(str(rng.randrange(10)) for _ in range(7))
    return {"de": f"+49 {rng.choice(('30', '89', '151', '172'))} {digits}",
            "zh": f"+86 {rng.choice(('138', '139', '21'))} {digits[:4]} {digits[4:]}",
            "us": f"+1 {rng.choice(('212', '917', '415'))} 555 {digits[:4]}"}[country]


def card(rng: random.Random) -> Card:
    who = person(rng)
    fn, nickname, note = who.fn, None, None
    emoji = rng.choice(EMOJI) if rng.random() < 0.1 else ""
    if rng.random() < 0.2:
        nickname = who.given.split()[0]
    if emoji:  # in the name, the nickname or the note
        where = rng.choice(("fn", "nickname", "note"))
        if where == "fn":
            fn = f"{fn} {emoji}"
        elif where == "nickname":
            nickname = f"{who.given.split()[0]} {emoji}"
        else:
            note = f"Immer für einen Kaffee zu haben {emoji}"
    if note is None and rng.random() < 0.15:
        note = rng.choice(("Kennt Oma aus dem Chor", "Schlüssel für den Keller", "过敏：花生", "Met at FOSDEM"))
    emails = [("HOME", f"{who.given_mail}.{who.family_mail}@{rng.choice(MAIL_DOMAINS)}")]
    org = title = None
    if rng.random() < 0.5:
        domain = rng.choice(WORK_DOMAINS)
        emails.append(("WORK", f"{who.given_mail[0]}.{who.family_mail}@{domain}"))
        org = domain.split(".")[0].replace("-", " ").title()
        title = rng.choice(("Projektleitung", "Engineer", "经理", "Buchhaltung"))
    if rng.random() < 0.25:
        emails.append(("HOME", f"{who.given_mail}{rng.randint(70, 99)}@{rng.choice(MAIL_DOMAINS)}"))
    home = {"de": "de", "zh": "zh"}.get(who.culture, "us")
    tels = [("CELL", phone(rng, home))]
    tels += [(kind, phone(rng, rng.choice(("de", "us", "zh")))) for kind in ("HOME", "WORK")[:rng.randint(0, 2)]]
    addresses = [("HOME", rng.choice(STREETS))] + ([("WORK", rng.choice(STREETS))] if rng.random() < 0.3 else [])
    born = (datetime.date(rng.randint(1940, 2015), rng.randint(1, 12), rng.randint(1, 28))
            if rng.random() < 0.4 else None)
    categories = tuple(rng.sample(("Familie", "Arbeit", "Schule", "Verein", "朋友"), rng.randint(0, 2)))
    return Card(uid_of(rng), fn, who.family, who.given, tuple(emails), tuple(tels), tuple(addresses), nickname,
                org, title, born, note, categories)


@dataclass(frozen=True)
class RealData:
    """One seed's calendar and address book."""

    seed: int
    events: tuple[Event, ...]
    cards: tuple[Card, ...]

    def calendar_text(self) -> str:
        """The whole calendar as one VCALENDAR (a whole-collection PUT): each zone's VTIMEZONE once."""
        zones = sorted({e.zone for e in self.events if e.zone})
        return crlf(CALENDAR_HEAD + "".join(VTIMEZONES[z] for z in zones)
                    + "".join(e.vevents() for e in self.events) + CALENDAR_TAIL)

    def address_book_text(self) -> str:
        return "".join(c.text() for c in self.cards)

    def email_matches(self) -> int:
        return sum(c.matches(EMAIL_QUERY, ("EMAIL",)) for c in self.cards)

    def fn_or_email_matches(self) -> int:
        return sum(c.matches(FN_OR_EMAIL_QUERY, ("FN", "EMAIL")) for c in self.cards)

    def week_matches(self) -> list[int]:
        """For each day d of QUERY_YEAR (0 = 1 January): how many items have an occurrence in
        [d 00:00 UTC, d + 7 days) (RFC 4791 9.9: starts before the week's end, ends after its start)."""
        year = datetime.datetime(QUERY_YEAR, 1, 1, tzinfo=UTC)
        days = 365
        counts = [0] * days
        after, before = year - 7 * DAY, year + (days + 7) * DAY
        for event in self.events:
            hit: set[int] = set()
            for start, end in event.spans(after, before):
                first = math.floor((start - year) / DAY - 7) + 1  # the first week that ends after ``start``
                last = math.ceil((end - year) / DAY) - 1  # the last week that starts before ``end``
                hit.update(range(max(first, 0), min(last, days - 1) + 1))
            for d in hit:
                counts[d] += 1
        return counts


def generate(size: int, seed: int = 17) -> RealData:
    """``size`` events and ``size`` cards, the same for the same seed and size."""
    rng = random.Random(f"real calendars {seed} {size}")
    kinds = shuffled(rng, KINDS, size)
    alarms = set(rng.sample(range(size), round(size * ALARM_SHARE)))
    cards = tuple(card(rng) for _ in range(size))
    events = []
    for n, kind in enumerate(kinds):
        uid = uid_of(rng)
        if kind == "bounded":
            event = bounded(rng, uid)
        elif kind == "unbounded":
            event = unbounded(rng, uid)
        elif kind == "birthday":
            event = birthday(rng, uid, cards[n].fn)
        else:
            event = single(rng, kind, uid)
        if n in alarms:
            event = replace(event, alarm=alarm_for(rng, event))
        events.append(event)
    return RealData(seed, tuple(events), cards)


def new_events(count: int, seed: int = 17, batch: int = 1) -> list[Event]:
    """Events for a bulk PUT, drawn like the calendar's, with UIDs of their own: a server may refuse a UID
    that another calendar of the user has (RFC 4791 5.3.2.1, CALDAV:no-uid-conflict; Cyrus does)."""
    return list(generate(count, seed=seed + 1000 * batch).events)


def week_of(day: int) -> tuple[str, str]:
    """The time-range of the week starting on day ``day`` of QUERY_YEAR, as a calendar-query sends it."""
    start = datetime.datetime(QUERY_YEAR, 1, 1, tzinfo=UTC) + day * DAY
    return f"{start:%Y%m%dT%H%M%SZ}", f"{start + 7 * DAY:%Y%m%dT%H%M%SZ}"
