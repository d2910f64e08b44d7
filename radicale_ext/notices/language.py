"""The languages of notices: English (the source) and Simplified Chinese, from gettext catalogs.

Every sentence a person reads in a notice (a change, a reminder, a card that
changed, an e-mail's subject, greeting and footer, a webhook's ``text`` and
``lines``) is a message of the catalog in ``locale/`` (``.po`` files kept in
the repository, extracted and updated with Babel's ``pybabel`` as the web
page's are: docs/notifications.md, "Languages"), compiled in memory with
Babel when first needed.  Dates, times and lists are written by Babel (CLDR)
for the language, in the reader's time zone.

A person's language is the one stored for them (:class:`.preferences.Preferences`,
chosen on the web page or with ``radicale-ext notices language``), English
when none is.  The catalogs are the notices' own: this package knows nothing
of the web page's.
"""

from __future__ import annotations

import datetime
import functools
import gettext
from typing import TYPE_CHECKING

from ..base.catalogs import translations

if TYPE_CHECKING:
    from babel import Locale

DEFAULT = "en"
LANGUAGES: tuple[str, ...] = ("en", "zh_Hans")
DOMAIN = "messages"
HTML_LANG = {"en": "en", "zh_Hans": "zh-Hans"}   # BCP 47, for Content-Language and <html lang>

# the CLDR locale whose dates each language writes: English as the notices always wrote them ("Tue 6 Jan")
_LOCALES = {"en": "en_GB", "zh_Hans": "zh_Hans"}
# a day without and with its year: a Babel pattern (English, the form notices have always had) or a CLDR
# skeleton (the locale's own order: "1月6日周二", "2027年1月6日周三")
_DAY = {"en": ("pattern", "EEE d MMM", "EEE d MMM y"), "zh_Hans": ("skeleton", "MMMEd", "yMMMEd")}


def N_(message: str) -> str:
    """Marks a message for the notices' catalog where it is defined; it is translated where it is told."""
    return message


def known(language: str | None) -> str:
    """``language`` when notices speak it, else English."""
    return language if language in LANGUAGES else DEFAULT


def _translations(language: str) -> gettext.NullTranslations:
    return translations(__package__ or "radicale_ext.notices", language, DEFAULT, DOMAIN)


@functools.lru_cache(maxsize=8)
def _locale(language: str) -> Locale:
    from babel import Locale  # Babel where notices are worded: the worker's process, not every one

    return Locale.parse(_LOCALES[language])


class Speech:
    """Words, lists, days and times of notices in one language (:func:`speech` gives one per language)."""

    def __init__(self, language: str) -> None:
        self.language = known(language)
        self._catalog = _translations(self.language)
        self.locale = _locale(self.language)

    def _(self, message: str) -> str:
        return self._catalog.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._catalog.ngettext(singular, plural, n)

    def listed(self, words: list[str]) -> str:
        """"a", "a and b", "a, b and c"; "a、b和c"."""
        from babel.lists import format_list

        return format_list(list(words), locale=self.locale) if words else ""

    def day(self, d: datetime.date, with_year: bool) -> str:
        """"Tue 6 Jan", "Tue 6 Jan 2027"; "1月6日周二", "2027年1月6日周三"."""
        return _day(self.language, d, with_year)

    def clock(self, moment: datetime.datetime) -> str:
        """"18:00" (24 hours, both languages)."""
        return f"{moment:%H:%M}"

    def moment(self, seconds: float, zone: datetime.tzinfo | None) -> str:
        """A moment as its reader reads it, in their zone: "6 Jan 2026, 18:00:00", "2026年1月6日 18:00:00";
        without a zone, in UTC and saying so."""
        from babel.dates import format_datetime

        at = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
        text = format_datetime(at, "medium", tzinfo=zone or datetime.UTC, locale=self.locale)
        return text if zone is not None else f"{text} UTC"


@functools.lru_cache(maxsize=4096)
def _day(language: str, d: datetime.date, with_year: bool) -> str:
    from babel.dates import format_date, format_skeleton

    kind, short, long = _DAY[language]
    form = long if with_year else short
    if kind == "pattern":
        return format_date(d, form, locale=_locale(language))
    return format_skeleton(form, d, locale=_locale(language))


def speech(language: str | None) -> Speech:
    """The notices' words in ``language`` (English for a language they do not speak)."""
    return _speech(known(language))


@functools.cache
def _speech(language: str) -> Speech:
    """One per language the notices speak (whatever a preference holds, the cache stays that small)."""
    return Speech(language)
