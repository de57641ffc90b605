"""The detection search configs train, search and write a policy through tools/train.py.

Each of ``configs/{retinanet,faster-rcnn,mask-rcnn}_dada-search_coco.py`` is loaded as
shipped and shrunk for a 2-core CPU (ResNet-18 with 16 base channels, no pretrained file,
128x96 images of the generated 4-class COCO-format set, 2 of its 8 training images held
out, batch 2, 2 epochs with the search in the first).
"""
import json
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLASSES = ('circle', 'square', 'triangle', 'cross')
MODELS = ['retinanet', 'faster-rcnn', 'mask-rcnn']


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    pytest.importorskip('mmdet.models')
    from dada_mm.datasets.synthetic import make_coco_set
    root = str(tmp_path_factory.mktemp('coco_search'))
    make_coco_set(root, num_classes=4, train_images=8, val_images=2, size=(96, 128))
    return root + '/'


def _shrink_dataset(split, root):
    """A HeldOutSplit of the generated set: 2 images held out, small images."""
    split.held_out = 2
    inner = split.dataset
    inner.update(data_root=root, metainfo=dict(classes=CLASSES))
    for t in inner.pipeline:
        if t['type'] == 'Resize':
            t['scale'] = (128, 96)


def shrink(cfg, root):
    cfg.model.backbone.update(depth=18, base_channels=16, init_cfg=None)
    cfg.model.neck.in_channels = [16, 32, 64, 128]
    head = cfg.model.roi_head.bbox_head if 'roi_head' in cfg.model else cfg.model.bbox_head
    head.num_classes = len(CLASSES)
    if 'roi_head' in cfg.model and 'mask_head' in cfg.model.roi_head:
        cfg.model.roi_head.mask_head.num_classes = len(CLASSES)
    train = cfg.train_dataloader
    train.update(batch_size=2, num_workers=0, persistent_workers=False)
    _shrink_dataset(train.dataset, root)
    hook = cfg.custom_hooks[0]
    hook.val_dataloader.update(num_workers=0, persistent_workers=False)
    _shrink_dataset(hook.val_dataloader.dataset, root)
    # the config's warm-up epoch (search_begin=1), one search epoch, one frozen epoch
    hook.update(search_epochs=2, update_interval=1)
    hook.estimator.update(num_images=1, magnitude_ops=0)  # 7 candidates an update
    if 'rpn_proposal' in cfg.model.train_cfg:  # fewer proposals: a faster CPU test
        cfg.model.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
        cfg.model.train_cfg.rcnn.sampler.num = 64
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg',
                'test_evaluator'):
        cfg.pop(key, None)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=3)
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.randomness = dict(seed=0)
    return cfg


@pytest.mark.parametrize('model', MODELS)
def test_search_config_trains_searches_and_writes_a_policy(tmp_path, coco_root, model):
    from mmengine.config import Config

    from tools import train
    cfg = Config.fromfile(osp.join(REPO, 'configs', f'{model}_dada-search_coco.py'))
    hook = cfg.custom_hooks[0]
    assert hook.type == 'DADASearchHook' and hook.estimator.type == 'candidates'
    train_split, held_out = cfg.train_dataloader.dataset, hook.val_dataloader.dataset
    assert (train_split.part, held_out.part) == ('train', 'held_out')
    assert (train_split.seed, train_split.held_out) == (held_out.seed, held_out.held_out)
    held_out_steps = [t['type'] for t in held_out.dataset.pipeline]
    assert 'RandomFlip' not in held_out_steps and 'LoadAnnotations' in held_out_steps
    assert hook.learner.search_begin == 1 and hook.search_epochs == 5  # 4 search epochs
    path = tmp_path / f'{model}_search_tiny.py'
    shrink(cfg, coco_root).dump(str(path))
    work_dir = str(tmp_path / 'work')
    runner = train.main([str(path), '--work-dir', work_dir])
    search = next(h for h in runner.hooks if type(h).__name__ == 'DADASearchHook')
    # 6 training images, batch 2: a warm-up epoch, 3 updates in the search epoch, then
    # frozen
    assert search.search_begin == 1
    assert search.updates == 3 and search.skipped_updates == 0 and runner.iter == 9
    with open(osp.join(work_dir, 'dada_policy.json')) as f:
        written = json.load(f)
    assert written['meta']['frozen'] and len(written['sub_policies']) == 25


def test_train_and_held_out_images_are_disjoint_and_cover_the_set(coco_root):
    from mmengine.config import Config
    from mmengine.registry import DATASETS, DefaultScope
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'retinanet_dada-search_coco.py'))
    cfg = shrink(cfg, coco_root)
    with DefaultScope.overwrite_default_scope('mmdet'):
        train = DATASETS.build(cfg.train_dataloader.dataset)
        held_out = DATASETS.build(cfg.custom_hooks[0].val_dataloader.dataset)
    paths = [{train.get_data_info(i)['img_path'] for i in range(len(train))},
             {held_out.get_data_info(i)['img_path'] for i in range(len(held_out))}]
    assert len(paths[1]) == 2 and not paths[0] & paths[1]
    assert len(paths[0] | paths[1]) == 8


def test_demo_search_config_trains_and_writes_a_policy(tmp_path, coco_root):
    from mmengine.config import Config

    from tools import train
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo', 'demo_retinanet_search_shapes.py'))
    steps = [t['type'] for t in cfg.train_dataloader.dataset.dataset.pipeline]
    assert 'DADAAugment' not in steps  # the hook applies the policy
    cfg.model.backbone.init_cfg = None
    for split in (cfg.train_dataloader.dataset, cfg.custom_hooks[0].val_dataloader.dataset):
        split.held_out = 2
        split.dataset.data_root = coco_root
    cfg.train_dataloader.update(num_workers=0, persistent_workers=False, batch_size=2)
    assert cfg.custom_hooks[0].learner.search_begin == 4 and cfg.search_epochs == 12
    cfg.custom_hooks[0].update(search_epochs=1, update_interval=1,
                               learner=dict(search_begin=0))
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg',
                'test_evaluator'):
        cfg.pop(key, None)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    cfg.param_scheduler = []
    path = tmp_path / 'demo_search_tiny.py'
    cfg.dump(str(path))
    runner = train.main([str(path), '--work-dir', str(tmp_path / 'work')])
    search = next(h for h in runner.hooks if type(h).__name__ == 'DADASearchHook')
    assert search.updates == 3 and runner.iter == 3
    with open(tmp_path / 'work' / 'dada_policy.json') as f:
        assert json.load(f)['meta']['frozen']
