"""The pieces of change notices that need no server: RFC 8291's own example, VAPID keys, the words,
coalescing windows, digests, choices and options."""

from __future__ import annotations

import datetime
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from radicale_ext.base.database import Database
from radicale_ext.base.errors import ExtError
from radicale_ext.base.summary import summarize
from radicale_ext.notices.changes import ChangeNotice, ItemChange
from radicale_ext.notices.compose import plan
from radicale_ext.notices.fanout import next_digest
from radicale_ext.notices.outbox import Change, ChangeKind, Record
from radicale_ext.notices.preferences import ALL, SCHEMA, Channel, Preferences, Timing
from radicale_ext.notices.push import webpush
from radicale_ext.notices.settings import NoticeSettings
from radicale_ext.notices.wording import Wording, event_time

from ..notice_kit import check_vapid, unb64url

# RFC 8291 Appendix A
RFC_PLAINTEXT = b"When I grow up, I want to be a watermelon"
RFC_AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
RFC_UA_PUBLIC = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
RFC_AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
RFC_SALT = "DGv6ra1nlYgDCS1FRnbzlw"
RFC_MESSAGE = ("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6Tlz"
               "AC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")


def test_encryption_matches_rfc_8291_appendix_a() -> None:
    sender = ec.derive_private_key(int.from_bytes(unb64url(RFC_AS_PRIVATE), "big"), ec.SECP256R1())
    body = webpush.encrypt(RFC_PLAINTEXT, RFC_UA_PUBLIC, RFC_AUTH, salt=unb64url(RFC_SALT), sender_key=sender)
    assert webpush.b64url(body) == RFC_MESSAGE


def test_encryption_refuses_bad_keys_and_oversized_messages() -> None:
    with pytest.raises(webpush.PushKeyError, match="not a P-256 key"):
        webpush.encrypt(b"x", "AAAA", RFC_AUTH)
    with pytest.raises(webpush.PushKeyError, match="not 16 octets"):
        webpush.encrypt(b"x", RFC_UA_PUBLIC, "AAAA")
    assert len(webpush.encrypt(b"x" * 3993, RFC_UA_PUBLIC, RFC_AUTH)) == 4096
    with pytest.raises(webpush.PayloadTooLarge, match="at most 4096"):
        webpush.encrypt(b"x" * 3994, RFC_UA_PUBLIC, RFC_AUTH)


def test_a_vapid_key_signs_es256_and_reads_back_from_its_pem() -> None:
    key = webpush.VapidKey.generate("mailto:admin@example.org")
    assert webpush.VapidKey.from_pem(key.pem(), "mailto:admin@example.org").public_key == key.public_key
    now = time.time()
    claims = check_vapid(key.authorization("https://push.example.net/abc/def", now), "https://push.example.net",
                         key.public_key, now)
    assert claims["sub"] == "mailto:admin@example.org"
    assert key.authorization("https://push.example.net/other", now) == \
        key.authorization("https://push.example.net/abc/def", now), "one JWT per push service, reused"
    with pytest.raises(ExtError, match="is not a PEM private key"):
        webpush.VapidKey.from_pem(b"not a key", "mailto:a@b")


@pytest.mark.parametrize(("value", "tzid", "zone", "said"), [
    ("20260106", None, "Asia/Tokyo", "Tue 6 Jan"),
    ("20260106T180000", "Europe/Berlin", None, "Tue 6 Jan 18:00"),
    ("20260106T180000", "Europe/Berlin", "America/New_York", "Tue 6 Jan 12:00"),
    ("20260106T230000Z", None, None, "Tue 6 Jan 23:00 UTC"),
    ("20260106T230000Z", None, "Europe/Berlin", "Wed 7 Jan 00:00"),
    ("20260106T180000", None, "Asia/Tokyo", "Tue 6 Jan 18:00"),          # floating: as written
    ("20260106T180000", "Custom/Zone", "Asia/Tokyo", "Tue 6 Jan 18:00"),  # a zone we do not know: as written
    ("20270106T180000", None, None, "Wed 6 Jan 2027 18:00"),             # another year says so
])
def test_times_are_said_in_the_readers_zone_or_the_events_own(value, tzid, zone, said) -> None:
    assert event_time(value, tzid, zone, year=2026) == said


def _change(kind: ChangeKind, component: str, old: dict | None = None, new: dict | None = None) -> ItemChange:
    return ItemChange(kind=kind, at=datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC).timestamp(), item="x",
                      component=component, old=old or {}, new=new or {})


def test_sentences_for_tasks_cards_and_the_collection() -> None:
    words = Wording(lambda path: path.strip("/").split("/")[1])
    notice = ChangeNotice(id=1, collection="/alice/home/", actor="bob", created_at=0, changes=(
        _change(ChangeKind.ITEM_CREATED, "VTODO", new={"SUMMARY": "Buy milk\\, eggs"}),
        _change(ChangeKind.ITEM_UPDATED, "VCARD", old={"FN": "Carol"}, new={"FN": "Carol Smith"}),
        _change(ChangeKind.ITEM_DELETED, "VCARD", old={"FN": "Dave"}),
        _change(ChangeKind.ITEM_UPDATED, "VEVENT", old={"SUMMARY": "Swim", "LOCATION": "Pool"},
                new={"SUMMARY": "Swim", "LOCATION": "Lake"}),
        _change(ChangeKind.PROPERTIES_CHANGED, ""),
    ))
    assert words.lines(notice, "carol", None) == [
        "Bob added the task Buy milk, eggs",
        "Bob renamed the contact Carol to Carol Smith",
        "Bob deleted the contact Dave",
        "Bob changed Swim",
        "Bob changed the name or colour of home (alice)",
    ]
    assert words.headline(notice, "alice", None) == "Bob made 5 changes to home"
    assert words.headline(ChangeNotice(2, "/alice/home/", "alice@example.org", (
        _change(ChangeKind.COLLECTION_DELETED, ""),), 0), "bob", None) == "alice@example.org deleted home (alice)"


def _record(n: int, actor: str, collection: str, at: float, kind: ChangeKind = ChangeKind.ITEM_CREATED) -> Record:
    return Record(id=n, state="ready", change=Change(kind=kind, actor=actor, collection=collection, item=f"{n}.ics"),
                  component="VEVENT", uid=str(n), created_at=at)


def test_bursts_are_one_notice_per_actor_collection_and_window() -> None:
    records = [_record(1, "bob", "/alice/c/", 100), _record(2, "bob", "/alice/c/", 130),
               _record(3, "carol", "/alice/c/", 131), _record(4, "bob", "/alice/d/", 132),
               _record(5, "bob", "/alice/c/", 161),        # after bob's first window in c closed
               _record(6, "bob", "/bob/new/", 162, ChangeKind.COLLECTION_CREATED),
               _record(7, "bob", "/bob/", 163, ChangeKind.PROPERTIES_CHANGED)]
    due, quiet = plan(records, now=170, window=60)
    assert [[r.id for r in g] for g in due] == [[1, 2]], "the others' windows are still open"
    assert [r.id for r in quiet] == [6, 7], "nobody else can hear of a new collection or of a home"
    due, _quiet = plan(records, now=300, window=60)
    assert [[r.id for r in g] for g in due] == [[1, 2], [3], [4], [5]]
    due, _quiet = plan(records, now=300, window=0)
    assert [[r.id for r in g] for g in due] == [[1], [2], [3], [4], [5]]


def test_digests_are_due_at_the_hour_or_the_day_in_the_readers_zone() -> None:
    now = datetime.datetime(2026, 1, 5, 10, 20, tzinfo=datetime.UTC).timestamp()
    assert next_digest(Timing.HOURLY, now, None, (7, 0)) == \
        datetime.datetime(2026, 1, 5, 11, 0, tzinfo=datetime.UTC).timestamp()
    assert next_digest(Timing.DAILY, now, None, (7, 0)) == \
        datetime.datetime(2026, 1, 6, 7, 0, tzinfo=datetime.UTC).timestamp()
    tokyo = datetime.datetime(2026, 1, 6, 7, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=9))).timestamp()
    assert next_digest(Timing.DAILY, now, "Asia/Tokyo", (7, 0)) == tokyo


def test_a_collections_choice_beats_the_one_for_all_which_beats_the_default(tmp_path) -> None:
    db = Database.open(str(tmp_path / "db.sqlite"), schemas=[SCHEMA])
    prefs = Preferences(db)
    prefs.choose("bob", Channel.EMAIL, Timing.DAILY)
    prefs.choose("bob", Channel.EMAIL, Timing.OFF, "/alice/c/")
    prefs.mute("carol", "/alice/c/")
    prefs.mute("dave")
    choices = prefs.choices_for(["bob", "carol", "dave", "erin"], "/alice/c/")
    assert choices["bob"][Channel.EMAIL] is Timing.OFF and choices["bob"][Channel.PUSH] is Timing.IMMEDIATELY
    assert prefs.choices_for(["bob"], "/alice/other/")["bob"][Channel.EMAIL] is Timing.DAILY
    assert choices["carol"].muted and choices["dave"].muted and not choices["erin"].muted
    assert not prefs.choices_for(["carol"], "/alice/other/")["carol"].muted
    assert choices["erin"][Channel.EMAIL] is Timing.IMMEDIATELY
    with pytest.raises(ExtError, match="has no digest"):
        prefs.choose("bob", Channel.PUSH, Timing.DAILY)
    assert prefs.unmute("dave", ALL) and not prefs.choices_for(["dave"], "/x/y/")["dave"].muted


@pytest.mark.parametrize(("option", "value", "message"), [
    ("notices_worker", "process", "expected one of thread, none"),
    ("notices_window", "-1", "may not be negative"),
    ("notices_max_attempts", "0", "must be at least 1"),
    ("notices_daily_at", "7 am", "expected a time of day as HH:MM"),
    ("notices_https_only", "maybe", "expected true or false"),
    ("notices_push_max_days", "1", "at least 3 days"),
    ("notices_vapid_subject", "admin", "expected a mailto: or https: URL"),
    ("smtp_security", "ssl", "expected none, starttls or tls"),
])
def test_bad_option_values_are_refused_with_the_option_and_what_is_expected(option, value, message) -> None:
    with pytest.raises(ExtError, match=message) as refused:
        NoticeSettings.from_options({option: value}, database_path="/tmp/x.sqlite")
    assert option in str(refused.value)


def test_back_off_doubles_up_to_the_maximum() -> None:
    settings = NoticeSettings.from_options({"notices_retry_after": "30", "notices_retry_max": "100"},
                                           database_path="/tmp/x.sqlite")
    assert [settings.retry_delay(n) for n in (1, 2, 3, 4)] == [30, 60, 100, 100]


def test_the_summary_keeps_the_start_zone_and_skips_time_zone_definitions() -> None:
    text = ("BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\n"
            "DTSTART:19701025T030000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:u\r\n"
            "DTSTART;TZID=\"Europe/Berlin\":20260105T180000\r\nSUMMARY:Football\r\nBEGIN:VALARM\r\n"
            "SUMMARY:Alarm text\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    assert summarize(text) == {"UID": "u", "DTSTART": "20260105T180000", "DTSTART_TZID": "Europe/Berlin",
                               "SUMMARY": "Football"}
