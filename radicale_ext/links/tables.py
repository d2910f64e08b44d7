"""The tables of share links, for :data:`radicale_ext.site.FEATURE_SCHEMAS`."""

from __future__ import annotations

from . import share_links

SCHEMAS: tuple[str, ...] = (share_links.SCHEMA,)
