"""The end-to-end demo (`make demo` = tools/run_demo.py) at CI scale, and
tools/vis_policy.py on a generated image with a box."""
import json
import math
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PNGS = ('policy_samples.png', 'policy_samples_det.png', 'search_weights.png',
        'search_probs_magnitudes.png')


def _check_png(path, min_h=100, min_w=200):
    assert osp.isfile(path), path
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    assert img is not None, f'{path} is not a readable image'
    h, w = img.shape[:2]
    assert h >= min_h and w >= min_w, f'{path}: {w}x{h} is too small'
    assert float(img.std()) > 5.0, f'{path} is (nearly) constant'
    return img


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    work_dir, data_root = root / 'work', root / 'data'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'run_demo.py'), '--scale', 'ci',
         '--work-dir', str(work_dir), '--data-root', str(data_root)],
        cwd=str(root), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-5000:])
    return str(work_dir), str(data_root), proc.stdout


def test_demo_ci_writes_every_artefact(demo_run):
    work_dir, data_root, stdout = demo_run
    from dada_mm.policy import load_policy_file

    # data + its stamp
    assert osp.isfile(osp.join(data_root, '.dada_demo_data.json'))
    assert osp.isfile(osp.join(data_root, 'shapes', 'meta', 'search_val.txt'))
    assert osp.isfile(osp.join(data_root, 'shapes_coco', 'annotations',
                               'instances_val2017.json'))
    # search outputs
    policy = load_policy_file(osp.join(work_dir, 'search', 'dada_policy.json'))
    assert len(policy['sub_policies']) == 25
    hist = json.load(open(osp.join(work_dir, 'search', 'dada_search_history.json')))
    assert len(hist['sub_policies']) == 105 and len(hist['epochs']) >= 1
    # the exported backbones, and the policy shipped with the DADA one
    import torch
    for kind in ('dada', 'baseline'):
        ckpt = torch.load(osp.join(work_dir, f'backbone_{kind}.pth'), map_location='cpu',
                          weights_only=True)
        assert 'conv1.weight' in ckpt['state_dict']
    shipped = load_policy_file(osp.join(work_dir, 'backbone_dada_policy.json'))
    assert shipped['sub_policies'] == policy['sub_policies']
    assert not osp.exists(osp.join(work_dir, 'backbone_baseline_policy.json'))

    summary = json.load(open(osp.join(work_dir, 'summary.json')))
    assert osp.isfile(osp.join(work_dir, 'summary.md'))
    # checkpoints of every training step
    for path in (*summary['classification']['checkpoints'].values(),
                 *summary['detection']['checkpoints'].values()):
        assert osp.isfile(path), path
    # finite metrics: classification top-1 and bbox mAP of both runs
    cls, det = summary['classification'], summary['detection']
    for value in (cls['dada_top1'], cls['baseline_top1']):
        assert isinstance(value, float) and 0.0 <= value <= 100.0
    for value in (det['dada_bbox_mAP'], det['baseline_bbox_mAP']):
        assert isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0
    assert len(summary['search']['top5']) == 5
    assert summary['search']['seconds'] > 0
    assert set(summary['step_seconds']) >= {'data', 'search', 'pretrain_dada',
                                            'pretrain_baseline', 'export', 'det_dada',
                                            'det_baseline', 'eval', 'figures'}
    md = open(osp.join(work_dir, 'summary.md')).read()
    assert 'Wall time per step' in md
    mv = summary['search']['movement']  # the summary states how far the policy moved
    assert mv['uniform_entropy'] == pytest.approx(math.log(105))
    assert mv['entropy'] <= mv['uniform_entropy'] + 1e-9
    assert 0 <= mv['selection_tv_from_start'] <= 1
    assert f"selection entropy {mv['entropy']:.3f} nats" in md
    assert 'bbox mAP' in stdout

    # pictures in the work dir and through MMEngine's LocalVisBackend
    for name in PNGS:
        _check_png(osp.join(work_dir, name))
    vis = osp.join(work_dir, 'vis', 'vis_data', 'vis_image')
    for name in PNGS:
        _check_png(osp.join(vis, name.replace('.png', '_0.png')))


def test_demo_skips_generation_when_data_is_current(demo_run, tmp_path):
    """A second run with the same data root does not regenerate the data."""
    _, data_root, _ = demo_run
    sys.path.insert(0, REPO)
    from tools import run_demo
    args = run_demo.parse_args(['--scale', 'ci', '--data-root', data_root,
                                '--work-dir', str(tmp_path)])
    stamp = osp.join(data_root, '.dada_demo_data.json')
    before = os.stat(stamp).st_mtime_ns
    assert run_demo.step_data(args, run_demo.SCALES['ci']) == run_demo.DataResult(
        generated=False)
    assert os.stat(stamp).st_mtime_ns == before


def test_demo_finds_dada_augment_by_type(tmp_path):
    """The policy options point at the configs' DADAAugment (found by type, at the
    indices the configs have); the baselines are the DADA pipelines without the policy."""
    sys.path.insert(0, REPO)
    from mmengine.config import Config

    from tools import run_demo
    configs = run_demo.CONFIGS
    assert run_demo.policy_option(configs['pretrain_dada'], 'p.json') == \
        'train_dataloader.dataset.pipeline.3.policy=p.json'
    exported = run_demo.Exported(backbones=dict(dada='d.pth', baseline='b.pth'),
                                 policy='q.json')
    args = run_demo.parse_args(['--data-root', 'root'])
    dada = run_demo.det_options(args, 'dada', exported)
    assert dada[-2:] == ['model.backbone.init_cfg.checkpoint=d.pth',
                         'train_dataloader.dataset.pipeline.4.policy=q.json']
    assert run_demo.det_options(args, 'baseline', exported)[-1] == \
        'model.backbone.init_cfg.checkpoint=b.pth'
    for kind, dropped in (('pretrain', {'DADAAugment'}),
                          ('det', {'DADAAugment', 'FilterAnnotations'})):
        with_policy = Config.fromfile(configs[f'{kind}_dada']).train_dataloader.dataset
        without = Config.fromfile(configs[f'{kind}_baseline']).train_dataloader.dataset
        assert without.pipeline == [t for t in with_policy.pipeline
                                    if t['type'] not in dropped]
        with pytest.raises(ValueError, match="0 'DADAAugment'"):
            run_demo.policy_option(configs[f'{kind}_baseline'], 'x.json')
    paths = run_demo.DemoPaths(str(tmp_path))
    assert paths.policy == osp.join(str(tmp_path), 'search', 'dada_policy.json')
    assert paths.backbone('dada') == osp.join(str(tmp_path), 'backbone_dada.pth')
    assert paths.det('baseline') == osp.join(str(tmp_path), 'det_baseline')


def _white_bbox(tile):
    ys, xs = np.nonzero((tile > 200).all(axis=2))
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def test_vis_policy_moves_boxes_with_the_image(tmp_path):
    h, w = 64, 80
    img = np.zeros((h, w, 3), np.uint8)
    box = (20, 16, 36, 40)  # x1, y1, x2, y2 (pixels 20..35, 16..39)
    img[box[1]:box[3], box[0]:box[2]] = 255
    image = str(tmp_path / 'img.png')
    cv2.imwrite(image, img)
    policy = str(tmp_path / 'translate.json')
    with open(policy, 'w') as f:  # TranslateX always (|shift| = 0.225 w = 18 px)
        json.dump({'version': 1, 'sub_policies': [[
            {'op': 'TranslateX', 'prob': 1.0, 'magnitude': 0.75},
            {'op': 'Brightness', 'prob': 0.0, 'magnitude': 0.5}]], 'meta': {}}, f)
    out = str(tmp_path / 'vis.png')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'vis_policy.py'), policy, image,
         '--boxes', ','.join(map(str, box)), '--out', out, '--samples', '6',
         '--seed', '3', '--vis-dir', str(tmp_path / 'vis')],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    grid = _check_png(out)
    layout = json.load(open(str(tmp_path / 'vis.json')))
    assert osp.isfile(str(tmp_path / 'vis' / 'vis_data' / 'vis_image' / 'policy_vis_0.png'))
    cells = layout['cells']
    assert len(cells) == 1 + 6
    shifts = set()
    for cell in cells:
        sx, sy = cell['scale']
        tile = grid[cell['y0']:cell['y0'] + cell['height'],
                    cell['x0']:cell['x0'] + cell['width']]
        (bx1, by1, bx2, by2), = cell['boxes']
        # the white square as drawn in the output image, in input pixels
        x1, y1, x2, y2 = _white_bbox(tile)
        x1, x2, y1, y2 = x1 / sx, x2 / sx, y1 / sy, y2 / sy
        # the drawn box outline covers the square's outermost (scaled) pixel
        tol = 1.0 / sx + 0.6
        assert abs(x1 - bx1) <= tol and abs(x2 - bx2) <= tol, (cell, (x1, x2))
        assert abs(y1 - by1) <= tol and abs(y2 - by2) <= tol, (cell, (y1, y2))
        # the box outline is drawn (green) where the box is
        px, py = int(round(bx1 * sx)), int(round((by1 + by2) / 2 * sy))
        assert tuple(tile[py, px]) == (0, 255, 0)
        if cell['draw'] == 0:
            assert cell['boxes'] == [list(map(float, box))] and cell['applied'] == []
        else:
            assert cell['applied'] == ['TranslateX']
            dx = bx1 - box[0]
            assert abs(abs(dx) - 0.225 * w) < 1e-3 and by1 == box[1] and by2 == box[3]
            assert abs((bx2 - bx1) - (box[2] - box[0])) < 1e-3
            shifts.add(np.sign(dx))
    assert shifts == {-1.0, 1.0}  # both directions among the draws (random sign)
