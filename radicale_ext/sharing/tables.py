"""The tables of sharing beyond the foundation's, for :data:`radicale_ext.site.FEATURE_SCHEMAS`.

(Circles and shares themselves are in the foundation's schema,
:data:`radicale_ext.base.database.SCHEMA`.)
"""

from __future__ import annotations

from . import inbox_history, notifications, personal_data, shares

SCHEMAS: tuple[str, ...] = (shares.SCHEMA, notifications.SCHEMA, inbox_history.SCHEMA, personal_data.SCHEMA)
