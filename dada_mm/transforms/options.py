"""Argument checks shared by the policy transforms (DADAAugment, ZophDetectionAugment):
one statement of the allowed values, so both give the same error for the same mistake."""
from __future__ import annotations

from typing import Any, List, Optional, Tuple, Union

import numpy as np

from ..policy import PolicyError

__all__ = ['INTERPOLATIONS', 'CHANNEL_ORDERS', 'as_fill', 'check_options']

INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic')
CHANNEL_ORDERS = ('bgr', 'rgb')


def as_fill(value: Any, field: str) -> Union[int, Tuple[int, ...]]:
    """An int in [0, 255] or an (R, G, B) tuple of such ints; the error names ``field``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if not 0 <= int(value) <= 255:
            raise ValueError(f'{field} must be in [0, 255], got {value!r}')
        return int(value)
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(
            isinstance(v, (int, np.integer)) and 0 <= int(v) <= 255 for v in value):
        return tuple(int(v) for v in value)
    raise ValueError(f'{field} must be an int or an (R, G, B) tuple of ints in '
                     f'[0, 255], got {value!r}')


def check_options(sub_policies: List, top_k: Optional[int], magnitude_scale: Any,
                  interpolation: Any, channel_order: Any) -> List:
    """Validate the transform options; returns the first ``top_k`` sub-policies."""
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise PolicyError(f'top_k must be a positive int, got {top_k!r}')
        sub_policies = sub_policies[:top_k]
    if isinstance(magnitude_scale, bool) or not isinstance(
            magnitude_scale, (int, float)) or not np.isfinite(magnitude_scale) \
            or magnitude_scale < 0:
        raise ValueError(f'magnitude_scale must be a finite number >= 0, '
                         f'got {magnitude_scale!r}')
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f'interpolation must be one of {list(INTERPOLATIONS)}, '
                         f'got {interpolation!r}')
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f'channel_order must be one of {list(CHANNEL_ORDERS)}, '
                         f'got {channel_order!r}')
    return sub_policies
