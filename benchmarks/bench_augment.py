"""Per-image CPU cost of DADAAugment against mmpretrain, torchvision.transforms.v2 and PIL.

All four apply the published DADA ImageNet policy (25 sub-policies x 2 ops) with the same
semantics: one sub-policy drawn uniformly per image, each op applied with its probability
at its fixed magnitude, random sign for the geometric ops, nearest-neighbour warps with
black fill, Cutout in the Fast AutoAugment style.

* ours:        ``DADAAugment(policy='dada-imagenet')`` on uint8 HxWx3 BGR numpy arrays.
* mmpretrain:  ``mmpretrain.datasets.transforms.AutoAugment`` with the policy converted by
               the rules of docs/method.md (pad_val=0, interpolation 'nearest', Posterize
               bits int(4 + 4 l), enhance magnitude 1.8 l - 0.9 with random_negative_prob=0,
               Cutout shape int(0.2 l W), prob=p), same arrays.
* torchvision: NOT torchvision's AutoAugment class (it only takes its fixed policies): a
               small equivalent written here that applies the same sub-policies with
               ``torchvision.transforms.v2.functional`` ops on uint8 CHW tensors (affine /
               rotate NEAREST fill 0, autocontrast, invert, equalize, solarize, posterize,
               adjust_contrast / saturation / brightness / sharpness, Cutout by slicing).
* PIL:         the paper's ops written directly with PIL (dada_mm.testing.pil_ops:
               ImageOps, ImageEnhance, Image.transform(AFFINE) / rotate NEAREST, ImageDraw
               Cutout) on PIL RGB images (created once, outside the timing, as in a PIL
               data pipeline).

Images are generated (gradients + noise + flat blocks, per-channel ranges that differ, so
AutoContrast / Equalize do real work). Timing: per image, median over repeats of a pass
over the image set, after warm-up; the implementations are interleaved round-robin within
each repeat so they see the same machine load, and each pass reseeds ``numpy.random`` /
``random`` with the same seed. OpenCV and torch are limited to one thread
(``cv2.setNumThreads(1)``, ``torch.set_num_threads(1)``), as in data-loader workers; PIL
is single-threaded anyway.

The per-op table runs each op alone at a representative level, ours (numpy BGR) against
PIL (PIL RGB image), at the per-op size (1333x800 by default).

The detection row times the learned detection policy ``zoph-det-v0`` of Zoph et al. at
1333x800 with boxes (``DADAAugment(policy='zoph-det-v0')``) against mmdet's own
transforms composed the same way inside mmdet's ``AutoAugment`` (one sub-policy per
image, each op with its probability; TranslateX, Equalize, CutOut under RandomApply,
Sharpness, ShearX, ShearY, Rotate, Color, with level ranges set to the published ones,
nearest warps, fill 128). mmdet has no box-only op: its sub-policies run our
TranslateY_Only_BBoxes for it (said in the output), so both do the same work.

Usage: python benchmarks/bench_augment.py [--quick] [--sizes 224x224,800x1333]
       python benchmarks/bench_augment.py --only-zoph [--zoph-size 800x1333]
The last printed line is ``key=value`` pairs; vs_X = time_X / time_ours (higher = ours
faster) and slowest_op_vs_pil = min over ops of pil_time / our_time.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sys
import time
import warnings
from typing import Callable, Dict, List, Sequence, Tuple

import cv2
import numpy as np
import PIL
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dada_mm.policy import resolve_policy  # noqa: E402
from dada_mm.search_space import CUTOUT_FILL_RGB, level_to_value  # noqa: E402
from dada_mm.testing.pil_ops import pil_op  # noqa: E402
from dada_mm.transforms import (
    DADAAugment,  # noqa: E402
    image_ops,  # noqa: E402
)


# --------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------
def make_images(h: int, w: int, n: int, seed: int) -> List[np.ndarray]:
    """Textured BGR uint8 images: gradients, a sinusoid, noise, flat blocks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for k in range(n):
        base = np.stack([255 * xx / max(w - 1, 1), 255 * yy / max(h - 1, 1),
                         127.5 + 127.5 * np.sin((xx + yy) / (5.0 + k))], axis=-1)
        img = base + rng.normal(0, 20, (h, w, 3)).astype(np.float32)
        for _ in range(4):
            y0, x0 = rng.integers(0, h), rng.integers(0, w)
            img[y0:y0 + h // 4, x0:x0 + w // 4] = rng.integers(0, 256, 3)
        # per-channel ranges differ, like photographs (AutoContrast is not the identity)
        img = img * rng.uniform(0.55, 0.85, 3) + rng.uniform(5, 40, 3)
        out.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
    return out


def policy_ops() -> List[List[Tuple[str, float, float]]]:
    doc = resolve_policy('dada-imagenet')
    return [[(op['op'], float(op['prob']), float(op['magnitude'])) for op in sub]
            for sub in doc['sub_policies']]


# --------------------------------------------------------------------------------------
# mmpretrain AutoAugment with the converted policy (the rules of docs/method.md)
# --------------------------------------------------------------------------------------
def mmpretrain_policy(subs, width: int) -> List[List[dict]]:
    def conv(name, p, lv):
        if name in ('ShearX', 'ShearY'):
            return dict(type='Shear', magnitude=abs(0.6 * lv - 0.3), prob=p,
                        direction='horizontal' if name == 'ShearX' else 'vertical',
                        random_negative_prob=0.5, pad_val=0, interpolation='nearest')
        if name in ('TranslateX', 'TranslateY'):
            return dict(type='Translate', magnitude=abs(0.9 * lv - 0.45), prob=p,
                        direction='horizontal' if name == 'TranslateX' else 'vertical',
                        random_negative_prob=0.5, pad_val=0, interpolation='nearest')
        if name == 'Rotate':
            return dict(type='Rotate', angle=abs(60 * lv - 30), prob=p,
                        random_negative_prob=0.5, pad_val=0, interpolation='nearest')
        if name in ('AutoContrast', 'Invert', 'Equalize'):
            return dict(type=name, prob=p)
        if name == 'Solarize':
            return dict(type='Solarize', thr=256 * lv, prob=p)
        if name == 'Posterize':
            return dict(type='Posterize', bits=int(4 + 4 * lv), prob=p)
        if name in ('Contrast', 'Color', 'Brightness', 'Sharpness'):
            kind = 'ColorTransform' if name == 'Color' else name
            return dict(type=kind, magnitude=1.8 * lv - 0.9, prob=p,
                        random_negative_prob=0.0)
        if name == 'Cutout':
            return dict(type='Cutout', shape=int(0.2 * lv * width),
                        pad_val=CUTOUT_FILL_RGB, prob=p)
        raise KeyError(name)
    return [[conv(*op) for op in sub] for sub in subs]


def build_mmpretrain(subs, width: int):
    from mmengine.registry import DefaultScope
    from mmpretrain.datasets.transforms import AutoAugment
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # whatever scope is current
        aa = AutoAugment(policies=mmpretrain_policy(subs, width), hparams=dict(pad_val=0))

    def run(img):
        return aa({'img': img, 'img_shape': img.shape[:2]})['img']
    return run


# --------------------------------------------------------------------------------------
# torchvision.transforms.v2 equivalent (custom policy applier, same semantics)
# --------------------------------------------------------------------------------------
def build_torchvision(subs):
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as F
    nearest = InterpolationMode.NEAREST

    def apply(img: torch.Tensor, name: str, lv: float) -> torch.Tensor:
        h, w = img.shape[-2:]
        if name in ('ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate'):
            v = level_to_value(name, lv, 1.0 if random.random() < 0.5 else -1.0)
            if name == 'ShearX':
                return F.affine(img, angle=0.0, translate=[0, 0], scale=1.0,
                                shear=[math.degrees(math.atan(v)), 0.0],
                                interpolation=nearest, fill=0, center=[0, 0])
            if name == 'ShearY':
                return F.affine(img, angle=0.0, translate=[0, 0], scale=1.0,
                                shear=[0.0, math.degrees(math.atan(v))],
                                interpolation=nearest, fill=0, center=[0, 0])
            if name == 'TranslateX':
                return F.affine(img, angle=0.0, translate=[int(-v * w), 0], scale=1.0,
                                shear=[0.0, 0.0], interpolation=nearest, fill=0)
            if name == 'TranslateY':
                return F.affine(img, angle=0.0, translate=[0, int(-v * h)], scale=1.0,
                                shear=[0.0, 0.0], interpolation=nearest, fill=0)
            return F.rotate(img, v, interpolation=nearest, fill=0)
        v = level_to_value(name, lv)
        if name == 'AutoContrast':
            return F.autocontrast(img)
        if name == 'Invert':
            return F.invert(img)
        if name == 'Equalize':
            return F.equalize(img)
        if name == 'Solarize':
            return img.clone() if v > 255 else F.solarize(img, v)
        if name == 'Posterize':
            return F.posterize(img, int(v))
        if name == 'Contrast':
            return F.adjust_contrast(img, v)
        if name == 'Color':
            return F.adjust_saturation(img, v)
        if name == 'Brightness':
            return F.adjust_brightness(img, v)
        if name == 'Sharpness':
            return F.adjust_sharpness(img, v)
        side = v * w  # Cutout
        out = img.clone()
        if side > 0:
            cx, cy = random.random() * w, random.random() * h
            x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
            x1, y1 = int(min(w, x0 + side)) + 1, int(min(h, y0 + side)) + 1
            fill = torch.tensor(CUTOUT_FILL_RGB, dtype=img.dtype)
            out[:, y0:y1, x0:x1] = fill[:, None, None]
        return out

    def run(img: torch.Tensor) -> torch.Tensor:
        sub = subs[random.randrange(len(subs))]
        for name, p, lv in sub:
            if random.random() < p:
                img = apply(img, name, lv)
        return img
    return run


# --------------------------------------------------------------------------------------
# PIL (the paper's operations)
# --------------------------------------------------------------------------------------
def build_pil(subs):
    def run(img: Image.Image) -> Image.Image:
        sub = subs[random.randrange(len(subs))]
        for name, p, lv in sub:
            if random.random() < p:
                sign = 1.0 if random.random() < 0.5 else -1.0
                img = pil_op(img, name, level_to_value(name, lv, sign),
                             (random.random(), random.random()))
        return img
    return run


# --------------------------------------------------------------------------------------
# the detection policy zoph-det-v0 against mmdet's own transforms
# --------------------------------------------------------------------------------------
ZOPH_PEER_LACKS = ('TranslateY_Only_BBoxes',)


def make_boxes(h: int, w: int, n: int, seed: int) -> np.ndarray:
    """``n`` boxes of COCO-like sizes (5-40% of the image side), some overlapping."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(0.05, 0.4, (n, 2)) * (w, h)
    x1 = rng.uniform(0, w - size[:, 0])
    y1 = rng.uniform(0, h - size[:, 1])
    return np.stack([x1, y1, x1 + size[:, 0], y1 + size[:, 1]], 1).astype(np.float32)


def zoph_results(img: np.ndarray, boxes: np.ndarray) -> dict:
    """A fresh mmdet results dict (boxes are moved in place by both implementations)."""
    from mmdet.structures.bbox import HorizontalBoxes
    return {'img': img, 'img_shape': img.shape[:2],
            'gt_bboxes': HorizontalBoxes(torch.from_numpy(boxes.copy())),
            'gt_bboxes_labels': np.zeros(len(boxes), np.int64),
            'gt_ignore_flags': np.zeros(len(boxes), bool)}


def build_mmdet_zoph_v0(width: int, height: int):
    """mmdet's AutoAugment with zoph-det-v0 in mmdet's own transforms (level -> magnitude
    ranges set to the published ones) and our op where mmdet has none."""
    from mmdet.datasets.transforms import AutoAugment
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    geo = dict(interpolation='nearest', img_border_value=128)
    shear_deg = math.degrees(math.atan(0.3))  # mmdet shears take an angle
    # +0.5 px: mmdet truncates int(size * mag), and 0.4 * 250 / W * W may land below 100
    tx = dict(type='TranslateX', prob=0.6, level=4, max_mag=min(1.0, 250.5 / width), **geo)

    def ours(op, prob, level):  # mmdet's AutoAugment builds every op from a config
        return dict(type='DADAAugment',
                    policy=[[dict(op=op, prob=prob, magnitude=level / 10)]])
    policies = [
        [tx, dict(type='Equalize', prob=0.8, level=10)],
        [ours('TranslateY_Only_BBoxes', 0.2, 2),
         dict(type='RandomApply', prob=0.8, transforms=[dict(
             type='CutOut', n_holes=1, cutout_shape=(160, 160), fill_in=(128, 128, 128))])],
        [dict(type='Sharpness', prob=0.0, level=8),
         dict(type='ShearX', prob=0.4, level=0, max_mag=shear_deg, **geo)],
        [dict(type='ShearY', prob=1.0, level=2, max_mag=shear_deg, **geo),
         ours('TranslateY_Only_BBoxes', 0.6, 6)],
        [dict(type='Rotate', prob=0.6, level=10, max_mag=30.0, **geo),
         dict(type='Color', prob=1.0, level=6)],
    ]
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):  # its Compose builds by name
        return AutoAugment(policies=policies)


def bench_zoph(args, summary: Dict[str, float]) -> None:
    h, w = parse_size(args.zoph_size)
    imgs = make_images(h, w, args.images, args.seed)
    boxes = [make_boxes(h, w, args.zoph_boxes, args.seed + k) for k in range(len(imgs))]
    pairs = list(zip(imgs, boxes))
    ours_t = DADAAugment(policy='zoph-det-v0')
    peer = build_mmdet_zoph_v0(w, h)
    cases = {
        'ours': (lambda p: ours_t.transform(zoph_results(*p)), pairs),
        'mmdet': (lambda p: peer(zoph_results(*p)), pairs),
        'results only': (lambda p: zoph_results(*p), pairs),
    }
    res = race(cases, args.repeats, args.warmup, args.seed)
    print(f'zoph-det-v0 (Zoph et al. detection policy v0) at {h}x{w}, '
          f'{args.zoph_boxes} boxes per image (HorizontalBoxes)')
    print('mmdet = its AutoAugment over its own TranslateX, Equalize, CutOut '
          '(RandomApply), Sharpness, ShearX, ShearY, Rotate, Color (nearest, fill 128); '
          f'mmdet lacks {", ".join(ZOPH_PEER_LACKS)}: ours runs inside its sub-policies')
    header = f'{"impl":>13} {"ms/img":>9} {"vs ours":>8}'
    print(header)
    print('-' * len(header))
    for k, t in res.items():
        print(f'{k:>13} {t * 1e3:9.3f} {t / res["ours"]:8.2f}')
    print()
    tag = 'coco' if (h, w) == (800, 1333) else f'{h}x{w}'
    summary[f'vs_mmdet_zoph_v0_{tag}'] = res['mmdet'] / res['ours']


# --------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------
def race(cases: Dict[str, Tuple[Callable, Sequence]], repeats: int, warmup: int,
         seed: int) -> Dict[str, float]:
    """Median seconds per input of each case; cases interleaved within each repeat."""
    def one_pass(fn, inputs):
        np.random.seed(seed)
        random.seed(seed)
        t0 = time.perf_counter()
        for x in inputs:
            fn(x)
        return (time.perf_counter() - t0) / len(inputs)

    for fn, inputs in cases.values():
        for _ in range(warmup):
            one_pass(fn, inputs)
    times = {k: [] for k in cases}
    for _ in range(repeats):
        for k, (fn, inputs) in cases.items():
            times[k].append(one_pass(fn, inputs))
    return {k: float(np.median(v)) for k, v in times.items()}


def parse_size(text: str) -> Tuple[int, int]:
    h, w = text.lower().split('x')
    return int(h), int(w)


REPRESENTATIVE_LEVELS = {  # strong but typical levels of the ImageNet policy
    'ShearX': 0.8, 'ShearY': 0.8, 'TranslateX': 0.8, 'TranslateY': 0.8, 'Rotate': 0.8,
    'AutoContrast': 0.5, 'Invert': 0.5, 'Equalize': 0.5, 'Solarize': 0.5, 'Posterize': 0.3,
    'Contrast': 0.8, 'Color': 0.8, 'Brightness': 0.8, 'Sharpness': 0.8, 'Cutout': 0.5,
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sizes', default='224x224,800x1333',
                    help='comma-separated HxW pipeline sizes (default 224x224,800x1333)')
    ap.add_argument('--op-size', default='800x1333', help='HxW of the per-op table')
    ap.add_argument('--images', type=int, default=16, help='images per pass')
    ap.add_argument('--repeats', type=int, default=15, help='timed passes (median)')
    ap.add_argument('--warmup', type=int, default=2, help='untimed passes first')
    ap.add_argument('--op-repeats', type=int, default=25, help='timed calls per op')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--quick', action='store_true',
                    help='few images / repeats (a smoke run, noisy numbers)')
    ap.add_argument('--zoph-size', default='800x1333',
                    help='HxW of the zoph-det-v0 detection row')
    ap.add_argument('--zoph-boxes', type=int, default=7,
                    help='boxes per image in the detection row (COCO: 7.3 on average)')
    ap.add_argument('--no-zoph', action='store_true', help='skip the detection row')
    ap.add_argument('--only-zoph', action='store_true',
                    help='only the detection row (no DADA tables)')
    args = ap.parse_args(argv)
    if args.quick:
        args.images, args.repeats, args.warmup, args.op_repeats = 4, 3, 1, 5
        if args.zoph_size == ap.get_default('zoph_size'):
            args.zoph_size = args.op_size  # a smoke run stays small

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    warnings.filterwarnings('ignore')
    subs = policy_ops()

    print(f'{"zoph-det-v0" if args.only_zoph else "DADA ImageNet"} policy, per-image CPU '
          'time (one thread: cv2.setNumThreads(1), torch.set_num_threads(1))')
    print(f'machine: {platform.machine()} {platform.processor() or ""} nproc='
          f'{os.cpu_count()} | python {platform.python_version()} torch '
          f'{torch.__version__} cv2 {cv2.__version__} PIL {PIL.__version__} numpy '
          f'{np.__version__}')
    print(f'images/pass={args.images} repeats={args.repeats} warmup={args.warmup} '
          f'seed={args.seed} (medians; implementations interleaved)')
    if args.only_zoph:
        print()
        summary: Dict[str, float] = {}
        bench_zoph(args, summary)
        print(' '.join(f'{k}={v:.2f}' for k, v in summary.items()))
        return
    print('torchvision = a custom applier of the same policy with '
          'torchvision.transforms.v2.functional on uint8 CHW tensors (not the '
          'AutoAugment class)')
    print('PIL = the paper ops on PIL RGB images (conversion not timed)')
    print()

    summary = {}
    ours_t = DADAAugment(policy='dada-imagenet')
    header = f'{"size (HxW)":>12} {"impl":>12} {"ms/img":>9} {"vs ours":>8}'
    print(header)
    print('-' * len(header))
    for size_text in args.sizes.split(','):
        h, w = parse_size(size_text)
        bgr = make_images(h, w, args.images, args.seed)
        rgb_pil = [Image.fromarray(np.ascontiguousarray(x[..., ::-1])) for x in bgr]
        tensors = [torch.from_numpy(np.ascontiguousarray(x[..., ::-1])).permute(2, 0, 1)
                   .contiguous() for x in bgr]
        cases = {
            'ours': (lambda img: ours_t.transform({'img': img}), bgr),
            'mmpretrain': (build_mmpretrain(subs, w), bgr),
            'torchvision': (build_torchvision(subs), tensors),
            'PIL': (build_pil(subs), rgb_pil),
        }
        res = race(cases, args.repeats, args.warmup, args.seed)
        tag = '224' if (h, w) == (224, 224) else (
            'coco' if (h, w) == (800, 1333) else f'{h}x{w}')
        for k, t in res.items():
            ratio = t / res['ours']
            print(f'{h}x{w:<7} {k:>12} {t * 1e3:9.3f} {ratio:8.2f}')
            if k != 'ours':
                summary[f'vs_{k.lower()}_{tag}'] = ratio
        print()

    # per-op table
    h, w = parse_size(args.op_size)
    bgr = make_images(h, w, 1, args.seed + 1)[0]
    pil_img = Image.fromarray(np.ascontiguousarray(bgr[..., ::-1]))
    print(f'per op at {h}x{w} (each op alone; ours on BGR numpy, PIL on a PIL RGB image)')
    header = f'{"op":>13} {"level":>5} {"ours ms":>9} {"PIL ms":>9} {"PIL/ours":>9}'
    print(header)
    print('-' * len(header))
    worst = (math.inf, '')
    for name, lv in REPRESENTATIVE_LEVELS.items():
        v = level_to_value(name, lv, 1.0)
        cases = {
            'ours': (lambda x, name=name, lv=lv: image_ops.apply_op(
                x, name, lv, center=(0.4, 0.6)), [bgr]),
            'pil': (lambda x, name=name, v=v: pil_op(x, name, v, (0.4, 0.6)), [pil_img]),
        }
        res = race(cases, args.op_repeats, 3, args.seed)
        ratio = res['pil'] / res['ours']
        worst = min(worst, (ratio, name))
        print(f'{name:>13} {lv:5.2f} {res["ours"] * 1e3:9.3f} {res["pil"] * 1e3:9.3f} '
              f'{ratio:9.2f}')
    summary['slowest_op_vs_pil'] = worst[0]
    summary['slowest_op'] = worst[1]
    print()
    if not args.no_zoph:
        bench_zoph(args, summary)
    print(' '.join(f'{k}={v:.2f}' if isinstance(v, float) else f'{k}={v}'
                   for k, v in summary.items()))


if __name__ == '__main__':
    main()
