"""Bad input that docs/bad_input.md lists and no other test file covers."""
import numpy as np
import pytest
import torch

from dada_mm import DADAAugment
from dada_mm.policy import PolicyError


def test_zero_area_and_outside_boxes_stay_aligned():
    from mmdet.structures.bbox import HorizontalBoxes
    boxes = HorizontalBoxes(torch.tensor([[10., 10., 10., 20.],     # zero width
                                          [5., 7., 25., 7.],        # zero height
                                          [-30., -30., -10., -10.],  # outside the image
                                          [8., 8., 30., 30.]]))
    labels = np.array([0, 1, 2, 3])
    flags = np.array([False, True, False, True])
    t = DADAAugment(policy=[[dict(op='ShearX', prob=1.0, magnitude=0.9)]])
    np.random.seed(0)
    out = t(dict(img=np.zeros((40, 50, 3), np.uint8), gt_bboxes=boxes,
                 gt_bboxes_labels=labels, gt_ignore_flags=flags))
    b = out['gt_bboxes'].tensor
    assert b.shape == (4, 4) and torch.isfinite(b).all()
    assert (b[:, 0] >= 0).all() and (b[:, 2] <= 50).all()
    assert (b[:, 1] >= 0).all() and (b[:, 3] <= 40).all()
    assert out['gt_bboxes_labels'].tolist() == [0, 1, 2, 3]
    assert out['gt_ignore_flags'].tolist() == [False, True, False, True]
    # the zero-width box spans rows 10..20: a shear of |v| = 0.9 * 0.6 - 0.3 = 0.24 turns it
    # into a segment whose bounding box is |v| * 10 = 2.4 px wide (either sign)
    assert float(b[0, 2] - b[0, 0]) == pytest.approx(2.4, abs=1e-4)
    assert float(b[1, 3] - b[1, 1]) == pytest.approx(0.0)  # zero height stays zero height


def test_policy_path_that_does_not_exist_in_a_config(tmp_path):
    from mmengine.registry import TRANSFORMS
    missing = str(tmp_path / 'nope' / 'policy.json')
    with pytest.raises(PolicyError, match='does not exist'):
        TRANSFORMS.build(dict(type='DADAAugment', policy=missing))


def test_unknown_preset_lists_presets():
    with pytest.raises(PolicyError, match='dada-imagenet'):
        DADAAugment(policy='dada-imagenet-v2')


def test_search_refuses_mixed_image_sizes_and_batch_augments():
    from types import SimpleNamespace

    from dada_mm.search import DADASearchHook
    from dada_mm.search.augment import stack_inputs
    hook = DADASearchHook(val_dataloader=dict())
    cpu = torch.device('cpu')
    with pytest.raises(ValueError, match='DADASearchHook.*same shape'):
        stack_inputs([torch.zeros(3, 8, 8, dtype=torch.uint8),
                      torch.zeros(3, 8, 9, dtype=torch.uint8)], cpu)
    with pytest.raises(ValueError, match='DADASearchHook.*C in'):
        stack_inputs(torch.zeros(2, 4, 8, 8, dtype=torch.uint8), cpu)
    model = torch.nn.Linear(2, 2)
    model.data_preprocessor = SimpleNamespace(batch_augments=object())
    with pytest.raises(ValueError, match='batch_augments'):
        hook._build(SimpleNamespace(model=model))


@pytest.mark.parametrize('kwargs,field', [
    (dict(reward=dict(type='BilevelReward', order='third')), 'order'),
    (dict(reward=dict(type='BilevelReward', magnitude_grad='finite')), 'magnitude_grad'),
    (dict(reward=dict(type='BilevelReward', hypergrad_scale='eta')), 'hypergrad_scale'),
    (dict(search_epochs=-1), 'search_epochs'),
    (dict(learner=dict(channel_order='gbr')), 'channel_order')])
def test_search_hook_bad_options_name_the_field(kwargs, field):
    from dada_mm.search import DADASearchHook
    with pytest.raises(ValueError, match=field):
        DADASearchHook(val_dataloader=dict(), **kwargs)


# ------------------------------------------------------- transform after the packing one
@pytest.mark.parametrize('policy,owner', [('dada-imagenet', 'DADAAugment'),
                                          ('zoph-det-v0', 'DADAAugment'),
                                          (None, 'ZophDetectionAugment')])
@pytest.mark.parametrize('packer', ['mmpretrain.PackInputs', 'mmdet.PackDetInputs'])
def test_augment_after_the_packing_transform_says_where_it_belongs(policy, owner, packer):
    """A pipeline [..., PackInputs, DADAAugment] used to end in KeyError: 'img'."""
    import mmpretrain.datasets  # noqa: F401  (registers PackInputs)
    from mmcv.transforms import Compose
    if packer.startswith('mmdet'):
        pytest.importorskip('mmcv.ops')
        import mmdet.datasets.transforms  # noqa: F401
        from mmdet.structures.bbox import HorizontalBoxes
    augment = dict(type=owner) if policy is None else dict(type=owner, policy=policy)
    pipeline = Compose([dict(type=packer), augment])
    results = dict(img=np.zeros((16, 20, 3), np.uint8), img_shape=(16, 20),
                   ori_shape=(16, 20), gt_label=1)
    if packer.startswith('mmdet'):
        results.update(gt_bboxes=HorizontalBoxes(torch.tensor([[1., 2., 8., 9.]])),
                       gt_bboxes_labels=np.array([0]), gt_ignore_flags=np.array([False]))
    with pytest.raises(ValueError) as e:
        pipeline(results)
    msg = str(e.value)
    assert msg.startswith(f"{owner}: results has no 'img' but has 'inputs', "
                          "'data_samples'"), msg
    assert f'{owner} is placed after the packing transform' in msg
    assert 'Move it before the packing transform' in msg
    assert 'PackInputs' in msg and 'PackDetInputs' in msg


def test_augment_without_an_image_says_to_load_it():
    for t in (DADAAugment(), DADAAugment(policy='zoph-det-v0')):
        with pytest.raises(ValueError, match=r"DADAAugment: results has no 'img' \(keys: "
                                             r"\['img_path'\]\); load the image first "
                                             r"\(LoadImageFromFile\)"):
            t(dict(img_path='a.jpg'))


# ------------------------------------------------------- random held-out pipeline
def _loader(pipeline):
    return dict(batch_size=2, dataset=dict(type='CustomDataset', pipeline=pipeline))


LOAD, PACK = dict(type='LoadImageFromFile'), dict(type='PackInputs')
HELD_OUT_PIPELINES = [
    # mmpretrain's ImageNet train pipeline: random crop and flip
    ([LOAD, dict(type='RandomResizedCrop', scale=224), dict(type='RandomFlip', prob=0.5),
      PACK], ['RandomResizedCrop (dataset.pipeline[1])', 'RandomFlip (dataset.pipeline[2])']),
    # its test pipeline: deterministic
    ([LOAD, dict(type='ResizeEdge', scale=256, edge='short'),
      dict(type='CenterCrop', crop_size=224), PACK], []),
    ([LOAD, dict(type='Resize', scale=(32, 32)), PACK], []),
    # DADAAugment, even a frozen policy, draws sub-policies and probabilities
    ([LOAD, dict(type='DADAAugment', policy='dada-imagenet'), PACK],
     ['DADAAugment (dataset.pipeline[1])']),
    ([LOAD, dict(type='ZophDetectionAugment'), PACK],
     ['ZophDetectionAugment (dataset.pipeline[1])']),
    # mmpretrain ops marked by mmcv's cache_randomness, or known by name
    ([dict(type='ColorJitter', brightness=0.4), dict(type='AutoAugment', policies='imagenet'),
      dict(type='RandAugment', policies='timm_increasing', num_policies=2,
           magnitude_level=9), dict(type='Lighting', eigval=[1, 1, 1],
                                    eigvec=[[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
      dict(type='Rotate', angle=10.0, prob=1.0)],
     ['ColorJitter (dataset.pipeline[0])', 'AutoAugment (dataset.pipeline[1])',
      'RandAugment (dataset.pipeline[2])', 'Lighting (dataset.pipeline[3])',
      'Rotate (dataset.pipeline[4])']),
    # mmdet's, with a scope prefix
    ([dict(type='mmdet.RandomCrop', crop_size=(8, 8)), dict(type='mmdet.ShearX'),
      dict(type='mmdet.PhotoMetricDistortion'), dict(type='mmdet.Resize', scale=(8, 8))],
     ['RandomCrop (dataset.pipeline[0])', 'ShearX (dataset.pipeline[1])',
      'PhotoMetricDistortion (dataset.pipeline[2])']),
    # disabled by prob=0: deterministic
    ([dict(type='RandomFlip', prob=0.0), dict(type='RandomFlip', prob=0)], []),
    # nested in a wrapper: named where it is; a random wrapper hides its children
    ([dict(type='KeyMapper', mapping=dict(img='gt_img'),
           transforms=[dict(type='Resize', scale=(8, 8)), dict(type='RandomGrayscale')])],
     ['RandomGrayscale (dataset.pipeline[0].transforms[1])']),
    ([dict(type='RandomApply', transforms=[dict(type='RandomFlip')], prob=0.5)],
     ['RandomApply (dataset.pipeline[0])']),
    # a custom transform: by name when it is not registered
    ([dict(type='MyRandomZoom'), dict(type='MyResize')], ['MyRandomZoom (dataset.pipeline[0])']),
]


@pytest.mark.parametrize('pipeline,want', HELD_OUT_PIPELINES)
def test_random_transforms_of_a_held_out_pipeline(pipeline, want):
    from mmengine.registry import DefaultScope

    from dada_mm.search.held_out import random_transforms
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        assert random_transforms(_loader(pipeline)) == want


def test_random_transforms_follow_dataset_wrappers_and_classes():
    from mmcv.transforms import BaseTransform
    from mmcv.transforms.utils import cache_randomness

    from dada_mm.search.held_out import random_transforms

    class Jitter(BaseTransform):  # random through mmcv's marker, not by name
        @cache_randomness
        def _offset(self):
            return np.random.rand()

        def transform(self, results):
            results['offset'] = self._offset()
            return results

    class Identity(BaseTransform):
        def transform(self, results):
            return results

    crop = dict(type='RandomCrop', crop_size=8)
    loader = dict(dataset=dict(type='ConcatDataset', datasets=[
        dict(type='RepeatDataset', times=2, dataset=dict(pipeline=[LOAD, crop])),
        dict(pipeline=[dict(type=Jitter), dict(type=Identity)]),
        dict(pipeline=[Jitter(), Identity()])]))
    assert random_transforms(loader) == [
        'RandomCrop (dataset.datasets[0].dataset.pipeline[1])',
        'Jitter (dataset.datasets[1].pipeline[0])', 'Jitter (dataset.datasets[2].pipeline[0])']
    assert random_transforms(dict(batch_size=2)) == []  # no dataset config: nothing to say
    # the project's ReducedSearchSplit runs its own pipeline instead of the wrapped one's
    train = dict(type='CustomDataset', pipeline=[LOAD, crop, PACK])
    split = dict(type='ReducedSearchSplit', dataset=train, part='search_val')
    assert random_transforms(dict(dataset=dict(split, pipeline=[LOAD, PACK]))) == []
    assert random_transforms(dict(dataset=split)) == [
        'RandomCrop (dataset.dataset.pipeline[1])']
    assert random_transforms(dict(dataset=dict(type='HeldOutSplit', dataset=train,
                                               part='held_out'))) == [
        'RandomCrop (dataset.dataset.pipeline[1])']


# ------------------------------------------------------- search_epochs > max_epochs
@pytest.mark.parametrize('search_epochs,max_epochs,loop,warned', [
    (3, 2, 'epoch', True), (2, 2, 'epoch', False), (1, 2, 'epoch', False),
    (None, 2, 'epoch', False), (0, 2, 'epoch', False),
    (3, 2, 'iter', False)])  # an iteration-based loop has no epochs to compare with
def test_search_epochs_greater_than_max_epochs_is_warned(search_epochs, max_epochs, loop,
                                                         warned):
    import logging
    from types import SimpleNamespace

    from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

    from dada_mm.search import DADASearchHook
    cls = EpochBasedTrainLoop if loop == 'epoch' else IterBasedTrainLoop
    train_loop = cls.__new__(cls)
    train_loop._max_epochs = max_epochs
    records = []
    logger = logging.getLogger('dada_mm_test_schedule')
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        hook = DADASearchHook(val_dataloader=dict(), search_epochs=search_epochs)
        hook._check_schedule(SimpleNamespace(train_loop=train_loop, logger=logger))
    finally:
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    if warned:
        assert messages == [
            f'DADASearchHook: search_epochs={search_epochs} is greater than '
            f'max_epochs={max_epochs} (train_cfg.max_epochs): the policy is searched during '
            f'all {max_epochs} epoch(s) and never frozen, so no epoch trains with the frozen '
            'policy, and dada_policy.json holds the policy as the search left it. Set '
            'search_epochs <= max_epochs (None: search during the whole run)']
    else:
        assert messages == []


@pytest.mark.parametrize('name', ['dada_search_reduced_imagenet.py',
                                  'dada_resnet50_imagenet.py', 'demo/demo_search_shapes.py'])
def test_project_search_configs_hold_out_deterministically(repo_root, name):
    """No warning for the project's own search configs (their held-out splits use the
    test pipeline; ReducedSearchSplit's replaces the training one it wraps)."""
    import os.path as osp

    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from dada_mm.search.held_out import random_transforms
    cfg = Config.fromfile(osp.join(repo_root, 'configs', name))
    hooks = [h for h in cfg.custom_hooks
             if h['type'] in ('DADASearchHook', 'PaperDADASearchHook')]
    assert len(hooks) == 1
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
        assert random_transforms(hooks[0]['val_dataloader']) == []
