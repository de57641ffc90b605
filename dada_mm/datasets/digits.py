"""A real image set without a download: scikit-learn's handwritten digits, on disk.

scikit-learn ships the UCI optical-digits set (1,797 grey 8x8 scans of handwriting by
43 people) inside its wheel. ``make_digits_set`` writes it in mmpretrain's folder layout,
upscaled to 32x32 RGB (grey replicated), with fixed, stratified splits:

* ``meta/train.txt``: ``train_per_class`` images of each class (the retraining set);
  ``meta/search_train.txt`` / ``meta/search_val.txt``: that set halved per class (the
  paper's search-train and search-val halves);
* ``meta/test.txt``: every remaining image.

Every image is written once per entry of ``shifts`` under ``<shift>/`` (``clean/`` holds
the originals), with the same relative names, so a config chooses the clean or a
corrupted copy of any split by its ``data_prefix``. The shifts are planted corruptions
for the policy benchmark, each reproduced by one of the 15 DADA ops:

* ``invert``: 255 - x (the Invert op);
* ``contrast``: PIL contrast factor 0.3 (the Contrast op at level 1/9 = 0.111);
* ``dark``: PIL brightness factor 0.3 (the Brightness op at level 1/9 = 0.111);
* ``solarize``: PIL solarize at threshold 128 (the Solarize op at level 0.5);
* ``rotate``: rotated by 20 degrees, either way (the Rotate op at level 5/6);
* ``shear``: sheared along x by 0.2, either way (the ShearX op at level 5/6);
* ``translate``: moved up or down by 20 % of the side (the TranslateY op at level 13/18);
* ``bright``: PIL brightness factor 1.9 (the Brightness op at level 1);
* ``blur``: PIL sharpness factor 0.1, a smoothing (the Sharpness op at level 0);
* ``translate_x``: moved left or right by 20 % of the side (the TranslateX op at 13/18);
* ``shear_y``: sheared along y by 0.2, either way (the ShearY op at level 5/6).

The last four check that what the policy benchmark measures on the first seven holds for
shifts it was not tuned on. Every shift but the first four is made by its op
(``dada_mm.ops.image_ops``), a signed one with a sign of +1 or -1 per image, as the op
draws its sign in a policy, so the op reproduces the shifted distribution exactly.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Callable, Dict, Sequence

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from .synthetic import write_annotation_files

__all__ = ['SHIFTS', 'SHIFT_OPS', 'make_digits_set']


def _invert(img: Image.Image) -> Image.Image:
    return ImageOps.invert(img)


def _low_contrast(img: Image.Image) -> Image.Image:
    return ImageEnhance.Contrast(img).enhance(0.3)


def _dark(img: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(img).enhance(0.3)


def _by_op(name: str, level: float) -> Callable[[Image.Image], Image.Image]:
    """The shift made by DADA op ``name`` at ``level`` (None: an op without a level), black
    fill, with the sign a signed op itself would draw: +1 or -1 per image (from the image's
    pixel sum, so the same image always gets the same sign), so that the op with its
    random sign reproduces the shifted distribution (an unsigned op ignores it)."""
    def shift(img: Image.Image) -> Image.Image:
        from ..ops.image_ops import apply_op
        arr = np.asarray(img)
        sign = 1.0 if int(arr.sum(dtype=np.int64)) % 2 == 0 else -1.0
        return Image.fromarray(apply_op(arr, name, 0.5 if level is None else level,
                                        sign=sign, channel_order='rgb'))
    return shift


#: the DADA op that reproduces each shift, and the level it does it at (None: no level)
SHIFT_OPS = {'invert': ('Invert', None), 'contrast': ('Contrast', 1.0 / 9.0),
             'dark': ('Brightness', 1.0 / 9.0), 'solarize': ('Solarize', 0.5),
             'rotate': ('Rotate', 5.0 / 6.0), 'shear': ('ShearX', 5.0 / 6.0),
             'translate': ('TranslateY', 13.0 / 18.0),
             'bright': ('Brightness', 1.0), 'blur': ('Sharpness', 0.0),
             'translate_x': ('TranslateX', 13.0 / 18.0), 'shear_y': ('ShearY', 5.0 / 6.0)}
#: shifts made by their op (the others by PIL directly, as first written)
_OP_MADE = ('rotate', 'shear', 'translate', 'bright', 'blur', 'translate_x', 'shear_y')
SHIFTS: Dict[str, Callable[[Image.Image], Image.Image]] = {
    'clean': lambda img: img,
    'invert': _invert,
    'contrast': _low_contrast,
    'dark': _dark,
    'solarize': lambda img: ImageOps.solarize(img, 128),
    **{name: _by_op(*SHIFT_OPS[name]) for name in _OP_MADE},
}


def _digit_images(size: int):
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - scikit-learn is in requirements.txt
        raise ImportError('make_digits_set needs scikit-learn (pip install scikit-learn); '
                          'it ships the digits data in its wheel') from e
    digits = load_digits()
    out = []
    for scan in digits.images:  # 8x8 floats in [0, 16], ink = high
        grey = Image.fromarray(np.uint8(np.round(scan * (255.0 / 16.0))), mode='L')
        out.append(grey.resize((size, size), Image.BICUBIC).convert('RGB'))
    return out, digits.target.astype(int)


def make_digits_set(root: str, train_per_class: int = 100, size: int = 32,
                    shifts: Sequence[str] = ('clean', ), seed: int = 0) -> Dict[str, str]:
    """Write the digits set under ``root`` (see the module docstring); returns the
    annotation files by split name. Deterministic for a given ``seed``."""
    unknown = [s for s in shifts if s not in SHIFTS]
    if unknown:
        raise ValueError(f'shifts: unknown {unknown}; choose from {sorted(SHIFTS)}')
    images, labels = _digit_images(size)
    rng = np.random.default_rng(seed)
    lines = {'train': [], 'search_train': [], 'search_val': [], 'test': []}
    for label in range(10):
        idx = np.flatnonzero(labels == label)
        rng.shuffle(idx)
        if len(idx) <= train_per_class:
            raise ValueError(f'train_per_class={train_per_class} leaves no test image '
                             f'of class {label} ({len(idx)} images)')
        for n, i in enumerate(idx):
            row = f'{label}/{i:04d}.png {label}'
            if n < train_per_class:
                lines['train'].append(row)
                lines['search_train' if n % 2 == 0 else 'search_val'].append(row)
            else:
                lines['test'].append(row)
    for shift in shifts:
        for label in range(10):
            os.makedirs(osp.join(root, shift, str(label)), exist_ok=True)
        for i, (img, label) in enumerate(zip(images, labels)):
            SHIFTS[shift](img).save(osp.join(root, shift, str(label), f'{i:04d}.png'))
    return write_annotation_files(root, lines, [str(c) for c in range(10)])
