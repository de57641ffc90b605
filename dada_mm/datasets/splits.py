"""Dataset wrappers that carve the splits DADA needs out of a stock dataset config.

* :class:`HeldOutSplit`: a seeded random split of one dataset into a training part and a
  held-out part (e.g. 2% of ImageNet train as the search-val split during pretraining),
  so that the policy is never tuned on the test set.
* :class:`ReducedSearchSplit`: the paper's reduced search set: a seeded choice of classes
  (120 for ImageNet), a stratified sample of images (about 6,000) with labels remapped to
  0..C-1, cut 50/50 per class into search-train and search-val.

Both wrap any mmengine/mmpretrain dataset config, so a user with ImageNet on disk changes
only ``data_root``.
"""
from __future__ import annotations

import copy
from typing import Dict, List, Sequence, Union

import numpy as np
from mmengine.dataset import Compose
from mmengine.registry import DATASETS

__all__ = ['HeldOutSplit', 'ReducedSearchSplit']

_PARTS = ('train', 'held_out')
_SEARCH_PARTS = ('search_train', 'search_val')


def _build(dataset: Union[Dict, object]):
    return DATASETS.build(dataset) if isinstance(dataset, dict) else dataset


@DATASETS.register_module()
class HeldOutSplit:
    """``part='train'`` or ``'held_out'`` of a seeded random split of ``dataset``.

    Args:
        dataset: the dataset (config) to split; its pipeline is used as is.
        part: which side to expose.
        held_out: size of the held-out side, a fraction in (0, 1) or a number of samples.
        seed: the split's seed; use the same one for both sides.
    """

    def __init__(self, dataset, part: str, held_out: Union[float, int] = 0.02,
                 seed: int = 0) -> None:
        if part not in _PARTS:
            raise ValueError(f'HeldOutSplit.part must be one of {list(_PARTS)}, '
                             f'got {part!r}')
        self.dataset = _build(dataset)
        n = len(self.dataset)
        k = int(round(held_out * n)) if isinstance(held_out, float) else int(held_out)
        if not 0 < k < n:
            raise ValueError(f'HeldOutSplit.held_out={held_out!r} leaves {k} of {n} '
                             'samples held out; both sides must be non-empty')
        perm = np.random.default_rng(seed).permutation(n)
        chosen = perm[:k] if part == 'held_out' else perm[k:]
        self.indices: List[int] = sorted(int(i) for i in chosen)
        self.part = part

    @property
    def metainfo(self) -> Dict:
        return copy.deepcopy(self.dataset.metainfo)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, idx: int):
        return self.dataset[self.indices[idx]]

    def get_data_info(self, idx: int) -> Dict:
        return self.dataset.get_data_info(self.indices[idx])


@DATASETS.register_module()
class ReducedSearchSplit:
    """The paper's reduced, label-remapped search set, one half of it.

    Args:
        dataset: the full dataset config (e.g. mmpretrain ``ImageNet`` train split).
        part: 'search_train' or 'search_val' (50/50 per class).
        num_classes: classes kept (chosen with ``seed``; all if None).
        num_images: images kept in total, stratified over the kept classes (all if None).
        pipeline: pipeline of this half (the search-val half gets the test pipeline);
            default: the wrapped dataset's own.
        seed: seed of the class choice and of the sampling.
    """

    def __init__(self, dataset, part: str, num_classes: Union[int, None] = 120,
                 num_images: Union[int, None] = 6000, pipeline: Sequence = None,
                 seed: int = 0) -> None:
        if part not in _SEARCH_PARTS:
            raise ValueError(f'ReducedSearchSplit.part must be one of '
                             f'{list(_SEARCH_PARTS)}, got {part!r}')
        self.dataset = _build(dataset)
        labels = np.asarray([int(np.asarray(self.dataset.get_data_info(i)['gt_label'])
                                 .reshape(-1)[0]) for i in range(len(self.dataset))])
        all_classes = np.unique(labels)
        rng = np.random.default_rng(seed)
        if num_classes is not None:
            if not 0 < num_classes <= len(all_classes):
                raise ValueError(f'ReducedSearchSplit.num_classes={num_classes} but the '
                                 f'dataset has {len(all_classes)} classes')
            kept = np.sort(rng.choice(all_classes, size=num_classes, replace=False))
        else:
            kept = all_classes
        per_class = None if num_images is None else max(2, num_images // len(kept))
        remap = {int(c): i for i, c in enumerate(kept)}
        infos = []
        for c in kept:
            idx = np.flatnonzero(labels == c)
            idx = rng.permutation(idx)
            if per_class is not None:
                idx = idx[:per_class]
            half = idx[0::2] if part == 'search_train' else idx[1::2]
            for i in sorted(int(j) for j in half):
                info = copy.deepcopy(self.dataset.get_data_info(i))
                info['gt_label'] = remap[int(c)]
                infos.append(info)
        self.infos = infos
        classes = self.dataset.metainfo.get('classes')
        self._metainfo = dict(self.dataset.metainfo)
        if classes is not None:
            self._metainfo['classes'] = tuple(classes[int(c)] for c in kept)
        self.kept_classes = [int(c) for c in kept]
        self.pipeline = (Compose(pipeline) if pipeline is not None else
                         self.dataset.pipeline)
        self.part = part

    @property
    def metainfo(self) -> Dict:
        return copy.deepcopy(self._metainfo)

    def __len__(self) -> int:
        return len(self.infos)

    def get_data_info(self, idx: int) -> Dict:
        return copy.deepcopy(self.infos[idx])

    def __getitem__(self, idx: int):
        return self.pipeline(self.get_data_info(idx))
