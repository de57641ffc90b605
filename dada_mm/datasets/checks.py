"""`ClassCountCheckHook`: stop before training when the classifier's head and the data set
disagree on the number of classes.

With an ImageFolder-style data set (mmpretrain's ``CustomDataset`` without an annotation
file) the classes are the sub-folders of ``data_root``, while ``num_classes`` of the head is
typed into the config. Too few outputs fail deep inside the loss (``Target 5 is out of
bounds``), too many train silently with dead outputs; this hook names both numbers instead.
"""
from __future__ import annotations

from typing import Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

__all__ = ['ClassCountCheckHook']


def _head_num_classes(model) -> Optional[int]:
    model = getattr(model, 'module', model)  # DDP and other wrappers
    num_classes = getattr(getattr(model, 'head', None), 'num_classes', None)
    return None if num_classes is None else int(num_classes)


def _data_root(dataset) -> Optional[str]:
    """``data_root`` of the data set or of the one it wraps (e.g. a split of it)."""
    while dataset is not None:
        root = getattr(dataset, 'data_root', None)
        if root:
            return str(root)
        dataset = getattr(dataset, 'dataset', None)
    return None


@HOOKS.register_module()
class ClassCountCheckHook(Hook):
    """Compare ``model.head.num_classes`` with the classes of the training data set (before
    training) and of the validation data set (before validation); raise a ``ValueError``
    naming both counts, the classes and the data set's ``data_root`` if they differ.

    A model without ``head.num_classes`` or a data set without ``metainfo['classes']`` is
    not checked.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        self._check(runner, runner.train_dataloader.dataset, 'train_dataloader')

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_dataloader.dataset, 'val_dataloader')

    @staticmethod
    def _check(runner, dataset, where: str) -> None:
        num_classes = _head_num_classes(runner.model)
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        if num_classes is None or classes is None or len(classes) == num_classes:
            return
        root = _data_root(dataset)
        shown = ', '.join(repr(c) for c in list(classes)[:10])
        if len(classes) > 10:
            shown += f', ... ({len(classes) - 10} more)'
        source = f'the sub-folders of {root!r}: ' if root else ''
        raise ValueError(
            f'ClassCountCheckHook: model.head.num_classes is {num_classes}, but the data '
            f'set of {where} has {len(classes)} classes ({source}{shown}). Set '
            f'num_classes = {len(classes)} in the config.')
