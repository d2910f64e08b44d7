"""The page's HTML: Jinja2 templates in ``templates/``, autoescaped, so every name a person gave
(a calendar called ``<script>``) is shown as text.  Words go through the person's language
(``_()`` and ``ngettext()`` in the templates, :class:`.i18n.Speaker`)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from .i18n import Speaker

_env = Environment(loader=PackageLoader(__package__, "templates"),
                   autoescape=select_autoescape(enabled_extensions=("html",), default=True),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(name: str, speaker: Speaker, values: dict[str, Any]) -> bytes:
    template = _env.get_template(name)
    return template.render(_=speaker.gettext, ngettext=speaker.ngettext, speaker=speaker, **values).encode("utf-8")
