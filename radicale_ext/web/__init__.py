"""The self-service web page: every person manages their own calendars, address books and sharing
with their own password, in the browser, at ``/.my/`` of the same server (docs/web.md).

An edge package like ``cli``: it may import the site and every feature, never the plugins, and
knows nothing of Radicale; ``radicale_ext/plugins/handlers/web.py`` mounts it in the server and hands
it what only the server has (the password check of the auth plugin, Radicale's storage to write).
"""
