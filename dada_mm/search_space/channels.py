"""Channel orders: the one statement of which orders exist and where R, G and B sit.

Ops that weigh channels (PIL's luma in Contrast and Color) or paint a colour (fills,
Cutout) are defined on RGB; OpenMMLab loads BGR. Every applier (per-image transform,
batched search ops, the search hook) checks and converts through these functions.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, TypeVar

__all__ = ['CHANNEL_ORDERS', 'check_channel_order', 'rgb_positions', 'rgb_to_order',
           'fill_in_order']

_Fill = TypeVar('_Fill')

CHANNEL_ORDERS: Tuple[str, ...] = ('bgr', 'rgb')


def check_channel_order(channel_order: object, owner: Optional[str] = None) -> str:
    """``channel_order`` if it is one of ``CHANNEL_ORDERS``; else a ValueError naming
    the field (and ``owner``, the class or function that received it)."""
    if channel_order not in CHANNEL_ORDERS:
        where = f'{owner}: ' if owner else ''
        raise ValueError(f'{where}channel_order must be one of {list(CHANNEL_ORDERS)}, '
                         f'got {channel_order!r}')
    return channel_order  # type: ignore[return-value]


def rgb_positions(channel_order: str) -> Tuple[int, int, int]:
    """Positions of R, G and B in an image of ``channel_order``."""
    return (2, 1, 0) if check_channel_order(channel_order) == 'bgr' else (0, 1, 2)


def rgb_to_order(rgb: Sequence, channel_order: str) -> tuple:
    """An (R, G, B) triple (a colour, or per-channel weights) in ``channel_order``."""
    r, g, b = rgb
    return (b, g, r) if check_channel_order(channel_order) == 'bgr' else (r, g, b)


def fill_in_order(fill: _Fill, channels: int, channel_order: str) -> _Fill:
    """A fill as an image of ``channels`` channels in ``channel_order`` needs it.

    A scalar (or anything but a tuple) is returned as it is. An ``(R, G, B)`` tuple gives
    its R value on a one-channel image whatever the order (PIL rejects an RGB colour on an
    ``L`` image; the paper's Cutout grey then is 125), else ``rgb_to_order``. The order
    is checked in both cases.
    """
    if not isinstance(fill, tuple):
        return fill
    check_channel_order(channel_order)
    if channels == 1:
        return fill[0]
    return rgb_to_order(fill, channel_order)  # type: ignore[return-value]
