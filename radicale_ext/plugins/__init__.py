"""The edge Radicale loads by module path (``[storage] type = radicale_ext.plugins.storage``).

One module per Radicale plugin kind (``auth``, ``rights``, ``storage``,
``hook``, ``sharing``), the extended Application (``app``) with its table of
request handlers (``routes``) and the features' handlers (``handlers/``), and
the processes (``server``, ``worker``).  Each translates Radicale's calls,
types and exceptions into calls on the core; only here (and in ``site`` and
``cli``) are several features seen together.
"""
