"""Argument and input checks shared by the policy transforms (DADAAugment,
ZophDetectionAugment): one statement of the allowed values, so both give the same error for
the same mistake, and one rule for how a fill colour meets an image."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..ops.cv_kernels import CV_INTERPOLATION_FLAGS
from ..policy import PolicyError
from ..search_space.channels import CHANNEL_ORDERS, check_channel_order, fill_in_order

__all__ = ['INTERPOLATIONS', 'CHANNEL_ORDERS', 'PACKED_KEYS', 'as_fill', 'check_options',
           'image_of', 'check_image', 'fill_in_image_order', 'draw_cdf', 'draw_sub_policy']

#: the warps' interpolations ('nearest' first: the paper's)
INTERPOLATIONS = tuple(CV_INTERPOLATION_FLAGS)

#: the keys OpenMMLab's packing transforms (mmpretrain's ``PackInputs``, mmdet's
#: ``PackDetInputs``, ...) leave in place of ``img`` and the annotations
PACKED_KEYS = ('inputs', 'data_samples')


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
    check_channel_order(channel_order)
    return sub_policies


def draw_cdf(doc: Dict[str, Any], top_k: Optional[int], weighted: Any
             ) -> Optional[np.ndarray]:
    """The cumulative draw weights of a policy document's first ``top_k`` sub-policies
    (its ``weights`` normalised to end at 1), or None: drawn with equal chance (no
    ``weights``, or ``weighted=False``)."""
    if not isinstance(weighted, bool):
        raise ValueError(f'weighted must be True (draw by the policy\'s weights, when it has '
                         f'them) or False (every sub-policy with equal chance), got '
                         f'{weighted!r}')
    weights = doc.get('weights')
    if not weighted or weights is None:
        return None
    w = np.asarray(weights[:top_k] if top_k is not None else weights, dtype=np.float64)
    if not (w > 0).any():
        raise PolicyError(f'the first top_k={top_k} sub-policies all have weight 0: raise '
                          'top_k or pass weighted=False')
    cdf = np.cumsum(w)
    return cdf / cdf[-1]


def draw_sub_policy(num_sub_policies: int, cdf: Optional[np.ndarray]) -> int:
    """One sub-policy index from ``numpy.random``: uniform without ``cdf``, else by the
    weights (one ``rand()``; a sub-policy of weight 0 is never drawn)."""
    if cdf is None:
        return int(np.random.randint(num_sub_policies))
    return int(np.searchsorted(cdf, np.random.rand(), side='right'))


def image_of(results: Any, owner: str) -> Any:
    """``results['img']``, or an error that says what is wrong with the pipeline.

    Results that hold ``inputs`` / ``data_samples`` instead were packed: the transform
    ``owner`` sits after ``PackInputs`` / ``PackDetInputs`` and must move before it."""
    if 'img' in results:
        return results['img']
    packed = [key for key in PACKED_KEYS if key in results]
    if packed:
        raise ValueError(
            f"{owner}: results has no 'img' but has {', '.join(map(repr, packed))}, the "
            f'keys a packing transform (PackInputs, PackDetInputs) writes: {owner} is '
            f'placed after the packing transform. Move it before the packing transform, '
            f'which must stay the last transform of the pipeline, e.g. '
            f"[dict(type='LoadImageFromFile'), ..., dict(type='{owner}', ...), "
            f"dict(type='PackInputs')]")
    raise ValueError(f"{owner}: results has no 'img' (keys: {sorted(map(str, results))}); "
                     f'load the image first (LoadImageFromFile) and put {owner} after it '
                     f'and before the packing transform')


def check_image(img: Any, owner: str, channels: Sequence[int]) -> np.ndarray:
    """``results['img']`` as the transform ``owner`` needs it: a non-empty uint8 HxW or
    HxWxC array with C in ``channels``."""
    if not isinstance(img, np.ndarray):
        raise TypeError(f"{owner}: results['img'] must be a numpy array, got "
                        f'{type(img).__name__}')
    if img.dtype != np.uint8:
        raise TypeError(f"{owner}: results['img'] must be uint8 (0..255), got "
                        f'{img.dtype}; convert float images before this transform')
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in channels):
        shapes = ['HxW'] + [f'HxWx{c}' for c in channels]
        raise ValueError(f"{owner}: results['img'] must be {', '.join(shapes[:-1])} or "
                         f'{shapes[-1]}, got shape {img.shape}')
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"{owner}: results['img'] is empty: shape {img.shape}")
    return img


def fill_in_image_order(fill: Union[int, Tuple[int, ...]], img: np.ndarray,
                        channel_order: str) -> Union[int, Tuple[int, ...]]:
    """An (R, G, B) or int fill as ``img`` needs it: the R value for gray images whatever
    the channel order, reordered for BGR ones (``channels.fill_in_order``, the rule
    image_ops.apply_op and the batched ops follow too)."""
    return fill_in_order(fill, 1 if img.ndim == 2 else img.shape[2], channel_order)
