"""The page's languages: English (the source) and Simplified Chinese, from gettext catalogs.

The catalogs are ``.po`` files in ``locale/`` (kept in the repository, edited
with Babel's ``pybabel``: docs/web.md); they are compiled in memory with Babel
when first needed, so there is no build step and no binary ``.mo`` file.

A person's language is the one they chose on the page (a cookie), else the
first of their browser's ``Accept-Language`` (RFC 9110 section 12.5.4) that
the page speaks; any Chinese asks for the Simplified catalog, the only one there
is.  Dates and times are written for the language (Babel, from the CLDR) and in
the person's time zone (the one they gave for notices,
:mod:`radicale_ext.notices.preferences`), else the server's.
"""

from __future__ import annotations

import datetime
import functools
import gettext
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_decimal

from ..base.catalogs import translations

DEFAULT = "en"
# code -> the language's own name, as the switch shows it
LANGUAGES: dict[str, str] = {"en": "English", "zh_Hans": "简体中文"}
HTML_LANG = {"en": "en", "zh_Hans": "zh-Hans"}
DOMAIN = "messages"


def N_(message: str) -> str:
    """Marks a message for the catalog where it is defined; it is translated where it is shown."""
    return message


def _translations(language: str) -> gettext.NullTranslations:
    return translations(__package__ or "radicale_ext.web", language, DEFAULT, DOMAIN)


def chosen(cookie: str, accept_language: str) -> str:
    """The language to speak: the one chosen on the page, else the browser's first that we speak."""
    if cookie in LANGUAGES:
        return cookie
    ranked = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))
    for _q, _p, tag in sorted(ranked):
        primary = tag.split("-")[0]
        if primary == "zh":
            return "zh_Hans"
        if primary == "en":
            return "en"
    return DEFAULT


@functools.lru_cache(maxsize=16)
def _locale_of(language: str) -> Locale:
    return Locale.parse(language)


@functools.lru_cache(maxsize=4096)
def _number(language: str, n: int) -> str:
    """``n`` as the language writes it (a page shows the same few counts many times)."""
    return format_decimal(n, locale=_locale_of(language))


@dataclass(frozen=True)
class Speaker:
    """Words, numbers and times in one language and time zone."""

    language: str
    zone: str | None = None      # IANA name; None: the server's

    @property
    def html_lang(self) -> str:
        return HTML_LANG[self.language]

    @property
    def _locale(self) -> Locale:
        return _locale_of(self.language)

    def gettext(self, message: str) -> str:
        return _translations(self.language).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return _translations(self.language).ngettext(singular, plural, n)

    def number(self, n: int) -> str:
        return _number(self.language, n)

    def _tz(self) -> datetime.tzinfo:
        if self.zone:
            try:
                return ZoneInfo(self.zone)
            except (ZoneInfoNotFoundError, ValueError):
                pass
        return datetime.datetime.now().astimezone().tzinfo or datetime.UTC

    @property
    def zone_name(self) -> str:
        return self.zone or str(self._tz())

    def when(self, seconds: float) -> str:
        """A moment (seconds since the epoch) as a person reads it ("3 Jan 2026, 18:00:00", "2026年1月3日 18:00:00")."""
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
        return format_datetime(moment, "medium", tzinfo=self._tz(), locale=self._locale)
