"""Notices in the reader's language (issue 14): English or Simplified Chinese, as each person chose on the
web page (its language switch, or logging in with a Chinese browser) or with ``radicale-ext notices
language``; stored in the sharing database (SQLite and PostgreSQL).  A real server on loopback, the
page spoken to over HTTP, a real SMTP server (aiosmtpd); and the catalog: every message the notices
use has its Chinese translation, with the same placeholders."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from string import Formatter

import pytest
from babel.messages.pofile import read_po

from radicale_ext.notices import language, wording
from radicale_ext.notices.changes import ChangeNotice, ItemChange
from radicale_ext.notices.channels import Outgoing
from radicale_ext.notices.channels.webhook import WebhookSender
from radicale_ext.notices.delivery import Delivery, State
from radicale_ext.notices.outbound import AllowList, Outbound
from radicale_ext.notices.outbox import ChangeKind
from radicale_ext.notices.preferences import Contact

from ..notice_kit import Mailbox, notice_server, put_event, shared, smtp_server, worker_of
from ..server import Server, free_port
from ..web.page_kit import Browser

NOTICES = Path(language.__file__).resolve().parent
PROJECT = NOTICES.parent.parent
SENDER = "calendar@example.org"
# a moment as Babel writes it for zh_Hans ("2026年12月4日 10:40:05"), in the reader's zone
CHINESE_MOMENT = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}:\d{2}")


@pytest.fixture(scope="module")
def smtp_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str, smtp_port: int) -> Iterator[Server]:
    server = notice_server(tmp_path_factory.mktemp("languages"), smtp_server="127.0.0.1",
                           smtp_port=str(smtp_port), from_email=SENDER).start()
    for user in ("alice", "bob", "carol"):
        server.ok("notices", "email", f"{user}@example.org", acting_as=user)
    yield server
    server.stop()


def stored_language(srv: Server, user: str) -> str:
    [row] = json.loads(srv.ok("--json", "notices", "show", "--user", user))
    return row["language"]


def test_bob_chooses_chinese_on_the_page_and_his_email_is_chinese_carols_english(
        srv: Server, smtp_port: int) -> None:
    bob = Browser(srv).logged_in("bob")
    assert stored_language(srv, "bob") == "en", "English until chosen"
    bob.get("/notices")
    r = bob.post("/language", {"language": "zh_Hans", "back": "/notices"})
    assert r.status_code == 303 and "radicale_ext_language=zh_Hans" in r.headers["Set-Cookie"]
    assert stored_language(srv, "bob") == "zh_Hans", "the page's switch sets the language of notices"
    assert "通知和提醒" in bob.get("/notices").text

    calendar = shared(srv, "sports", "bob", "carol")
    mailbox = Mailbox()
    with smtp_server(mailbox, smtp_port):
        worker = worker_of(srv)
        put_event(srv, "alice", f"{calendar}fp.ics", "fp-uid", "Football practice")
        worker.run_until_idle()
        mailbox.messages.clear()
        put_event(srv, "alice", f"{calendar}fp.ics", "fp-uid", "Football practice", start="20260106T180000")
        worker.run_until_idle()
    by_rcpt = {m["To"]: m for m in mailbox.messages}
    assert set(by_rcpt) == {"bob@example.org", "carol@example.org"}

    carol = by_rcpt["carol@example.org"]
    assert carol["Subject"] == ("Alice moved Football practice to Tue 6 Jan 18:00 (was Mon 5 Jan 18:00) "
                                "in sports (alice)")
    assert carol["Content-Language"] == "en"
    text = carol.get_body(("plain",)).get_content()
    assert text.startswith("Hello carol,") and "You get this because" in text

    chinese = by_rcpt["bob@example.org"]
    moved = "Alice将“Football practice”改到了1月6日周二 18:00（原为1月5日周一 18:00）（sports (alice)）"
    assert chinese["Subject"] == moved
    assert chinese["Content-Language"] == "zh-Hans"
    text = chinese.get_body(("plain",)).get_content()
    assert text.startswith("bob，您好：")
    assert f"{moved}。" in text
    assert CHINESE_MOMENT.search(text), "the moment of the change, written the Chinese way"
    assert "通知和提醒" in text and "You get this" not in text and "Hello" not in text
    html = chinese.get_body(("html",)).get_content()
    assert 'lang="zh-Hans"' in html and "bob，您好：" in html and CHINESE_MOMENT.search(html)
    attachments = [p.get_filename() for p in chinese.iter_attachments()]
    assert attachments == ["fp.ics"], "the event still comes with it"


def test_logging_in_with_a_chinese_browser_sets_chinese_unless_a_language_was_chosen(srv: Server) -> None:
    Browser(srv, language="zh-CN,zh;q=0.9,en;q=0.5").logged_in("dave")
    assert stored_language(srv, "dave") == "zh_Hans", "no choice yet: the page's Chinese is kept for notices"

    srv.ok("notices", "language", "en", acting_as="erin")
    Browser(srv, language="zh-CN").logged_in("erin")
    assert stored_language(srv, "erin") == "en", "a choice made is not overridden by a browser"

    Browser(srv, language="de-DE,en;q=0.8").logged_in("frank")
    assert stored_language(srv, "frank") == "en"
    assert srv.cli("--json", "notices", "show", "--user", "frank").code == 0

    switched_before = Browser(srv)   # switches first, logs in then: the switch is remembered by the cookie
    switched_before.get("/login")
    assert switched_before.post("/language", {"language": "zh_Hans", "back": "/"}).status_code == 303
    switched_before.logged_in("grace")
    assert stored_language(srv, "grace") == "zh_Hans"


def test_the_command_line_sets_and_clears_the_language(srv: Server) -> None:
    assert srv.ok("notices", "language", "zh_Hans", acting_as="carol").strip() == "carol: notices in zh_Hans"
    assert stored_language(srv, "carol") == "zh_Hans"
    assert "language zh_Hans" in srv.ok("notices", "show", acting_as="carol")
    refused = srv.cli("notices", "language", "fr", acting_as="carol")
    assert refused.code != 0 and "en, zh_Hans" in refused.err
    assert srv.cli("notices", "language", "en", "--user", "carol", acting_as="bob").code != 0, "only their own"
    srv.ok("notices", "language", "--clear", "--user", "carol")
    assert stored_language(srv, "carol") == "en"


# -- without a server -------------------------------------------------------------------------------------


def _notice(*changes: ItemChange, collection: str = "/alice/family/") -> ChangeNotice:
    return ChangeNotice(id=7, collection=collection, actor="alice", changes=changes, created_at=changes[0].at)


AT = 1767279600.0   # 2026-01-01 15:00 UTC


def test_every_sentence_in_chinese_says_days_and_times_the_chinese_way() -> None:
    words = wording.Wording(lambda c: c.strip("/").split("/")[-1])
    new = {"SUMMARY": "Race", "DTSTART": "20260105T180000", "DTSTART_TZID": "Europe/Berlin"}
    old = {"SUMMARY": "Run", "DTSTART": "20270104T180000", "DTSTART_TZID": "Europe/Berlin"}
    for kind in ChangeKind:
        change = ItemChange(kind, at=AT, item="r.ics", component="VEVENT", new=new, old=old, items=3,
                            to_collection="/alice/school/",
                            card={"owner": "alice", "name": "Alice", "fields": ["mobile number"]})
        text = words.headline(_notice(change), "bob", "Asia/Shanghai", "zh_Hans")
        assert not re.search(r"\b(added|changed|moved|deleted|renamed|replaced|Reminder|in|on|was)\b", text), text
    reminder = ItemChange(ChangeKind.REMINDER, at=AT, item="r.ics", component="VEVENT", new=new)
    assert words.headline(_notice(reminder), "bob", "Asia/Shanghai", "zh_Hans") == \
        "提醒：1月6日周二 01:00 “Race”（family (alice)）"
    deleted = ItemChange(ChangeKind.ITEM_DELETED, at=AT, item="r.ics", component="VTODO", old=old)
    assert words.sentence(deleted, _notice(deleted), "bob", None, "zh_Hans") == \
        "Alice删除了2027年1月4日周一 18:00的任务“Run”"
    burst = _notice(reminder, deleted)
    assert words.headline(burst, "bob", None, "zh_Hans") == "Alice对family (alice)做了2处更改"
    assert words.headline(burst, "bob", None) == "Alice made 2 changes to family (alice)"
    assert wording.event_time("20260105", None, None, year=2026, language="zh_Hans") == "1月5日周一"
    assert wording.event_time("20260105T170000Z", None, None, year=2026, language="zh_Hans") == "1月5日周一 17:00 UTC"


def test_card_changes_in_chinese_name_the_fields_in_chinese() -> None:
    change = ItemChange(ChangeKind.CARD_CHANGED, at=AT, component="VCARD", card={
        "owner": "alice", "name": "Alice Müller", "fields": ["mobile number", "work phone number", "birthday"],
        "summary": "Alice Müller's mobile number, work phone number and birthday changed"})
    assert wording.card_headline([change], "zh_Hans") == "Alice Müller的手机号码、工作电话号码和生日有变动"
    assert wording.card_headline([change]) == "Alice Müller's mobile number, work phone number and birthday changed"
    gone = ItemChange(ChangeKind.CARD_CHANGED, at=AT, component="VCARD",
                      card={"owner": "alice", "name": "Alice", "gone": True, "fields": []})
    assert wording.card_headline([gone], "zh_Hans") == "Alice的名片不再与您共享"
    assert wording.field_words("x-custom", "zh_Hans") == "x-custom"


def test_a_webhook_in_chinese_carries_chinese_text_and_says_its_language() -> None:
    change = ItemChange(ChangeKind.ITEM_CREATED, at=AT, item="r.ics", component="VEVENT",
                        new={"SUMMARY": "Race", "DTSTART": "20260105T180000", "DTSTART_TZID": "Europe/Berlin"})
    delivery = Delivery(id=1, notice_id=7, recipient="bob", channel="webhook", target="", digest="",
                        state=State.QUEUED, due_at=AT, attempts=0, last_error="", created_at=AT)
    sender = WebhookSender(wording.Wording(lambda c: "family"), outbound=Outbound(AllowList.parse(""), https_only=True),
                           max_bytes=10**6, timeout=1)
    body = json.loads(sender.body(Outgoing((delivery,), (_notice(change),), Contact("bob", language="zh_Hans")), AT))
    assert body["language"] == "zh_Hans"
    assert body["notices"][0]["text"] == "Alice添加了1月5日周一 18:00的“Race”（family (alice)）"


# -- the catalog ------------------------------------------------------------------------------------------


def _ids(catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def _fields(text: str) -> set[str]:
    return {name for _literal, name, _spec, _conversion in Formatter().parse(text) if name is not None}


def test_every_message_of_the_notices_is_in_the_catalogs(tmp_path: Path) -> None:
    """The template (.pot) is what the code says today, and Chinese translates all of it, with the same
    placeholders (a translation that names another would make a notice fail to be written)."""
    fresh = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(NOTICES / "babel.cfg"),
                    "-k", "N_", "--no-location", "--sort-output", "-o", str(fresh), str(NOTICES),
                    str(PROJECT / "radicale_ext" / "cards" / "projection.py")], check=True, capture_output=True)
    with open(fresh, "rb") as f:
        wanted = _ids(read_po(f))
    assert "{actor} moved {what} to {start} (was {old})" in wanted and "mobile number" in wanted
    with open(NOTICES / "locale" / "messages.pot", "rb") as f:
        kept = _ids(read_po(f))
    assert wanted == kept, "run pybabel extract (docs/notifications.md, 'Languages') and translate the new messages"
    with open(NOTICES / "locale" / "zh_Hans" / "LC_MESSAGES" / "messages.po", "rb") as f:
        chinese = read_po(f)
    missing, mismatched = [], []
    for message_id in sorted(wanted):
        message = chinese.get(message_id)
        strings = message.string if message is not None and isinstance(message.string, tuple) else \
            [message.string] if message is not None else []
        if message is None or message.fuzzy or not all(strings):
            missing.append(message_id)
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        if any(_fields(s) != _fields(ids[-1]) for s in strings):
            mismatched.append(message_id)
    assert missing == [] and mismatched == []


def test_the_words_are_kept_once_per_language_spoken_whatever_a_preference_holds() -> None:
    """A stored preference is whatever was saved (an old value, a typo): each unknown one is English, and
    none of them adds to what the process keeps."""
    from radicale_ext.notices import language

    for n in range(500):
        assert language.speech(f"xx-{n}-Müller") is language.speech("en")
    assert language.speech("de") is language.speech("en")   # not spoken: English
    assert language.speech("zh_Hans") is not language.speech("en")
    assert language._speech.cache_info().currsize <= len(language.LANGUAGES)
