"""Renamed and moved arguments: the old spelling keeps working, and says so."""
from __future__ import annotations

import logging
import warnings
from typing import TypeVar

from mmengine.logging import print_log

__all__ = ['renamed_argument', 'moved_argument']

T = TypeVar('T')


def moved_argument(owner: str, old: str, use: str, value: T, stacklevel: int = 3) -> T:
    """``value``, given as ``owner``'s argument ``old``, after a DeprecationWarning (for
    code and tests) and a warning in the run's log (configs are built by MMEngine, where
    Python hides DeprecationWarnings) that say to write ``use`` instead."""
    message = f'{owner}({old}=...) is deprecated; use {use} (same meaning)'
    warnings.warn(message, DeprecationWarning, stacklevel=stacklevel)
    print_log(message, logger='current', level=logging.WARNING)
    return value


def renamed_argument(owner: str, old: str, new: str, value: T) -> T:
    """``value``, given under the ``old`` name of ``owner``'s argument ``new``, after the
    warnings of :func:`moved_argument`."""
    return moved_argument(owner, old, f'{new}=...', value, stacklevel=4)
