"""DADAAugment added to *unmodified* stock configs (docs/reuse_dada_augment.md).

The stock mmdet configs come from the installed package; their training pipeline is built
with ``mmengine.dataset.Compose`` and run on a generated COCO-format sample, and the boxes
must have moved exactly as the recorded homography says.
"""
import json
import os.path as osp
import re

import numpy as np
import pytest

from dada_mm.transforms.annotations import project_boxes


def _need_mmdet():
    try:
        import mmcv.ops  # noqa: F401
        import mmdet.datasets  # noqa: F401
    except ImportError as e:
        pytest.skip(f'mmdet datasets need mmcv.ops: {e}')


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    from dada_mm.datasets.synthetic import make_coco_set
    root = str(tmp_path_factory.mktemp('coco_reuse'))
    make_coco_set(root, num_classes=4, train_images=4, val_images=1, size=(96, 128))
    return root


def _samples(root, with_mask):
    """data_info dicts as CocoDataset.parse_data_info writes them (no pipeline)."""
    from mmdet.datasets import CocoDataset
    ds = CocoDataset(data_root=root, ann_file='annotations/instances_train2017.json',
                     data_prefix=dict(img='train2017/'), pipeline=[],
                     metainfo=dict(classes=('circle', 'square', 'triangle', 'cross')))
    return [ds.get_data_info(i) for i in range(len(ds))]


def _stock_with_dada(name, policy):
    from mmengine.hub import get_config

    from dada_mm.utils.pipeline import add_dada_augment, train_pipeline_of
    cfg = get_config(f'mmdet::{name}')
    stock = [t['type'] for t in train_pipeline_of(cfg)]
    add_dada_augment(cfg, policy=policy)
    pipeline = train_pipeline_of(cfg)
    types = [t['type'] for t in pipeline]
    assert types == stock[:stock.index('RandomFlip') + 1] + [
        'DADAAugment', 'FilterAnnotations'] + stock[stock.index('RandomFlip') + 1:]
    assert 'dada_mm' in cfg.custom_imports['imports']
    for t in pipeline:  # tiny images for the test
        if t['type'] == 'Resize':
            t['scale'] = (160, 120)
    return cfg, pipeline


@pytest.mark.parametrize('name,with_mask', [
    ('retinanet/retinanet_r50_fpn_1x_coco.py', False),
    ('mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', True)])
def test_stock_config_plus_dada_moves_boxes_consistently(coco_root, name, with_mask):
    _need_mmdet()
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope

    import dada_mm  # noqa: F401
    init_default_scope('mmdet')
    policy = [[dict(op='Rotate', prob=1.0, magnitude=0.85)]]
    cfg, pipeline = _stock_with_dada(name, policy)
    # everything up to (not including) PackDetInputs, to look at the raw results
    transforms = Compose(pipeline[:-1])
    for k, info in enumerate(_samples(coco_root, with_mask)):
        np.random.seed(k)
        orig = np.array([inst['bbox'] for inst in info['instances']], np.float32)
        labels = [inst['bbox_label'] for inst in info['instances']]
        out = transforms(dict(info))
        assert out is not None
        assert out['dada_applied_ops'] == ['Rotate']
        h, w = out['img'].shape[:2]
        # boxes == original boxes through Resize, RandomFlip and Rotate (all recorded
        # in homography_matrix), clipped; Resize/flip map boxes to boxes exactly
        expected = project_boxes(orig, out['homography_matrix'], (h, w))
        keep = ((expected[:, 2] - expected[:, 0]) > 1e-2) & \
            ((expected[:, 3] - expected[:, 1]) > 1e-2)
        got = out['gt_bboxes'].tensor.numpy()
        np.testing.assert_allclose(got, expected[keep], atol=1e-3)
        assert out['gt_bboxes_labels'].tolist() == [lab for lab, kk in zip(labels, keep)
                                                    if kk]
        assert len(out['gt_ignore_flags']) == len(got)
        if with_mask:
            masks = out['gt_masks']
            assert len(masks) == len(got) and masks.masks.shape[1:] == (h, w)
            for m, box in zip(masks.masks, got):
                ys, xs = np.nonzero(m)
                if len(xs) == 0:
                    continue
                # mask pixels lie in their (moved) box, up to nearest-neighbour rounding
                assert xs.min() >= box[0] - 1.5 and xs.max() + 1 <= box[2] + 1.5
                assert ys.min() >= box[1] - 1.5 and ys.max() + 1 <= box[3] + 1.5
    # and the full stock pipeline with the released ImageNet policy packs fine
    full = Compose(_stock_with_dada(name, 'dada-imagenet')[1])
    for k, info in enumerate(_samples(coco_root, with_mask)):
        np.random.seed(100 + k)
        packed = full(dict(info))
        if packed is None:  # FilterAnnotations dropped an image with no box left
            continue
        gt = packed['data_samples'].gt_instances
        assert len(gt.bboxes) == len(gt.labels)
        if with_mask:
            assert len(gt.masks) == len(gt.labels)


def _without_scope(pipeline):
    return [{k: v for k, v in t.items() if k != '_scope_'} for t in pipeline]


def test_documented_config_snippet_parses(tmp_path):
    """The configs of docs/reuse_dada_augment.md section 1 are valid as written: the stock
    training pipeline with the DADA lines spliced in after RandomFlip, nothing else moved."""
    from mmengine.config import Config
    from mmengine.hub import get_config
    doc = open(osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'docs',
                        'reuse_dada_augment.md')).read()
    blocks = doc.split('```python\n')[1:3]
    added = ('DADAAugment', 'FilterAnnotations')
    for i, block in enumerate(blocks):
        path = tmp_path / f'cfg{i}.py'
        path.write_text(block.split('```')[0])
        cfg = Config.fromfile(str(path))
        pipeline = cfg.train_dataloader.dataset.pipeline
        types = [t['type'] for t in pipeline]
        assert 'DADAAugment' in types
        assert types[types.index('DADAAugment') - 1] == 'RandomFlip'
        assert cfg.custom_imports['imports'] == ['dada_mm']
        assert json.dumps(pipeline)  # plain data
        stock = get_config(re.search(r"^_base_ = '([^']+)'", block, re.M).group(1))
        assert _without_scope([t for t in pipeline if t['type'] not in added]) == \
            _without_scope(stock.train_dataloader.dataset.pipeline)
        # dumped, it is a standalone config with the same pipeline
        cfg.dump(str(tmp_path / f'dumped{i}.py'))
        again = Config.fromfile(str(tmp_path / f'dumped{i}.py'))
        assert again.train_dataloader.dataset.pipeline == pipeline


def test_train_transform_key_finds_the_transform_by_type():
    """The --cfg-options key of a config's DADAAugment, found by its type."""
    from mmengine.config import Config

    from dada_mm.utils.pipeline import train_transform_key
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    expected = {'retinanet_dada_coco': 4, 'mask-rcnn_dada_coco': 4,
                'retinanet_zoph-v0_coco': 2, 'dada_retrain_resnet50_imagenet': 3,
                'demo/demo_pretrain_shapes': 3, 'demo/demo_retinanet_shapes': 4}
    for name, index in expected.items():
        cfg = Config.fromfile(osp.join(repo, 'configs', f'{name}.py'))
        key = train_transform_key(cfg)
        assert key == f'train_dataloader.dataset.pipeline.{index}', name
        cfg.merge_from_dict({f'{key}.policy': 'my_policy.json'})
        assert cfg.train_dataloader.dataset.pipeline[index] == dict(
            type='DADAAugment', policy='my_policy.json'), name
    cfg = Config.fromfile(osp.join(repo, 'configs', 'retinanet_dada_coco.py'))
    assert train_transform_key(cfg, 'RandomFlip') == 'train_dataloader.dataset.pipeline.3'
    # through dataset wrappers
    wrapped = Config(dict(train_dataloader=dict(dataset=dict(
        type='RepeatDataset', times=2, dataset=dict(pipeline=[
            dict(type='LoadImageFromFile'), dict(type='DADAAugment', policy='x')])))))
    assert train_transform_key(wrapped) == 'train_dataloader.dataset.dataset.pipeline.1'
    # none, or two: no key to give
    base = Config.fromfile(osp.join(repo, 'configs', 'retinanet_baseline_coco.py'))
    with pytest.raises(ValueError, match="0 'DADAAugment'"):
        train_transform_key(base)
    base.train_dataloader.dataset.pipeline += [dict(type='DADAAugment')] * 2
    with pytest.raises(ValueError, match="2 'DADAAugment'"):
        train_transform_key(base)
    with pytest.raises(KeyError):
        train_transform_key(Config(dict(train_dataloader=dict(dataset=dict(
            type='ConcatDataset', datasets=[])))))
