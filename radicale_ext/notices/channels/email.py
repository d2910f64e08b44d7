"""E-mail over SMTP: one message per notice (or per digest), plain text and HTML.

Uses Radicale's own ``[hook]`` SMTP options (server, port, ``smtp_security``
none / starttls / tls, certificate checking, user name and password,
``from_email``).  One connection serves a whole batch.  Each message's
``Message-ID`` is made from the delivery's idempotency key, so a message
sent again after a crash (the worker died after the server accepted it but
before it was recorded: SMTP has no way to ask "did you get this?") carries
the same ``Message-ID`` as the first, which mail systems and clients may
use to drop the repeat.  A single notice about calendar items comes with
the items as ``text/calendar`` attachments (as they are now), so the reader
can add them to a calendar that is not synced; each attachment keeps the
item's own name, whatever its script (RFC 2231 encodes it).  Subject, greeting,
sentences, times and footer are in the reader's language (:mod:`..language`),
which ``Content-Language`` names (RFC 3282).

Temporary failures (no connection, a 4xx reply, a timeout) are retried;
an address that is not one, a message over the server's size, a message
that cannot be written, and 5xx replies are permanent.
"""

from __future__ import annotations

import contextlib
import email.errors
import email.policy
import email.utils
import html
import smtplib
import ssl
from collections.abc import Callable
from email import headerregistry
from email.message import EmailMessage

from ...base.errors import ExtError
from ..changes import ChangeNotice
from ..language import HTML_LANG, Speech, speech
from ..outbox import ChangeKind
from ..preferences import check_email
from ..settings import SmtpSettings
from ..wording import Wording
from ..zones import zone as zone_named
from . import DeliveryFailed, Outgoing


class _HeaderClasses(headerregistry.HeaderRegistry):
    """The standard library's header registry, making each header's class once: the standard one
    makes a new class for every header it parses, a quarter of the time a message takes."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


POLICY = email.policy.SMTP.clone(header_factory=_HeaderClasses())   # CRLF, RFC 2047 and 2231, as SMTP
MAX_ATTACHMENTS = 3
ATTACHED = frozenset({ChangeKind.ITEM_CREATED, ChangeKind.ITEM_UPDATED, ChangeKind.ITEM_CHANGED,
                      ChangeKind.ITEM_MOVED})

#: reads an item as Radicale stored it (``/owner/collection/``, ``href``), or ``None``: a
#: :class:`~radicale_ext.base.collection_store.CollectionStore`'s ``item_text``
ItemReader = Callable[[str, str], str | None]


#: the web page where a person chooses what they hear (radicale_ext/web, docs/web.md), below the server's address
NOTICES_PAGE = "/.my/notices"


class EmailSender:
    def __init__(self, smtp: SmtpSettings, wording: Wording, read_item: ItemReader, *, timeout: float,
                 public_url: str = "") -> None:
        self._smtp = smtp
        self._wording = wording
        self._read_item = read_item
        self._timeout = timeout
        self._public_url = public_url
        self._connection: smtplib.SMTP | None = None

    # -- the message ----------------------------------------------------------------------

    def message(self, outgoing: Outgoing, address: str, now: float) -> bytes:
        """The message as sent: RFC 5322 with MIME (RFC 2045-2049), written by the standard library's
        ``email`` package under ``email.policy.SMTP``: CRLF line ends, headers folded and encoded
        (RFC 2047), attachment names encoded (RFC 2231), every body part 7-bit."""
        reader, zone, language = outgoing.recipient, outgoing.contact.timezone, outgoing.contact.language
        words = speech(language)
        if outgoing.digest:
            count = len(outgoing.notices)
            subject = words.ngettext("{count} change in calendars and address books shared with you",
                                     "{count} changes in calendars and address books shared with you",
                                     count).format(count=count)
        else:
            subject = self._wording.headline(outgoing.notices[0], reader, zone, language)
        message = EmailMessage(policy=POLICY)
        message["From"] = self._smtp.sender
        message["To"] = address
        message["Subject"] = " ".join(subject.split())
        message["Date"] = email.utils.formatdate(now, localtime=False)
        message["Message-ID"] = f"<{outgoing.key}@{self._smtp.sender.rpartition('@')[2] or 'localhost'}>"
        message["Auto-Submitted"] = "auto-generated"                 # RFC 3834: no auto-replies to this
        reader_zone = zone_named(zone)
        sections = [(self._wording.headline(n, reader, zone, language),
                     self._wording.lines(n, reader, zone, language) if len(n.changes) > 1 else [],
                     words.moment(n.changes[-1].at, reader_zone)) for n in outgoing.notices]
        message.set_content(self._text(reader, sections, words), cte="quoted-printable")
        message.add_alternative(self._html(reader, sections, words), subtype="html", cte="quoted-printable")
        for name, text in ([] if outgoing.digest else self._attachments(outgoing.notices[0])):
            message.add_attachment(text, subtype="calendar", filename=name, cte="base64")
        message["Content-Language"] = HTML_LANG[words.language]       # RFC 3282 (after the parts: they reset it)
        return message.as_bytes()

    def _text(self, reader: str, sections: list[tuple[str, list[str], str]], words: Speech) -> str:
        parts = [words._("Hello {reader},").format(reader=reader), ""]
        for headline, lines, when in sections:
            parts.append(words._("{headline}.").format(headline=headline))
            parts += [f"  - {line}" for line in lines]
            parts += [f"  ({when})", ""]
        parts.append(self._footer(words))
        return "\n".join(parts) + "\n"

    def _html(self, reader: str, sections: list[tuple[str, list[str], str]], words: Speech) -> str:
        body = [f"<p>{html.escape(words._('Hello {reader},').format(reader=reader))}</p>"]
        for headline, lines, when in sections:
            body.append(f"<p><strong>{html.escape(words._('{headline}.').format(headline=headline))}</strong>")
            if lines:
                body.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>")
            body.append(f"<br><small>{html.escape(when)}</small></p>")
        body.append(f"<p><small>{html.escape(self._footer(words))}</small></p>")
        return (f'<!DOCTYPE html>\n<html lang="{HTML_LANG[words.language]}"><body>\n' + "\n".join(body)
                + "\n</body></html>\n")

    def _footer(self, words: Speech) -> str:
        page = f"{self._public_url}{NOTICES_PAGE}"
        if self._public_url:
            return words._("You get this because a calendar, an address book or a card on your server ({server}) "
                           "is shared with you. To choose how you hear about changes, log in to the server's web "
                           "page and open \"Notices and reminders\": {page}").format(server=self._public_url,
                                                                                      page=page)
        return words._("You get this because a calendar, an address book or a card on your server is shared with "
                       "you. To choose how you hear about changes, log in to the server's web page and open "
                       "\"Notices and reminders\": {page}").format(page=page)

    def _attachments(self, notice: ChangeNotice) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for change in notice.item_changes:
            if change.kind not in ATTACHED or change.component not in ("VEVENT", "VTODO", "VJOURNAL"):
                continue
            collection = change.to_collection or notice.collection
            href = change.to_item or change.item
            text = self._read_item(collection, href or "")
            if text and len(found) < MAX_ATTACHMENTS:
                found.append((attachment_name(href or ""), text))
        return found

    # -- sending -------------------------------------------------------------------------

    def send(self, outgoing: Outgoing, now: float) -> None:
        address = outgoing.contact.email_address or ""
        try:
            check_email(address)
        except ExtError as e:
            raise DeliveryFailed(f"e-mail to {outgoing.recipient!r}: {e}", permanent=True) from None
        if not self._smtp.sender:
            raise DeliveryFailed("e-mail: [hook] from_email is not set; set the sender address", permanent=False)
        try:
            message = self.message(outgoing, address, now)
        except (ValueError, TypeError, email.errors.MessageError) as e:   # trying again writes the same
            raise DeliveryFailed(f"e-mail to {address}: the message cannot be written: "
                                 f"{type(e).__name__}: {e}", permanent=True) from None
        for attempt in (1, 2):
            try:
                self._connect().sendmail(self._smtp.sender, [address], message)
                return
            except smtplib.SMTPServerDisconnected as e:
                self._drop()
                if attempt == 2:
                    raise DeliveryFailed(f"e-mail to {address}: the SMTP server closed the connection ({e})") from None
            except smtplib.SMTPRecipientsRefused as e:
                code, reply = next(iter(e.recipients.values()))
                raise DeliveryFailed(f"e-mail to {address}: refused by the SMTP server: {code} {_text(reply)}",
                                     permanent=code >= 500) from None
            except smtplib.SMTPResponseException as e:
                self._drop()
                raise DeliveryFailed(f"e-mail to {address}: the SMTP server answered {e.smtp_code} "
                                     f"{_text(e.smtp_error)}", permanent=e.smtp_code >= 500 and e.smtp_code != 530
                                     ) from None
            except (OSError, smtplib.SMTPException) as e:
                self._drop()
                raise DeliveryFailed(f"e-mail to {address}: cannot reach the SMTP server "
                                     f"{self._smtp.server}:{self._smtp.port} ({e or type(e).__name__})") from None

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        smtp = self._smtp
        if not smtp.configured:
            raise smtplib.SMTPException("no SMTP server is configured ([hook] smtp_server)")
        context = _tls_context(smtp.verify) if smtp.security != "none" else None
        if smtp.security == "tls":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(smtp.server, smtp.port, timeout=self._timeout,
                                                        context=context)
        else:
            connection = smtplib.SMTP(smtp.server, smtp.port, timeout=self._timeout)
        try:
            connection.ehlo_or_helo_if_needed()
            if smtp.security == "starttls":
                connection.starttls(context=context)
                connection.ehlo()
            if smtp.username:
                connection.login(smtp.username, smtp.password)
        except BaseException:
            with _quietly():
                connection.close()
            raise
        self._connection = connection
        return connection

    def _drop(self) -> None:
        if self._connection is not None:
            with _quietly():
                self._connection.close()
            self._connection = None

    def close(self) -> None:
        if self._connection is not None:
            with _quietly():
                self._connection.quit()
            self._drop()


def _tls_context(verify: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if verify == "NONE":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif verify == "OPTIONAL":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def _text(reply: bytes | str) -> str:
    return (reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)).strip()


def _quietly() -> contextlib.suppress:
    return contextlib.suppress(OSError, smtplib.SMTPException)


# -- names --------------------------------------------------------------------------------------


def attachment_name(href: str) -> str:
    """The item's own name for its attachment ("Fußball 🎉.ics"), without what no file name may hold
    (slashes, control characters); ``event.ics`` when nothing is left."""
    name = "".join(ch for ch in href if ch.isprintable() and ch not in '/\\"').strip()[:200]
    stem = name[:-4] if name.lower().endswith(".ics") else name
    return f"{stem.strip() or 'event'}.ics"
