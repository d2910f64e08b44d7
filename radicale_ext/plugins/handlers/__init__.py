"""The features' request handlers, registered in :mod:`..routes` when
:mod:`radicale_ext.plugins.app` imports them (its ``FEATURES``, in order)."""
