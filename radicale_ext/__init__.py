"""radicale-ext: the core of a Radicale 3.9 server for families and teams.

One package per thing users do, on a small base (docs/architecture.md):

- ``base``: records, names, errors, the database, users, Radicale's folders
- ``index``: the item index beside Radicale's files
- ``sharing``: circles, shares, invitations, scopes, CalendarServer sharing
- ``links``: share links, feeds, QR codes
- ``notices``: outbox, change notices, their delivery, channels, push
- ``reminders``: due VALARMs of shared calendars, per person
- ``cards``: me cards, their projection, shared contacts, the directory
- ``site``: the composition root, builds one server's objects
- ``plugins``: the edge Radicale loads; ``cli``: the command line

Each feature package says in ``MAY_IMPORT`` which packages it stands on;
tests/test_layout.py holds every module to it.  The core never imports
Radicale nor ``radicale_ext.plugins``.
"""

__version__ = "0.1.0"
