"""radicale-ext: the core of a Radicale 3.9 server for families and teams.

The core never imports Radicale nor ``radicale_ext.plugins``; the plugins
translate Radicale's calls into calls on the objects defined here.
"""

__version__ = "0.1.0"
