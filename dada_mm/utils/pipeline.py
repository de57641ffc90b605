"""Insert ``DADAAugment`` into the training pipeline of any stock OpenMMLab config.

A config file can splice the transform into the pipeline it inherits
(``[*_base_.train_pipeline[:-1], dada, _base_.train_pipeline[-1]]``, as
``configs/*_dada_coco.py`` do; ``docs/reuse_dada_augment.md``); code that holds a loaded
config instead can let this helper edit it::

    from mmengine.config import Config
    from dada_mm.utils.pipeline import add_dada_augment
    cfg = add_dada_augment(Config.fromfile('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'),
                           policy='dada-imagenet')
    cfg.dump('retinanet_dada.py')   # a standalone config for tools/train.py
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

__all__ = ['add_dada_augment', 'train_pipeline_of', 'train_transform_key']

DETECTION_PACKERS = ('PackDetInputs', 'PackTrackInputs')


def train_pipeline_of(cfg: Any) -> List[Dict]:
    """The (mutable) pipeline list of ``cfg.train_dataloader``'s dataset.

    Follows dataset wrappers (``RepeatDataset``, ``ClassBalancedDataset``, ... use
    ``dataset``); a ``ConcatDataset`` has several pipelines and is rejected.
    """
    dataset = cfg['train_dataloader']['dataset']
    while 'pipeline' not in dataset:
        if 'dataset' in dataset:
            dataset = dataset['dataset']
        else:
            raise KeyError('train_dataloader.dataset has no pipeline (ConcatDataset or '
                           'a custom wrapper?); insert DADAAugment by hand')
    return dataset['pipeline']


def add_dada_augment(cfg: Any, policy: Any = 'dada-imagenet', after: str = 'RandomFlip',
                     filter_boxes: Optional[bool] = None,
                     **dada_kwargs: Any) -> Any:
    """Insert ``DADAAugment(policy=..., **dada_kwargs)`` after the ``after`` transform.

    Without an ``after`` transform in the pipeline it goes just before the packing
    transform (the last one). For detection pipelines (``PackDetInputs``) a
    ``FilterAnnotations(min_gt_bbox_wh=(1e-2, 1e-2))`` follows it unless
    ``filter_boxes=False`` (geometric ops leave boxes pushed out of the image as empty
    boxes, as mmdet's own geometric transforms do). ``custom_imports`` gets ``dada_mm``.
    Modifies and returns ``cfg``.
    """
    pipeline = train_pipeline_of(cfg)
    if any(t.get('type') == 'DADAAugment' for t in pipeline):
        raise ValueError('the training pipeline already has a DADAAugment')
    types = [t.get('type') for t in pipeline]
    index = types.index(after) + 1 if after in types else len(pipeline) - 1
    if filter_boxes is None:
        filter_boxes = any(t in DETECTION_PACKERS for t in types)
    new = [dict(type='DADAAugment', policy=copy.deepcopy(policy), **dada_kwargs)]
    if filter_boxes:
        new.append(dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)))
    pipeline[index:index] = new
    imports = cfg.get('custom_imports') or dict(imports=[], allow_failed_imports=False)
    names = imports.get('imports', [])
    names = [names] if isinstance(names, str) else list(names)
    if 'dada_mm' not in names:
        names.append('dada_mm')
    imports['imports'] = names
    cfg['custom_imports'] = imports
    # keep a top-level `train_pipeline` variable (if any) in sync for readers of the cfg
    if 'train_pipeline' in cfg:
        cfg['train_pipeline'] = copy.deepcopy(pipeline)
    return cfg


def train_transform_key(cfg: Any, type_name: str = 'DADAAugment') -> str:
    """The dotted key of the ``type_name`` transform in ``cfg.train_dataloader``'s pipeline.

    E.g. ``'train_dataloader.dataset.pipeline.4'`` for ``configs/retinanet_dada_coco.py``:
    ``--cfg-options`` reaches a pipeline entry only by its index, so
    ``f'{train_transform_key(cfg)}.policy=my_policy.json'`` is the option that changes the
    policy without counting transforms. Follows dataset wrappers as
    :func:`train_pipeline_of` does; the pipeline must hold exactly one such transform.
    """
    key, dataset = 'train_dataloader.dataset', cfg['train_dataloader']['dataset']
    while 'pipeline' not in dataset:
        if 'dataset' not in dataset:
            raise KeyError(f'{key} has no pipeline (ConcatDataset or a custom wrapper?)')
        key, dataset = key + '.dataset', dataset['dataset']
    hits = [i for i, t in enumerate(dataset['pipeline']) if t.get('type') == type_name]
    if len(hits) != 1:
        raise ValueError(f'{key}.pipeline has {len(hits)} {type_name!r} transforms, '
                         'expected one')
    return f'{key}.pipeline.{hits[0]}'
