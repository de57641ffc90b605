"""The DADA detection configs train and evaluate (COCO metrics) through tools/train.py.

Each of ``configs/{retinanet,faster-rcnn,mask-rcnn}_dada_coco.py`` is loaded as shipped
(DADAAugment with the 'dada-imagenet' preset in the training pipeline) and shrunk for a
2-core CPU: ResNet-18 backbone with 16 base channels and no pretrained file, 128x96
images, the generated 4-class COCO-format set (6 train / 3 val images), batch 2, one
epoch (3 iterations), then COCO evaluation on the val set. Score thresholds are set to 0
so that the barely-trained detectors still output boxes to evaluate.
"""
import glob
import json
import math
import os.path as osp
import uuid

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLASSES = ('circle', 'square', 'triangle', 'cross')


def _need_mmcv_ops():
    try:
        import mmcv.ops  # noqa: F401
        import mmdet.models  # noqa: F401
    except ImportError as e:
        pytest.skip(f'detector training needs the full mmcv build (mmcv.ops): {e}')


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    from dada_mm.datasets.synthetic import make_coco_set
    root = str(tmp_path_factory.mktemp('coco_det'))
    make_coco_set(root, num_classes=4, train_images=6, val_images=3, size=(96, 128))
    return root + '/'


def _resize_small(pipeline):
    for t in pipeline:
        if t['type'] == 'Resize':
            t['scale'] = (128, 96)


def shrink(cfg, root):
    cfg.model.backbone.update(depth=18, base_channels=16, init_cfg=None)
    cfg.model.neck.in_channels = [16, 32, 64, 128]
    test_cfg = cfg.model.test_cfg
    if 'rcnn' in test_cfg:
        test_cfg.rcnn.score_thr = 0.0
    else:
        test_cfg.score_thr = 0.0
    head = cfg.model.roi_head.bbox_head if 'roi_head' in cfg.model else cfg.model.bbox_head
    head.num_classes = len(CLASSES)
    if 'roi_head' in cfg.model and 'mask_head' in cfg.model.roi_head:
        cfg.model.roi_head.mask_head.num_classes = len(CLASSES)
    meta = dict(classes=CLASSES)
    train = cfg.train_dataloader
    train.update(batch_size=2, num_workers=0, persistent_workers=False)
    train.dataset.update(data_root=root, metainfo=meta)
    _resize_small(train.dataset.pipeline)
    for key in ('val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.update(batch_size=1, num_workers=0, persistent_workers=False)
        loader.dataset.update(data_root=root, metainfo=meta)
        _resize_small(loader.dataset.pipeline)
    for key in ('val_evaluator', 'test_evaluator'):
        cfg[key].ann_file = root + 'annotations/instances_val2017.json'
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.randomness = dict(seed=0)
    # the visualizer is a process-wide singleton per name: a fresh name per run makes it
    # write this run's scalars.json (not the first run's) when tests share a process
    cfg.visualizer.name = f'visualizer_{uuid.uuid4().hex}'
    return cfg


def _scalars(work_dir):
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert files, f'no scalars.json under {work_dir}'
    rows = []
    for path in files:
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


@pytest.mark.parametrize('name,metrics', [
    ('retinanet_dada_coco', ('coco/bbox_mAP',)),
    ('faster-rcnn_dada_coco', ('coco/bbox_mAP',)),
    ('mask-rcnn_dada_coco', ('coco/bbox_mAP', 'coco/segm_mAP')),
])
def test_dada_config_trains_and_evaluates(tmp_path, coco_root, name, metrics):
    _need_mmcv_ops()
    from mmengine.config import Config

    from tools import train

    cfg = Config.fromfile(osp.join(REPO, 'configs', f'{name}.py'))
    pipeline_types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert pipeline_types.index('DADAAugment') == pipeline_types.index('RandomFlip') + 1
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint='work_dirs/dada_resnet50_imagenet/backbone.pth')
    cfg = shrink(cfg, coco_root)
    path = tmp_path / f'{name}_tiny.py'
    cfg.dump(str(path))
    work_dir = str(tmp_path / 'work')
    runner = train.main([str(path), '--work-dir', work_dir])
    assert runner.iter == 3
    rows = _scalars(work_dir)
    evaluated = [r for r in rows if metrics[0] in r]
    assert evaluated, f'no {metrics[0]} logged: {rows[-1] if rows else rows}'
    for key in metrics:
        value = evaluated[-1][key]
        assert isinstance(value, float) and math.isfinite(value), (key, value)
    assert any('loss' in r for r in rows)


@pytest.mark.parametrize('model', ['retinanet', 'faster-rcnn', 'mask-rcnn'])
def test_baseline_differs_only_in_backbone_and_policy(model):
    """Baseline vs DADA config: the same except backbone init and the DADA transforms."""
    from mmengine.config import Config
    dada = Config.fromfile(osp.join(REPO, 'configs', f'{model}_dada_coco.py'))
    base = Config.fromfile(osp.join(REPO, 'configs', f'{model}_baseline_coco.py'))
    assert base.model.backbone.init_cfg == dict(type='Pretrained',
                                                checkpoint='torchvision://resnet50')
    assert dada.model.backbone.init_cfg.checkpoint == dada.backbone_checkpoint
    assert 'DADAAugment' not in str(base.train_dataloader.dataset.pipeline)
    d, b = dada.to_dict(), base.to_dict()
    d['model']['backbone'].pop('init_cfg')
    b['model']['backbone'].pop('init_cfg')
    d['train_dataloader']['dataset']['pipeline'] = [
        t for t in d['train_dataloader']['dataset']['pipeline']
        if t['type'] not in ('DADAAugment', 'FilterAnnotations')]
    for cfg in (d, b):
        for key in ('custom_imports', 'backbone_checkpoint', 'use_dada_policy',
                    'dada_policy', 'dada_train_transforms', 'train_pipeline'):
            cfg.pop(key, None)
    assert d == b
    # the data paths all follow data_root
    for cfg in (dada, base):
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            assert cfg[key].dataset.data_root == cfg.data_root
        assert cfg.val_evaluator.ann_file.startswith(cfg.data_root)
        assert cfg.test_evaluator.ann_file.startswith(cfg.data_root)


def _load(name):
    from mmengine.config import Config
    return Config.fromfile(osp.join(REPO, 'configs', f'{name}.py'))


def _types(pipeline):
    return [t['type'] for t in pipeline]


POLICY_TYPES = ('DADAAugment', 'FilterAnnotations')


@pytest.mark.parametrize('model', ['retinanet', 'faster-rcnn', 'mask-rcnn'])
def test_baseline_has_no_dada_transform(model):
    base = _load(f'{model}_baseline_coco')
    pipeline = base.train_dataloader.dataset.pipeline
    assert not set(POLICY_TYPES) & set(_types(pipeline))
    assert _types(pipeline) == ['LoadImageFromFile', 'LoadAnnotations', 'Resize',
                                'RandomFlip', 'PackDetInputs']
    assert base.train_pipeline == pipeline
    # no DADA leftovers (switches, placeholders, imports) in a baseline
    for key in ('custom_imports', 'dada_train_transforms', 'dada_policy',
                'use_dada_policy', 'backbone_checkpoint', 'zoph_policy'):
        assert key not in base, key


@pytest.mark.parametrize('model', ['retinanet', 'faster-rcnn', 'mask-rcnn'])
def test_merged_dada_config_puts_the_policy_after_random_flip(model):
    """configs/<model>_dada_coco.py = baseline + configs/_base_/dada_detection.py: the
    baseline's pipeline with DADAAugment + FilterAnnotations spliced in after RandomFlip
    (pipeline index 4, the index docs/reuse_dada_augment.md uses), nothing else moved."""
    dada, base = _load(f'{model}_dada_coco'), _load(f'{model}_baseline_coco')
    pipeline = dada.train_dataloader.dataset.pipeline
    stock = base.train_dataloader.dataset.pipeline
    flip = _types(stock).index('RandomFlip')
    assert _types(pipeline) == (_types(stock)[:flip + 1] + list(POLICY_TYPES)
                                + _types(stock)[flip + 1:])
    assert _types(pipeline).index('DADAAugment') == 4
    assert pipeline[flip + 1] == dict(type='DADAAugment', policy=dada.dada_policy)
    assert dada.dada_policy == 'dada-imagenet' and dada.use_dada_policy is True
    assert pipeline[flip + 2] == dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2))
    assert pipeline[:flip + 1] + pipeline[flip + 3:] == stock
    assert dada.train_pipeline == pipeline
    assert dada.dada_train_transforms == pipeline[flip + 1:flip + 3]
    assert dada.custom_imports == dict(imports=['dada_mm'], allow_failed_imports=False)
    # plain data, as written in the files (no `_scope_` added by the splice)
    assert '_scope_' not in str(pipeline)
    assert dada.data_root == base.data_root == 'data/coco/'


@pytest.mark.parametrize('model', ['retinanet', 'faster-rcnn'])
def test_merged_zoph_config_puts_the_policy_before_resize(model):
    """configs/<model>_zoph-v0_coco.py = baseline + configs/_base_/zoph_detection.py: the
    policy right after LoadAnnotations; otherwise the baseline (the stock config)."""
    zoph, base = _load(f'{model}_zoph-v0_coco'), _load(f'{model}_baseline_coco')
    pipeline = zoph.train_dataloader.dataset.pipeline
    stock = base.train_dataloader.dataset.pipeline
    assert _types(pipeline) == ['LoadImageFromFile', 'LoadAnnotations', *POLICY_TYPES,
                                'Resize', 'RandomFlip', 'PackDetInputs']
    assert pipeline[2] == dict(type='DADAAugment', policy='zoph-det-v0')
    assert zoph.zoph_policy == 'zoph-det-v0'
    assert pipeline[:2] + pipeline[4:] == stock
    assert zoph.train_pipeline == pipeline
    assert 'dada_policy' not in zoph and 'backbone_checkpoint' not in zoph
    z, b = zoph.to_dict(), base.to_dict()
    for cfg in (z, b):
        cfg['train_dataloader']['dataset'].pop('pipeline')
        for key in ('custom_imports', 'zoph_policy', 'zoph_train_transforms',
                    'train_pipeline'):
            cfg.pop(key, None)
    assert z == b


def _configs_copy(tmp_path):
    import shutil
    dst = tmp_path / 'configs'
    shutil.copytree(osp.join(REPO, 'configs'), dst,
                    ignore=shutil.ignore_patterns('__pycache__'))
    return dst


@pytest.mark.parametrize('model', ['retinanet', 'faster-rcnn', 'mask-rcnn'])
def test_switch_off_policy_needs_no_list_edit(tmp_path, model):
    """The pipeline is computed from the switch in configs/_base_/dada_detection.py, so
    flipping `use_dada_policy` there is all that is needed: each DADA config then trains
    the baseline's pipeline (with the DADA backbone)."""
    from mmengine.config import Config
    configs = _configs_copy(tmp_path)
    switches = configs / '_base_' / 'dada_detection.py'
    src = switches.read_text()
    assert 'use_dada_policy = True' in src
    switches.write_text(src.replace('use_dada_policy = True', 'use_dada_policy = False'))
    cfg = Config.fromfile(str(configs / f'{model}_dada_coco.py'))
    base = Config.fromfile(str(configs / f'{model}_baseline_coco.py'))
    assert cfg.train_dataloader.dataset.pipeline == base.train_dataloader.dataset.pipeline
    assert cfg.model.backbone.init_cfg.checkpoint == cfg.backbone_checkpoint


def test_policy_switch_holds_for_every_detector(tmp_path):
    """One edit of `dada_policy` in configs/_base_/dada_detection.py reaches all three."""
    from mmengine.config import Config
    configs = _configs_copy(tmp_path)
    switches = configs / '_base_' / 'dada_detection.py'
    switches.write_text(switches.read_text().replace(
        "dada_policy = 'dada-imagenet'", "dada_policy = 'my_policy.json'"))
    for model in ('retinanet', 'faster-rcnn', 'mask-rcnn'):
        cfg = Config.fromfile(str(configs / f'{model}_dada_coco.py'))
        (dada, ) = [t for t in cfg.train_dataloader.dataset.pipeline
                    if t['type'] == 'DADAAugment']
        assert dada.policy == 'my_policy.json'
