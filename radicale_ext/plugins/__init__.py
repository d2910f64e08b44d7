"""The edge Radicale loads by module path (``[storage] type = radicale_ext.plugins.storage``).

Each module is a thin adapter: it translates Radicale's calls, types and
exceptions into calls on the core (:mod:`radicale_ext`).
"""
