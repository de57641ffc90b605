"""Renamed arguments: the old name keeps working, and says so."""
from __future__ import annotations

import logging
import warnings
from typing import TypeVar

from mmengine.logging import print_log

__all__ = ['renamed_argument']

T = TypeVar('T')


def renamed_argument(owner: str, old: str, new: str, value: T) -> T:
    """``value``, given under the ``old`` name of ``owner``'s argument ``new``, after a
    DeprecationWarning (for code and tests) and a warning in the run's log (configs are
    built by MMEngine, where Python hides DeprecationWarnings)."""
    message = f'{owner}({old}=...) is deprecated; use {new}=... (same meaning)'
    warnings.warn(message, DeprecationWarning, stacklevel=3)
    print_log(message, logger='current', level=logging.WARNING)
    return value
