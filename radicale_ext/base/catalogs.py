"""gettext catalogs kept as ``.po`` files in a package (``locale/<language>/LC_MESSAGES/<domain>.po``),
compiled in memory with Babel when first asked for: no build step, no binary ``.mo`` file.  The web
page's catalog (:mod:`radicale_ext.web.i18n`) and the notices' (:mod:`radicale_ext.notices.language`)
are each their own; this is how either is read."""

from __future__ import annotations

import functools
import gettext
import io
from importlib import resources


@functools.cache
def translations(package: str, language: str, source_language: str = "en",
                 domain: str = "messages") -> gettext.NullTranslations:
    """``language``'s translations from ``package``'s catalog (none for the source language)."""
    if language == source_language:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo  # Babel where a catalog is read, not with every import
    from babel.messages.pofile import read_po

    po = resources.files(package).joinpath("locale", language, "LC_MESSAGES", f"{domain}.po")
    with po.open("rb") as f:
        catalog = read_po(f, locale=language, domain=domain)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)   # fuzzy entries are left out: they are not translations yet
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)
