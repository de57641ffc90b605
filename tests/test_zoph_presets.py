"""The zoph-det-v0..v3 presets: published data, family rules, mmdet pipelines, configs,
tools/vis_policy.py, and bad input."""
import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from dada_mm import DADAAugment
from dada_mm.policy import (
    PolicyError,
    list_presets,
    load_preset,
    policy_op_family,
    resolve_policy,
    save_policy_file,
)
from dada_mm.search_space import get_op
from dada_mm.transforms import ZophDetectionAugment

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

# tensorflow/tpu models/official/detection/utils/autoaugment_utils.py policy_v0..v3,
# transcribed separately from the preset files: (op, prob, level)
PUBLISHED = {
    'v0': [
        [('TranslateX_BBox', 0.6, 4), ('Equalize', 0.8, 10)],
        [('TranslateY_Only_BBoxes', 0.2, 2), ('Cutout', 0.8, 8)],
        [('Sharpness', 0.0, 8), ('ShearX_BBox', 0.4, 0)],
        [('ShearY_BBox', 1.0, 2), ('TranslateY_Only_BBoxes', 0.6, 6)],
        [('Rotate_BBox', 0.6, 10), ('Color', 1.0, 6)]],
    'v1_extra': [  # v1 = v0 followed by these
        [('Color', 0.0, 0), ('ShearX_Only_BBoxes', 0.8, 4)],
        [('ShearY_Only_BBoxes', 0.8, 2), ('Flip_Only_BBoxes', 0.0, 10)],
        [('Equalize', 0.6, 10), ('TranslateX_BBox', 0.2, 2)],
        [('Color', 1.0, 10), ('TranslateY_Only_BBoxes', 0.4, 6)],
        [('Rotate_BBox', 0.8, 10), ('Contrast', 0.0, 10)],
        [('Cutout', 0.2, 2), ('Brightness', 0.8, 10)],
        [('Color', 1.0, 6), ('Equalize', 1.0, 2)],
        [('Cutout_Only_BBoxes', 0.4, 6), ('TranslateY_Only_BBoxes', 0.8, 2)],
        [('Color', 0.2, 8), ('Rotate_BBox', 0.8, 10)],
        [('Sharpness', 0.4, 4), ('TranslateY_Only_BBoxes', 0.0, 4)],
        [('Sharpness', 1.0, 4), ('SolarizeAdd', 0.4, 4)],
        [('Rotate_BBox', 1.0, 8), ('Sharpness', 0.2, 8)],
        [('ShearY_BBox', 0.6, 10), ('Equalize_Only_BBoxes', 0.6, 8)],
        [('ShearX_BBox', 0.2, 6), ('TranslateY_Only_BBoxes', 0.2, 10)],
        [('SolarizeAdd', 0.6, 8), ('Brightness', 0.8, 10)]],
    'v2': [
        [('Color', 0.0, 6), ('Cutout', 0.6, 8), ('Sharpness', 0.4, 8)],
        [('Rotate_BBox', 0.4, 8), ('Sharpness', 0.4, 2), ('Rotate_BBox', 0.8, 10)],
        [('TranslateY_BBox', 1.0, 8), ('AutoContrast', 0.8, 2)],
        [('AutoContrast', 0.4, 6), ('ShearX_BBox', 0.8, 8), ('Brightness', 0.0, 10)],
        [('SolarizeAdd', 0.2, 6), ('Contrast', 0.0, 10), ('AutoContrast', 0.6, 0)],
        [('Cutout', 0.2, 0), ('Solarize', 0.8, 8), ('Color', 1.0, 4)],
        [('TranslateY_BBox', 0.0, 4), ('Equalize', 0.6, 8), ('Solarize', 0.0, 10)],
        [('TranslateY_BBox', 0.2, 2), ('ShearY_BBox', 0.8, 8), ('Rotate_BBox', 0.8, 8)],
        [('Cutout', 0.8, 8), ('Brightness', 0.8, 8), ('Cutout', 0.2, 2)],
        [('Color', 0.8, 4), ('TranslateY_BBox', 1.0, 6), ('Rotate_BBox', 0.6, 6)],
        [('Rotate_BBox', 0.6, 10), ('BBox_Cutout', 1.0, 4), ('Cutout', 0.2, 8)],
        [('Rotate_BBox', 0.0, 0), ('Equalize', 0.6, 6), ('ShearY_BBox', 0.6, 8)],
        [('Brightness', 0.8, 8), ('AutoContrast', 0.4, 2), ('Brightness', 0.2, 2)],
        [('TranslateY_BBox', 0.4, 8), ('Solarize', 0.4, 6), ('SolarizeAdd', 0.2, 10)],
        [('Contrast', 1.0, 10), ('SolarizeAdd', 0.2, 8), ('Equalize', 0.2, 4)]],
    'v3': [
        [('Posterize', 0.8, 2), ('TranslateX_BBox', 1.0, 8)],
        [('BBox_Cutout', 0.2, 10), ('Sharpness', 1.0, 8)],
        [('Rotate_BBox', 0.6, 8), ('Rotate_BBox', 0.8, 10)],
        [('Equalize', 0.8, 10), ('AutoContrast', 0.2, 10)],
        [('SolarizeAdd', 0.2, 2), ('TranslateY_BBox', 0.2, 8)],
        [('Sharpness', 0.0, 2), ('Color', 0.4, 8)],
        [('Equalize', 1.0, 8), ('TranslateY_BBox', 1.0, 8)],
        [('Posterize', 0.6, 2), ('Rotate_BBox', 0.0, 10)],
        [('AutoContrast', 0.6, 0), ('Rotate_BBox', 1.0, 6)],
        [('Equalize', 0.0, 4), ('Cutout', 0.8, 10)],
        [('Brightness', 1.0, 2), ('TranslateY_BBox', 1.0, 6)],
        [('Contrast', 0.0, 2), ('ShearY_BBox', 0.8, 0)],
        [('AutoContrast', 0.8, 10), ('Contrast', 0.2, 10)],
        [('Rotate_BBox', 1.0, 10), ('Cutout', 1.0, 10)],
        [('SolarizeAdd', 0.8, 6), ('Equalize', 0.8, 8)]],
}
PUBLISHED['v1'] = PUBLISHED['v0'] + PUBLISHED['v1_extra']
VERSIONS = ('v0', 'v1', 'v2', 'v3')


@pytest.mark.parametrize('version', VERSIONS)
def test_preset_is_the_published_policy(version):
    name = f'zoph-det-{version}'
    assert name in list_presets()
    doc = load_preset(name)
    assert policy_op_family(doc) == 'zoph-detection'
    got = [[(op['op'], op['prob'], round(op['magnitude'] * 10, 9)) for op in sub]
           for sub in doc['sub_policies']]
    assert got == [[(o, p, float(lv)) for o, p, lv in sub] for sub in PUBLISHED[version]]
    meta = doc['meta']
    assert 'tensorflow/tpu' in meta['source'] and 'autoaugment_utils.py' in meta['source']
    assert 'uniformly' in meta['semantics'] and 'prob / 3' in meta['semantics']


# ------------------------------------------------------------------- family rules
def test_inline_family_inference_and_explicit_family():
    det = resolve_policy([[dict(op='Rotate_BBox', prob=0.5, magnitude=1.0)]])
    assert det['meta'] == {'source': 'inline', 'op_family': 'zoph-detection'}
    shared = [[dict(op='Color', prob=0.5, magnitude=0.6)]]
    assert resolve_policy(shared)['meta'] == {'source': 'inline'}  # DADA by default
    assert policy_op_family(resolve_policy(shared, op_family='zoph-detection')) == \
        'zoph-detection'
    inline_doc = resolve_policy({'sub_policies': shared}, op_family='zoph-detection')
    assert policy_op_family(inline_doc) == 'zoph-detection'


def test_dada_and_detection_policies_refused_where_the_other_is_expected():
    with pytest.raises(PolicyError, match=r"zoph-det-v0 is a 'zoph-detection' policy.*"
                                          r"'dada' policy is needed.*15-op DADA"):
        resolve_policy('zoph-det-v0', op_family='dada')
    with pytest.raises(PolicyError, match=r"dada-imagenet is a 'dada' policy.*"
                                          r"'zoph-detection' policy is needed"):
        ZophDetectionAugment(policy='dada-imagenet')
    with pytest.raises(PolicyError, match=r"'dada' policy is needed"):
        DADAAugment(policy='zoph-det-v1', op_family='dada')
    with pytest.raises(KeyError, match=r"'Rotate_BBox' is an op of the zoph-detection "
                                       r"family, which the 15-op DADA space does not"):
        get_op('Rotate_BBox')


def test_mixed_or_wrong_op_names_name_the_field():
    mixed = [[dict(op='ShearX', prob=0.5, magnitude=0.5),
              dict(op='Rotate_BBox', prob=0.5, magnitude=0.5)]]
    with pytest.raises(PolicyError, match=r"policy.sub_policies\[0\]\[0\].op: unknown op "
                                          r"'ShearX' in the 'zoph-detection' family; valid "
                                          r"ops are: AutoContrast, .*Cutout_Only_BBoxes"):
        resolve_policy(mixed)
    doc = {'sub_policies': [[dict(op='TranslateY_Only_BBoxes', prob=0.5, magnitude=0.5)]]}
    with pytest.raises(PolicyError, match=r"unknown op 'TranslateY_Only_BBoxes'; valid ops "
                                          r"are: ShearX.*set meta.op_family"):
        resolve_policy(doc)  # a document without meta.op_family is DADA
    with pytest.raises(PolicyError, match=r'meta.op_family must be one of '
                                          r"\['dada', 'zoph-detection'\], got 'zoph'"):
        resolve_policy({**doc, 'meta': {'op_family': 'zoph'}})
    with pytest.raises(PolicyError, match=r'op_family must be one of'):
        resolve_policy('zoph-det-v0', op_family='detection')
    bad = [[dict(op='Rotate_BBox', prob=1.5, magnitude=0.5)]]
    with pytest.raises(PolicyError, match=r'sub_policies\[0\]\[0\].prob must be a number'):
        resolve_policy(bad)


def test_detection_policy_files_round_trip(tmp_path):
    path = tmp_path / 'det.json'
    subs = load_preset('zoph-det-v2')['sub_policies']
    save_policy_file(path, subs, {'op_family': 'zoph-detection', 'source': 'test'})
    doc = resolve_policy(str(path))
    assert doc['sub_policies'] == subs and policy_op_family(doc) == 'zoph-detection'
    with pytest.raises(PolicyError, match='unknown op'):
        save_policy_file(tmp_path / 'bad.json', subs, {})  # detection ops, no family
    assert not (tmp_path / 'bad.json').exists()
    assert isinstance(DADAAugment(policy=str(path))._detection, ZophDetectionAugment)


def test_box_ops_without_gt_bboxes_name_the_key():
    img = np.zeros((20, 30, 3), np.uint8)
    aug = ZophDetectionAugment('zoph-det-v0')
    with pytest.raises(ValueError, match=r"TranslateY_Only_BBoxes\) need "
                                         r"results\['gt_bboxes'\], which is missing"):
        aug(dict(img=img))
    with pytest.raises(ValueError, match=r"BBox_Cutout"):
        DADAAugment(policy='zoph-det-v2')(dict(img=img))
    # a policy without box ops runs on images alone (e.g. in a classification pipeline)
    whole = ZophDetectionAugment([[dict(op='Rotate_BBox', prob=1.0, magnitude=1.0)]])
    assert whole(dict(img=img))['img'].shape == img.shape


@pytest.mark.parametrize('img,error', [
    (np.zeros((8, 8, 3), np.float32), TypeError),
    (np.zeros((8, 8, 4), np.uint8), ValueError),
    (np.zeros((8, 8, 2), np.uint8), ValueError),
    (np.zeros((0, 8, 3), np.uint8), ValueError),
])
def test_bad_images(img, error):
    with pytest.raises(error, match=r"results\['img'\]"):
        ZophDetectionAugment('zoph-det-v3')(dict(img=img, gt_bboxes=np.zeros((0, 4))))


@pytest.mark.parametrize('kwargs,field', [
    (dict(top_k=0), 'top_k'), (dict(magnitude_scale=-1), 'magnitude_scale'),
    (dict(interpolation='area'), 'interpolation'), (dict(channel_order='hsv'),
                                                    'channel_order'),
    (dict(fill=300), 'fill'), (dict(cutout_fill=(1, 2)), 'cutout_fill')])
def test_bad_options(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ZophDetectionAugment('zoph-det-v0', **kwargs)


def test_bad_boxes():
    img = np.zeros((20, 30, 3), np.uint8)
    aug = ZophDetectionAugment([[dict(op='Flip_Only_BBoxes', prob=1.0, magnitude=0.0)]])
    with pytest.raises(ValueError, match=r"gt_bboxes'\] must be \(N, 4\)"):
        aug(dict(img=img, gt_bboxes=np.zeros((2, 5))))
    with pytest.raises(TypeError, match=r"gt_bboxes'\] must be mmdet BaseBoxes"):
        aug(dict(img=img, gt_bboxes=[[0, 0, 1, 1]]))


# -------------------------------------------------------------- stock mmdet pipeline
def _need_mmdet():
    try:
        import mmcv.ops  # noqa: F401
        import mmdet.datasets.transforms  # noqa: F401
    except ImportError as e:
        pytest.skip(f'mmdet transforms need mmcv.ops: {e}')


def _coco_sample(tmp_path, with_mask=True):
    h, w = 96, 128
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, img)
    boxes = [(10, 12, 50, 60), (30, 30, 90, 80), (100, 5, 120, 40)]  # two overlap
    instances = [dict(bbox=list(map(float, b)), bbox_label=k, ignore_flag=0,
                      mask=[[b[0], b[1], b[2], b[1], b[2], b[3], b[0], b[3]]])
                 for k, b in enumerate(boxes)]
    return dict(img_path=path, img_id=0, height=h, width=w, instances=instances)


@pytest.mark.parametrize('version', VERSIONS)
def test_presets_apply_in_a_stock_mmdet_pipeline(tmp_path, version):
    """Built from the installed mmdet with its registry (default scope mmdet) and
    mmengine's Compose: LoadImageFromFile -> LoadAnnotations (boxes + polygon masks) ->
    DADAAugment(policy=preset) -> FilterAnnotations -> Resize -> RandomFlip ->
    PackDetInputs."""
    _need_mmdet()
    from mmdet.utils import register_all_modules
    from mmengine.dataset import Compose
    register_all_modules(init_default_scope=True)
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
        dict(type='DADAAugment', policy=f'zoph-det-{version}'),
        dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
        dict(type='Resize', scale=(160, 120), keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs'),
    ])
    sample = _coco_sample(tmp_path)
    used, packed = set(), 0
    for seed in range(40):
        np.random.seed(seed)
        results = dict(sample, instances=[dict(i) for i in sample['instances']])
        for t in pipeline.transforms:
            if type(t).__name__ == 'PackDetInputs':
                used.update(results['dada_applied_ops'])
            results = t(results)
            if results is None:  # FilterAnnotations: every box was pushed out
                break
        if results is None:
            continue
        packed += 1
        data = results['data_samples']
        n = len(data.gt_instances.bboxes)
        assert len(data.gt_instances.labels) == n == len(data.gt_instances.masks)
        assert results['inputs'].shape[0] == 3
    assert packed >= 30
    assert used  # some ops were applied


def test_sibling_transform_builds_from_the_registry():
    _need_mmdet()
    from mmdet.registry import TRANSFORMS
    t = TRANSFORMS.build(dict(type='ZophDetectionAugment', policy='zoph-det-v3', top_k=4))
    assert isinstance(t, ZophDetectionAugment) and len(t.sub_policies) == 4


# ------------------------------------------------------------------------ configs
@pytest.mark.parametrize('model', ['retinanet', 'faster-rcnn'])
def test_zoph_configs_build_and_run_their_train_pipeline(tmp_path, model):
    _need_mmdet()
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.dataset import Compose
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(osp.join(REPO, 'configs', f'{model}_zoph-v0_coco.py'))
    pipeline = cfg.train_dataloader.dataset.pipeline
    types = [t['type'] for t in pipeline]
    assert types == ['LoadImageFromFile', 'LoadAnnotations', 'DADAAugment',
                     'FilterAnnotations', 'Resize', 'RandomFlip', 'PackDetInputs']
    assert pipeline[2]['policy'] == 'zoph-det-v0' == cfg.zoph_policy
    stock = {'retinanet': 'retinanet/retinanet_r50_fpn_1x_coco.py',
             'faster-rcnn': 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'}[model]
    (tmp_path / 'stock.py').write_text(f"_base_ = 'mmdet::{stock}'\n")
    base = Config.fromfile(str(tmp_path / 'stock.py'))
    assert cfg.model == base.model  # mmdet's stock detector, ImageNet backbone
    assert cfg.train_cfg == base.train_cfg and cfg.optim_wrapper == base.optim_wrapper
    sample = _coco_sample(tmp_path)
    run = Compose([dict(t, scale=(160, 120)) if t['type'] == 'Resize' else t
                   for t in pipeline])
    outputs = []
    for seed in range(10):
        np.random.seed(seed)
        outputs.append(run(dict(sample, instances=[dict(i) for i in sample['instances']])))
    assert all(o['inputs'].shape[0] == 3 for o in outputs if o is not None)
    assert sum(o is not None for o in outputs) >= 7


# ------------------------------------------------------------------------ vis tool
def test_vis_policy_draws_a_detection_policy(tmp_path):
    h, w = 64, 96
    img = np.full((h, w, 3), 40, np.uint8)
    img[10:40, 20:50] = (0, 200, 255)
    image = str(tmp_path / 'img.png')
    cv2.imwrite(image, img)
    out = str(tmp_path / 'vis.png')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'vis_policy.py'), 'zoph-det-v0', image,
         '--boxes', '20,10,50,40', '60,20,90,60', '--out', out, '--samples', '3',
         '--top-k', '5', '--seed', '1'],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    grid = cv2.imread(out)
    assert grid is not None and grid.shape[0] > 5 * 40
    layout = json.load(open(str(tmp_path / 'vis.json')))
    cells = layout['cells']
    assert len(cells) == 5 * 4
    assert {c['sub_policy'][0] for c in cells} == {
        'TranslateX_BBox', 'TranslateY_Only_BBoxes', 'Sharpness', 'ShearY_BBox',
        'Rotate_BBox'}
    # the boxes of a box-only row never move; those of a box-moving row may
    for c in cells:
        if c['sub_policy'] == ['TranslateY_Only_BBoxes', 'Cutout']:
            assert c['boxes'] == [[20, 10, 50, 40], [60, 20, 90, 60]]
    # without boxes it still draws, and says that box-only ops had nothing to act on
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'vis_policy.py'), 'zoph-det-v1', image,
         '--out', out, '--samples', '2', '--top-k', '3'],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'box-only' in proc.stderr
