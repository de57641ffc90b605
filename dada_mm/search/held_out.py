"""The held-out (search-val) split: an endless, seeded, resumable stream of batches.

The official code reused the *same* first val batch at every step (a fresh iterator over a
deterministic sampler). We draw a fresh random batch each step by default; ``fixed=True``
reproduces the official behaviour. The sampler's position is part of the search state, so
a resumed search reads exactly the batches an uninterrupted one would have read.
"""
from __future__ import annotations

from typing import Dict, Iterator, Optional

import torch
from torch.utils.data import Sampler

__all__ = ['ResumableRandomSampler', 'HeldOutStream']


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
