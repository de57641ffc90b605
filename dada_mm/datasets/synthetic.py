"""Deterministic built-in data: a shapes classification set (mmpretrain folder layout)
and a shapes detection / instance-segmentation set (COCO format).

Realistic enough for augmentation to matter: several classes, textured and coloured
backgrounds, objects at varied scale, position, rotation and colour, and occluders.
Everything is drawn from fixed seeds, so two runs write identical files.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

__all__ = ['SHAPE_CLASSES', 'make_classification_set', 'make_coco_set',
           'write_annotation_files']

SHAPE_CLASSES = ('circle', 'square', 'triangle', 'cross', 'ring', 'star', 'hexagon',
                 'bar')


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random coloured background: two gratings, a colour gradient and noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    base = rng.uniform(40, 215, size=3)
    img += base
    for _ in range(2):
        theta = rng.uniform(0, math.pi)
        freq = rng.uniform(0.02, 0.25)
        phase = rng.uniform(0, 2 * math.pi)
        amp = rng.uniform(4, 24, size=3)
        wave = np.sin(freq * (xx * math.cos(theta) + yy * math.sin(theta)) + phase)
        img += wave[..., None] * amp
    gx, gy = rng.uniform(-0.6, 0.6, size=2)
    img += ((xx - w / 2) * gx + (yy - h / 2) * gy)[..., None] * rng.uniform(
        0.2, 1.0, size=3) * 64 / max(h, w)
    img += rng.normal(0, rng.uniform(2, 8), size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> List[np.ndarray]:
    """Outline(s) of a shape as float polygons (x, y); rings/crosses give one outline."""
    def rot(points):
        c, s = math.cos(angle), math.sin(angle)
        pts = np.asarray(points, np.float32)
        x = pts[:, 0] * c - pts[:, 1] * s + cx
        y = pts[:, 0] * s + pts[:, 1] * c + cy
        return np.stack([x, y], 1)

    def regular(n, radius, offset=0.0):
        return [(radius * math.cos(2 * math.pi * i / n + offset),
                 radius * math.sin(2 * math.pi * i / n + offset)) for i in range(n)]

    if kind in ('circle', 'ring'):
        return [rot(regular(32, r))]
    if kind == 'square':
        return [rot(regular(4, r, math.pi / 4))]
    if kind == 'triangle':
        return [rot(regular(3, r, -math.pi / 2))]
    if kind == 'hexagon':
        return [rot(regular(6, r))]
    if kind == 'star':
        pts = []
        for i in range(10):
            rad = r if i % 2 == 0 else r * 0.45
            a = math.pi * i / 5 - math.pi / 2
            pts.append((rad * math.cos(a), rad * math.sin(a)))
        return [rot(pts)]
    if kind == 'cross':
        t = r * 0.33
        pts = [(-t, -r), (t, -r), (t, -t), (r, -t), (r, t), (t, t), (t, r), (-t, r),
               (-t, t), (-r, t), (-r, -t), (-t, -t)]
        return [rot(pts)]
    if kind == 'bar':
        return [rot([(-r, -r * 0.28), (r, -r * 0.28), (r, r * 0.28), (-r, r * 0.28)])]
    raise KeyError(kind)


def _draw_shape(img, kind, cx, cy, r, angle, colour) -> List[np.ndarray]:
    polys = _polygon(kind, cx, cy, r, angle)
    pts = [np.round(p * 16).astype(np.int32) for p in polys]
    cv2.fillPoly(img, pts, colour, lineType=cv2.LINE_AA, shift=4)
    if kind == 'ring':  # punch the hole with a darker/lighter disc of the background
        hole = _polygon('circle', cx, cy, r * 0.55, angle)
        inner = tuple(int(255 - c) for c in colour)
        cv2.fillPoly(img, [np.round(hole[0] * 16).astype(np.int32)], inner,
                     lineType=cv2.LINE_AA, shift=4)
    return polys


def _colour(rng) -> Tuple[int, int, int]:
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(120, 256),
                      rng.integers(110, 256)]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _occluders(rng, img, count):
    h, w = img.shape[:2]
    for _ in range(count):
        x0, y0 = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        ww, hh = int(rng.uniform(0.08, 0.25) * w), int(rng.uniform(0.08, 0.25) * h)
        cv2.rectangle(img, (x0, y0), (x0 + ww, y0 + hh),
                      tuple(int(c) for c in rng.integers(0, 256, 3)), -1)


def classification_image(rng, label: int, size: int) -> np.ndarray:
    img = _texture(rng, size, size)
    r = rng.uniform(0.24, 0.42) * size
    cx = rng.uniform(r * 0.8, size - r * 0.8)
    cy = rng.uniform(r * 0.8, size - r * 0.8)
    _draw_shape(img, SHAPE_CLASSES[label], cx, cy, r, rng.uniform(0, 2 * math.pi),
                _colour(rng))
    _occluders(rng, img, int(rng.integers(0, 2)))
    return img


def make_classification_set(root: str, num_classes: int = 6, train_per_class: int = 40,
                            test_per_class: int = 10, size: int = 64,
                            seed: int = 0) -> Dict[str, str]:
    """Write ``root/{train,val}/<class>/*.png`` and ``root/meta/*.txt`` annotation files.

    ``meta/train.txt`` / ``meta/val.txt`` list every image; ``meta/search_train.txt`` and
    ``meta/search_val.txt`` split the training images 50/50 per class (the paper's
    search-train / search-val halves). Returns the written annotation files.
    """
    if not 1 <= num_classes <= len(SHAPE_CLASSES):
        raise ValueError(f'num_classes must be in [1, {len(SHAPE_CLASSES)}]')
    classes = SHAPE_CLASSES[:num_classes]
    rng = np.random.default_rng(seed)
    lines = {'train': [], 'val': [], 'search_train': [], 'search_val': []}
    for split, per_class in (('train', train_per_class), ('val', test_per_class)):
        for label, name in enumerate(classes):
            os.makedirs(osp.join(root, split, name), exist_ok=True)
            for i in range(per_class):
                rel = f'{name}/{name}_{i:04d}.png'
                cv2.imwrite(osp.join(root, split, rel),
                            classification_image(rng, label, size))
                lines[split].append(f'{rel} {label}')
                if split == 'train':
                    half = 'search_train' if i % 2 == 0 else 'search_val'
                    lines[half].append(f'{rel} {label}')
    return write_annotation_files(root, lines, classes)


def write_annotation_files(root: str, lines: Dict[str, List[str]],
                           classes: Sequence[str]) -> Dict[str, str]:
    """``root/meta/<split>.txt`` (one ``<relative path> <label>`` per line) for every split
    in ``lines`` and ``root/meta/classes.txt``; returns the split files by name."""
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    out = {}
    for key, rows in lines.items():
        out[key] = osp.join(root, 'meta', f'{key}.txt')
        with open(out[key], 'w') as f:
            f.write('\n'.join(rows) + '\n')
    with open(osp.join(root, 'meta', 'classes.txt'), 'w') as f:
        f.write('\n'.join(classes) + '\n')
    return out


def detection_image(rng, size: Tuple[int, int], num_classes: int, max_objects: int):
    h, w = size
    img = _texture(rng, h, w)
    anns = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        label = int(rng.integers(0, num_classes))
        r = rng.uniform(0.07, 0.22) * min(h, w)
        cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
        polys = _draw_shape(img, SHAPE_CLASSES[label], cx, cy, r,
                            rng.uniform(0, 2 * math.pi), _colour(rng))
        pts = np.concatenate(polys)
        pts[:, 0] = np.clip(pts[:, 0], 0, w)
        pts[:, 1] = np.clip(pts[:, 1], 0, h)
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        anns.append(dict(category_id=label + 1,
                         bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                         area=float(cv2.contourArea(pts.astype(np.float32))),
                         segmentation=[[float(v) for v in p.clip(0).reshape(-1)]
                                       for p in polys],
                         iscrowd=0))
    if rng.uniform() < 0.5:
        _occluders(rng, img, 1)
    return img, anns


def make_coco_set(root: str, num_classes: int = 4, train_images: int = 40,
                  val_images: int = 10, size: Tuple[int, int] = (128, 160),
                  max_objects: int = 4, seed: int = 0) -> Dict[str, str]:
    """Write ``root/{train2017,val2017}/*.png`` and ``root/annotations/instances_*.json``."""
    classes = SHAPE_CLASSES[:num_classes]
    rng = np.random.default_rng(seed + 1)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    out = {}
    for split, count in (('train2017', train_images), ('val2017', val_images)):
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for i in range(count):
            img, anns = detection_image(rng, size, num_classes, max_objects)
            name = f'{i:06d}.png'
            cv2.imwrite(osp.join(root, split, name), img)
            images.append(dict(id=i + 1, file_name=name, height=size[0], width=size[1]))
            for a in anns:
                a.update(id=len(annotations) + 1, image_id=i + 1)
                annotations.append(a)
        doc = dict(images=images, annotations=annotations,
                   categories=[dict(id=i + 1, name=n) for i, n in enumerate(classes)])
        out[split] = osp.join(root, 'annotations', f'instances_{split}.json')
        with open(out[split], 'w') as f:
            json.dump(doc, f)
    return out
