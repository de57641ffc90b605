"""Insert ``DADAAugment`` into the training pipeline of any stock OpenMMLab config.

Classic (``_base_``) MMEngine configs cannot splice a list inherited from a base file, so
adding one transform to a stock pipeline means either writing the pipeline out (see
``docs/reuse_dada_augment.md``) or editing the loaded config, which this helper does::

    from mmengine.config import Config
    from dada_mm.utils.pipeline import add_dada_augment
    cfg = add_dada_augment(Config.fromfile('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'),
                           policy='dada-imagenet')
    cfg.dump('retinanet_dada.py')   # a standalone config for tools/train.py
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

__all__ = ['add_dada_augment', 'train_pipeline_of']

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
