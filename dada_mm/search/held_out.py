"""The held-out (search-val) split: an endless, seeded, resumable stream of batches.

The official code reused the *same* first val batch at every step (a fresh iterator over a
deterministic sampler). We draw a fresh random batch each step by default; ``fixed=True``
reproduces the official behaviour. The sampler's position is part of the search state, so
a resumed search reads exactly the batches an uninterrupted one would have read.

The held-out loss must be deterministic given the batch: the split's pipeline should load,
resize and centre-crop only (the paper). :func:`random_transforms` lists the transforms of
a dataloader config that may draw random numbers, for the search hook's warning. A
transform counts as random when its type name contains ``Random``, when its class carries
mmcv's ``cache_randomness`` marker (``_methods_with_randomness``: RandomFlip, RandAugment,
mmdet's and mmpretrain's colour and geometric ops, ...), or when it is one of
:data:`RANDOM_TRANSFORM_TYPES` (random without either sign, e.g. DADAAugment, Albu,
torchvision's ColorJitter). A transform disabled by ``prob=0`` does not count.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional

import torch
from torch.utils.data import Sampler

__all__ = ['ResumableRandomSampler', 'HeldOutStream', 'RANDOM_TRANSFORM_TYPES',
           'PIPELINE_REPLACING_WRAPPERS', 'is_random_transform', 'random_transforms']

#: transforms (mmpretrain, mmdet, their torchvision wrappers, dada_mm) that draw random
#: numbers with neither ``Random`` in their name nor mmcv's ``cache_randomness`` marker
RANDOM_TRANSFORM_TYPES = frozenset({
    'DADAAugment', 'ZophDetectionAugment', 'AutoAugment', 'RandAugment', 'TrivialAugmentWide',
    'AugMix', 'ColorJitter', 'Lighting', 'GaussianBlur', 'ElasticTransform', 'Albu',
    'Albumentations', 'BEiTMaskGenerator', 'SimMIMMaskGenerator', 'Cutout', 'CutOut',
    'InstaBoost', 'Corrupt', 'Mosaic', 'MixUp', 'CutMix', 'CopyPaste', 'CachedMosaic',
    'CachedMixUp', 'PhotoMetricDistortion', 'Expand', 'UniformRefFrameSample'})


def _type_name(type_: Any) -> str:
    """``'RandomFlip'`` for ``'mmdet.RandomFlip'``, ``'torchvision/RandomCrop'`` or the
    class itself."""
    if isinstance(type_, str):
        return type_.rsplit('.', 1)[-1].rsplit('/', 1)[-1]
    return getattr(type_, '__name__', type(type_).__name__)


def _transform_class(type_: Any) -> Optional[type]:
    """The class a transform config builds, looked up in the default scope's registry;
    None if it cannot be found (the name alone decides then)."""
    if isinstance(type_, type):
        return type_
    if not isinstance(type_, str):
        return None
    try:
        from mmengine.registry import TRANSFORMS
        with TRANSFORMS.switch_scope_and_registry(None) as registry:
            return registry.get(type_)
    except Exception:  # noqa: BLE001 - an unknown scope or name: judged by name
        return None


def is_random_transform(transform: Any) -> bool:
    """Whether a pipeline entry (a config dict or a built transform) may draw random
    numbers (the rule of the module docstring)."""
    if isinstance(transform, dict):
        type_ = transform.get('type')
        cls = _transform_class(type_)
    else:
        type_ = cls = type(transform)
    name = _type_name(type_)
    if 'Random' in name or name in RANDOM_TRANSFORM_TYPES:
        return True
    return bool(getattr(cls, '_methods_with_randomness', None))


def _disabled(transform: Any) -> bool:
    prob = transform.get('prob') if isinstance(transform, dict) else None
    return isinstance(prob, (int, float)) and not isinstance(prob, bool) and prob == 0


def _scan_transforms(value: Any, where: str, found: List[str]) -> None:
    """Add ``'Name (where)'`` for each random transform in ``value`` (a transform, or a
    list of them, nested as wrappers nest them); a random wrapper hides its children."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _scan_transforms(item, f'{where}[{i}]', found)
        return
    if isinstance(value, dict) and 'type' not in value:
        return
    if not isinstance(value, dict) and not callable(value):
        return
    if _disabled(value):
        return
    if is_random_transform(value):
        name = _type_name(value['type'] if isinstance(value, dict) else type(value))
        found.append(f'{name} ({where})')
        return
    if isinstance(value, dict):  # wrappers: Compose, KeyMapper, TransformBroadcaster, ...
        for key, item in value.items():
            if key != 'type' and isinstance(item, (dict, list, tuple)):
                _scan_transforms(item, f'{where}.{key}', found)


#: dataset wrappers whose own ``pipeline`` (when given) replaces the wrapped dataset's
PIPELINE_REPLACING_WRAPPERS = frozenset({'ReducedSearchSplit'})


def random_transforms(dataloader_cfg: Dict) -> List[str]:
    """``'Name (dataset.pipeline[i])'`` for each transform of the dataloader config's
    pipeline(s) that may draw random numbers; follows dataset wrappers (``dataset``,
    ``datasets``) to the pipelines that run (a :data:`PIPELINE_REPLACING_WRAPPERS`
    wrapper with a pipeline of its own hides the wrapped dataset's)."""
    found: List[str] = []

    def visit(dataset: Any, where: str) -> None:
        if not isinstance(dataset, dict):
            return
        own = isinstance(dataset.get('pipeline'), (list, tuple))
        if own:
            _scan_transforms(dataset['pipeline'], f'{where}.pipeline', found)
        replaces = own and _type_name(dataset.get('type')) in PIPELINE_REPLACING_WRAPPERS
        if 'dataset' in dataset and not replaces:
            visit(dataset['dataset'], f'{where}.dataset')
        for i, child in enumerate(dataset.get('datasets') or []):
            visit(child, f'{where}.datasets[{i}]')

    visit((dataloader_cfg or {}).get('dataset'), 'dataset')
    return found


class ResumableRandomSampler(Sampler):
    """Endless random permutations of ``range(size)`` from a seed; skips ``start`` indices.

    Every rank draws the same permutation and takes every ``world_size``-th index, so the
    ranks see disjoint parts of the split.
    """

    def __init__(self, size: int, seed: int = 0, start: int = 0, fixed: bool = False,
                 rank: int = 0, world_size: int = 1) -> None:
        if size < 1:
            raise ValueError('the held-out split is empty')
        self.size, self.seed, self.start, self.fixed = size, seed, start, fixed
        self.rank, self.world_size = rank, world_size

    def _indices(self) -> Iterator[int]:
        if self.fixed:  # the official behaviour: always the same leading indices
            while True:
                yield from range(self.size)
        epoch = 0
        while True:
            g = torch.Generator().manual_seed(self.seed + epoch)
            yield from torch.randperm(self.size, generator=g).tolist()
            epoch += 1

    def __iter__(self) -> Iterator[int]:
        for n, index in enumerate(self._indices()):
            if n % self.world_size != self.rank:
                continue
            if n // self.world_size < self.start:
                continue
            yield index

    def __len__(self) -> int:  # endless; DataLoader only needs it for len()
        return 2 ** 62


class HeldOutStream:
    """Batches from a dataloader config whose sampler is a :class:`ResumableRandomSampler`.

    ``fixed=True`` returns the split's first batch at every call (the official fixed
    val batch).
    """

    def __init__(self, dataloader_cfg: Dict, seed: int, fixed: bool = False,
                 rank: int = 0, world_size: int = 1) -> None:
        self.cfg = dict(dataloader_cfg)
        self.seed, self.fixed = seed, fixed
        self.rank, self.world_size = rank, world_size
        self.consumed = 0  # batches drawn so far on this rank
        self._iter: Optional[Iterator] = None
        self._loader = None
        self._fixed_batch = None

    def _build(self) -> None:
        from mmengine.runner import Runner
        cfg = dict(self.cfg)
        cfg.pop('sampler', None)
        batch_size = cfg['batch_size']
        if self._loader is None:
            # build once to get the dataset; the sampler is replaced below
            probe = Runner.build_dataloader(
                dict(cfg, sampler=dict(type='DefaultSampler', shuffle=False)))
            self._dataset = probe.dataset
            self._collate = probe.collate_fn
            self._num_workers = cfg.get('num_workers', 0)
            self._loader = True
        start = 0 if self.fixed else self.consumed * batch_size
        sampler = ResumableRandomSampler(len(self._dataset), self.seed, start=start,
                                         fixed=self.fixed, rank=self.rank,
                                         world_size=self.world_size)
        loader = torch.utils.data.DataLoader(
            self._dataset, batch_size=batch_size, sampler=sampler,
            num_workers=self._num_workers, collate_fn=self._collate,
            persistent_workers=False, drop_last=False)
        self._iter = iter(loader)

    def next(self) -> Dict:
        if self.fixed and self._fixed_batch is not None:
            self.consumed += 1
            return self._fixed_batch
        if self._iter is None:
            self._build()
        batch = next(self._iter)
        if self.fixed:
            self._fixed_batch = batch
            self._iter = None
        self.consumed += 1
        return batch

    def state_dict(self) -> Dict:
        return {'consumed': self.consumed, 'seed': self.seed, 'fixed': self.fixed}

    def load_state_dict(self, state: Dict) -> None:
        self.consumed = int(state['consumed'])
        self._iter = None  # rebuilt lazily at the saved position
