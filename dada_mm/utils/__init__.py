"""Utilities: safe checkpoint loading (``safe_checkpoint``), atomic file writes
(``files``), agreement between ranks (``dist``), renamed arguments (``deprecation``) and
pipeline editing (``pipeline``)."""
