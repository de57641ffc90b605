"""Channel orders: the one statement of which orders exist and where R, G and B sit.

Ops that weigh channels (PIL's luma in Contrast and Color) or paint a colour (fills,
Cutout) are defined on RGB; OpenMMLab loads BGR. Every applier (per-image transform,
batched search ops, the search hook) checks and converts through these functions.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

__all__ = ['CHANNEL_ORDERS', 'check_channel_order', 'rgb_positions', 'rgb_to_order']

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
