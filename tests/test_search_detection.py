"""The search inside a detector's training (a small RetinaNet on generated shapes):
the hook trains, searches and writes a policy; a candidate's finite difference is the
directional derivative of its own detector loss; unsupported settings are refused."""
import copy
import json
import os.path as osp

import pytest
import torch

pytest.importorskip('mmdet')
from mmengine.config import Config  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(REPO, 'configs', 'demo', 'demo_retinanet_shapes.py')
HELD_OUT_PIPELINE = [dict(type='LoadImageFromFile'),
                     dict(type='LoadAnnotations', with_bbox=True),
                     dict(type='Resize', scale=(80, 64), keep_ratio=True),
                     dict(type='PackDetInputs')]


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    from dada_mm.datasets.synthetic import make_coco_set
    root = str(tmp_path_factory.mktemp('shapes_coco'))
    make_coco_set(root, train_images=8, val_images=4, size=(64, 80), seed=3)
    return root


def detector_cfg(root: str, work_dir: str, hook: dict, sizes=((80, 64), (64, 48))
                 ) -> Config:
    cfg = Config.fromfile(DEMO)
    cfg.model.backbone.init_cfg = None
    cfg.work_dir = work_dir
    # images of two sizes in one batch, as a detection batch has before padding
    cfg.train_pipeline = [
        dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
        dict(type='RandomChoiceResize', scales=list(sizes), keep_ratio=True),
        dict(type='PackDetInputs')]
    train = cfg.train_dataloader
    train.update(batch_size=4, num_workers=0, persistent_workers=False)
    train.pop('batch_sampler')
    train.dataset.update(data_root=root + '/', pipeline=cfg.train_pipeline)
    held_out = dict(batch_size=2, num_workers=0, persistent_workers=False,
                    sampler=dict(type='DefaultSampler', shuffle=True),
                    dataset=dict(type='CocoDataset', data_root=root + '/',
                                 metainfo=dict(classes=cfg.classes),
                                 ann_file='annotations/instances_val2017.json',
                                 data_prefix=dict(img='val2017/'),
                                 pipeline=HELD_OUT_PIPELINE))
    cfg.custom_hooks = [dict(type='DADASearchHook', val_dataloader=held_out, **hook)]
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2, val_interval=100)
    cfg.param_scheduler = []
    cfg.optim_wrapper.optimizer.lr = 0.01
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg',
                'test_evaluator'):
        cfg.pop(key, None)
    cfg.visualizer = dict(type='DetLocalVisualizer', vis_backends=[])
    cfg.log_level = 'WARNING'
    return cfg


CANDIDATES = dict(type='candidates', num_images=2, num_draws=2, magnitude_ops=1)


@pytest.mark.parametrize('reward', ['auto', 'match'])
def test_a_retinanet_searches_freezes_and_writes_a_policy(shapes, tmp_path, reward):
    from mmengine.runner import Runner
    estimator = CANDIDATES if reward == 'auto' else dict(CANDIDATES, reward=reward)
    cfg = detector_cfg(shapes, str(tmp_path), dict(search_epochs=1, estimator=estimator,
                                                   top_k=5))
    runner = Runner.from_cfg(cfg)
    hook = next(h for h in runner.hooks if type(h).__name__ == 'DADASearchHook')
    runner.train()
    assert hook._detection
    # 8 images, batch 4: 2 updates in the search epoch, then the policy is frozen
    assert hook.updates == 2 and hook.skipped_updates == 0
    alpha = hook.policy.alpha.detach()
    assert float(alpha.max() - alpha.min()) > 0  # the candidates moved the selection
    with open(osp.join(str(tmp_path), 'dada_policy.json')) as f:
        written = json.load(f)
    assert len(written['sub_policies']) == 5 and written['meta']['frozen']
    # the default candidate reward 'auto' is the second-order 'dot' on a detector
    expected = 'dot' if reward == 'auto' else reward
    assert hook.learner.estimator.reward == expected
    assert written['meta']['search']['candidate_reward'] == expected


def test_a_retinanet_searches_the_detection_family_and_writes_its_policy(shapes, tmp_path):
    import numpy as np
    from mmengine.runner import Runner

    from dada_mm.search_space import DETECTION_OP_NAMES
    from dada_mm.transforms import DADAAugment
    cfg = detector_cfg(shapes, str(tmp_path), dict(
        search_epochs=1, estimator=CANDIDATES, top_k=5,
        learner=dict(search_space='zoph-detection')))
    runner = Runner.from_cfg(cfg)
    hook = next(h for h in runner.hooks if type(h).__name__ == 'DADASearchHook')
    runner.train()
    assert hook.updates == 2 and hook.skipped_updates == 0
    assert hook.policy.alpha.shape == (300, ) and hook.frozen_policy is not None
    alpha = hook.policy.alpha.detach()
    assert float(alpha.max() - alpha.min()) > 0
    path = osp.join(str(tmp_path), 'dada_policy.json')
    written = json.load(open(path))
    assert written['meta']['op_family'] == 'zoph-detection'
    assert all(op['op'] in DETECTION_OP_NAMES for sub in written['sub_policies']
               for op in sub)
    history = json.load(open(osp.join(str(tmp_path), 'dada_search_history.json')))
    assert len(history['sub_policies']) == 300
    # the file is a detection-family policy: DADAAugment applies it with boxes
    from mmdet.structures.bbox import HorizontalBoxes
    aug = DADAAugment(policy=path)
    results = dict(img=np.full((40, 60, 3), 90, np.uint8), img_shape=(40, 60),
                   gt_bboxes=HorizontalBoxes(torch.tensor([[10.0, 10.0, 30.0, 30.0]])))
    out = aug(results)
    assert out['img'].shape == (40, 60, 3)


def _policy_after(cfg):
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    hook = next(h for h in runner.hooks if type(h).__name__ == 'DADASearchHook')
    return {k: v.clone() for k, v in hook.policy.state_dict().items()}, hook


@pytest.mark.parametrize('space', ['dada', 'zoph-detection'])
def test_same_seed_same_policy_and_resume_continues_exactly(shapes, tmp_path, space):
    # one image size: a random resize would draw from numpy's global stream, which a
    # resumed run restarts (the data pipeline's state, not the search's); the detection
    # family's per-box draws come from the learner's stream, so they repeat and resume too
    hook = dict(estimator=CANDIDATES, learner=dict(search_space=space))
    one = [(80, 64)]
    a, hook_a = _policy_after(detector_cfg(shapes, str(tmp_path / 'a'), hook, one))
    b, _ = _policy_after(detector_cfg(shapes, str(tmp_path / 'b'), hook, one))
    assert hook_a.updates == 4
    for key in a:
        assert torch.equal(a[key], b[key]), key
    cut = detector_cfg(shapes, str(tmp_path / 'c'), hook, one)
    cut.train_cfg.max_epochs = 1
    cut.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    c, _ = _policy_after(cut)
    assert not torch.equal(c['alpha'], a['alpha'])
    resumed = detector_cfg(shapes, str(tmp_path / 'c'), hook, one)
    resumed.resume, resumed.load_from = True, str(tmp_path / 'c' / 'epoch_1.pth')
    r, hook_r = _policy_after(resumed)
    for key in a:
        assert torch.equal(a[key], r[key]), key
    assert hook_r.updates == 4


def test_a_candidate_reward_is_the_derivative_of_its_own_detector_loss(shapes):
    """``(f(w + R v) - f(w - R v)) / 2R`` against autograd's ``grad f . v``, per image."""
    from mmengine.runner import Runner

    from dada_mm.search.bilevel import trainable_parameters
    from dada_mm.search.detection import detection_finite_differences, per_image_detector_losses
    torch.manual_seed(0)
    cfg = detector_cfg(shapes, '/tmp/unused', dict(estimator=CANDIDATES))
    runner = Runner.from_cfg(cfg)
    model = runner.model.double()  # float64: the difference's own error is then negligible
    model.eval()
    batch = next(iter(runner.train_dataloader))
    inputs = [x.double() for x in batch['inputs']]
    params = trainable_parameters(model)
    v = {n: torch.randn_like(p) for n, p in params.items()}
    norm = float(torch.sqrt(sum((t ** 2).sum() for t in v.values())))
    v = {n: t / norm for n, t in v.items()}
    weights = {n: p.detach().clone() for n, p in params.items()}
    h = detection_finite_differences(model, weights, v, 1e-5,
                                     inputs, copy.deepcopy(batch['data_samples']))
    exact = []
    for i in range(len(inputs)):
        loss = per_image_detector_losses(model, None, inputs[i:i + 1],
                                         copy.deepcopy(batch['data_samples'][i:i + 1]))[0]
        grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        exact.append(sum((g * v[n]).sum() for n, g in zip(params, grads) if g is not None))
    exact = torch.stack(exact)
    assert exact.abs().max() > 1e-3  # a real signal, not zeros on both sides
    torch.testing.assert_close(h, exact, rtol=1e-4, atol=1e-7)


def test_match_scores_on_a_detector_are_the_derivative_of_the_gradient_cosine(shapes):
    """``detection_match_scores`` (finite differences along v and along g_bar) against the
    exact ``<g_c, u>``, ``u = d cos(g_bar, v) / d g_bar``, from autograd's per-image
    gradients; and each score is the cosine's derivative in its row's weight (a flipped
    sign or a dropped term fails)."""
    from mmengine.runner import Runner

    from dada_mm.search.bilevel import trainable_parameters
    from dada_mm.search.detection import (
        detection_finite_differences,
        detection_match_scores,
        per_image_detector_losses,
    )
    torch.manual_seed(0)
    runner = Runner.from_cfg(detector_cfg(shapes, '/tmp/unused', dict(estimator=CANDIDATES)))
    model = runner.model.double()
    model.eval()
    batch = next(iter(runner.train_dataloader))
    inputs = [x.double() for x in batch['inputs']]
    samples = batch['data_samples']
    params = trainable_parameters(model)
    names = list(params)
    v = {n: torch.randn_like(p) for n, p in params.items()}
    weights = {n: p.detach().clone() for n, p in params.items()}
    row_weights = torch.arange(len(inputs), 0, -1, dtype=torch.float64)
    row_weights /= row_weights.sum()
    dots_v = detection_finite_differences(model, weights, v, 1e-7 / float(
        torch.sqrt(sum((t ** 2).sum() for t in v.values()))), inputs, copy.deepcopy(samples))
    scores = detection_match_scores(model, weights, v, dots_v, 1e-7, inputs,
                                    copy.deepcopy(samples), row_weights)
    rows = []
    for i in range(len(inputs)):
        loss = per_image_detector_losses(model, None, inputs[i:i + 1],
                                         copy.deepcopy(samples[i:i + 1]))[0]
        grads = torch.autograd.grad(loss, [params[n] for n in names], allow_unused=True)
        rows.append(torch.cat([(torch.zeros_like(params[n]) if g is None else g).reshape(-1)
                               for n, g in zip(names, grads)]))
    g = torch.stack(rows)
    v_flat = torch.cat([v[n].reshape(-1) for n in names])
    g_bar = row_weights @ g
    cos = g_bar @ v_flat / (g_bar.norm() * v_flat.norm())
    u = (v_flat / v_flat.norm() - cos * g_bar / g_bar.norm()) / g_bar.norm()
    exact = g @ u
    assert exact.abs().max() > 1e-6 and (exact[0] - exact[1]).abs() > 1e-7
    # (float64 and radii of 1e-7: the two terms of a score nearly cancel, so the
    # differences must be close to exact)
    torch.testing.assert_close(scores, exact, rtol=1e-4, atol=1e-9)
    # the scores are the cosine's derivative in each row's weight: a small step there
    # changes the cosine by score * step
    step = 1e-4
    moved = (row_weights + step * torch.eye(len(inputs))[0]) @ g
    new_cos = moved @ v_flat / (moved.norm() * v_flat.norm())
    torch.testing.assert_close((new_cos - cos) / step, scores[0], rtol=1e-2, atol=1e-9)
    # no expected gradient (every weight zero): the update is skipped, not divided by 0
    from dada_mm.search.learner import SkipPolicyUpdate
    with pytest.raises(SkipPolicyUpdate, match='expected candidate gradient norm is 0'):
        detection_match_scores(model, weights, v, dots_v, 1e-7, inputs,
                               copy.deepcopy(samples), torch.zeros_like(row_weights))


@pytest.mark.parametrize('hook,match', [
    (dict(estimator='relax'), r"on a detector needs estimator='candidates'"),
    (dict(estimator=dict(CANDIDATES, reward='cos_class')),
     r"reward='match' or 'dot', got 'cos_class'"),
    (dict(estimator=dict(CANDIDATES, reward='match_all')),
     r"reward='match' or 'dot', got 'match_all' \(on a detector 'match' is already taken "
     r"in all trainable weights\)"),
])
def test_unsupported_detector_searches_are_refused_naming_the_option(shapes, tmp_path, hook,
                                                                     match):
    from mmengine.runner import Runner
    runner = Runner.from_cfg(detector_cfg(shapes, str(tmp_path), hook))
    with pytest.raises(ValueError, match=match):
        runner.train()


def test_two_process_detector_search_keeps_ranks_identical(shapes, tmp_path, repo_root):
    """2 processes (tools/dist_train.sh, gloo on CPU): the detector's policy, control
    variate and policy optimiser stay bit-identical on both ranks while each rank draws
    its own augmentations; only rank 0 writes the policy file."""
    from test_search_distributed_and_faults import (
        HELPERS_MODULE,
        _assert_ranks_identical,
        _dist_train,
        _helpers,
    )
    _helpers(tmp_path)
    cfg = detector_cfg(shapes, str(tmp_path / 'wd'), dict(estimator=CANDIDATES))
    cfg.custom_imports = dict(imports=['dada_mm', HELPERS_MODULE], allow_failed_imports=False)
    cfg.custom_hooks = list(cfg.custom_hooks) + [dict(type='DumpPolicyHook')]
    path = tmp_path / 'dist_det.py'
    cfg.dump(str(path))
    proc = _dist_train(repo_root, tmp_path, str(path), tmp_path / 'wd', timeout=600)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    r0 = torch.load(tmp_path / 'wd' / 'policy_rank0.pt')
    r1 = torch.load(tmp_path / 'wd' / 'policy_rank1.pt')
    assert r0['world_size'] == r1['world_size'] == 2
    _assert_ranks_identical(r0, r1)
    assert not torch.equal(r0['generator'], r1['generator'])
    # 8 images over 2 ranks, batch 4: one iteration (one update) per epoch, 2 epochs
    assert r0['updates'] == r1['updates'] == r0['iters'] == 2
    assert not torch.equal(r0['policy']['alpha'], torch.full_like(r0['policy']['alpha'], 1e-3))
    assert sorted(p.name for p in (tmp_path / 'wd').iterdir()
                  if 'dada_policy' in p.name) == ['dada_policy.json']


def _sample(boxes, shape=(64, 80)):
    import numpy as np
    from mmdet.structures import DetDataSample
    from mmdet.structures.bbox import HorizontalBoxes
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    h, w = shape
    s = DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape,
                                    scale_factor=(1.0, 1.0), batch_input_shape=shape))
    n = len(boxes)
    s.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(torch.tensor(boxes, dtype=torch.float32).reshape(n, 4)),
        labels=torch.arange(n), masks=BitmapMasks(
            np.stack([np.full((h, w), i, np.uint8) for i in range(n)])
            if n else np.zeros((0, h, w), np.uint8), h, w))
    return s


def test_boxes_squeezed_below_a_pixel_are_dropped_with_their_labels_and_masks():
    from mmdet.structures.bbox import HorizontalBoxes
    from mmengine.structures import InstanceData

    from dada_mm.search.detection import MIN_BOX_SIZE, drop_small_boxes
    s = _sample([[0, 0, 5, 5], [3, 3, 3.5, 9], [1, 1, 4, 2], [1, 1, 4, 1.99], [80, 10, 80, 20]])
    s.ignored_instances = InstanceData(bboxes=HorizontalBoxes(torch.tensor([[0., 0, 0, 5]])),
                                       labels=torch.tensor([0]))
    empty = _sample([])
    drop_small_boxes([s, empty])
    assert MIN_BOX_SIZE == 1.0
    torch.testing.assert_close(s.gt_instances.bboxes.tensor,
                               torch.tensor([[0., 0, 5, 5], [1, 1, 4, 2]]))
    assert s.gt_instances.labels.tolist() == [0, 2]
    assert s.gt_instances.masks.masks[:, 0, 0].tolist() == [0, 2]
    assert len(s.ignored_instances) == 0 and len(empty.gt_instances) == 0


def test_a_box_pushed_out_of_the_image_leaves_a_finite_candidate_loss(shapes):
    """A translation that pushes the only box out leaves a zero-width box, whose regression
    target is infinite; the search drops it, and the candidate is scored on its negatives."""
    from mmengine.runner import Runner

    from dada_mm.ops.batched_detection import augment_det_data_samples
    from dada_mm.search.detection import drop_small_boxes, per_image_detector_losses
    from dada_mm.search_space.ops import OP_NAMES
    runner = Runner.from_cfg(detector_cfg(shapes, '/tmp/unused', dict(estimator=CANDIDATES)))
    model = runner.model.eval()
    image = torch.full((3, 64, 80), 128, dtype=torch.uint8)
    translate = OP_NAMES.index('TranslateX')
    scored = []
    for drop in (False, True):
        sample = _sample([[2, 20, 12, 40]])
        out = augment_det_data_samples([image], [sample], torch.tensor([[translate] * 2]),
                                       torch.tensor([[1.0, 0.0]]), torch.ones(1, 2),
                                       signs=torch.ones(1, 2))
        x1, _, x2, _ = sample.gt_instances.bboxes.tensor[0].tolist()
        assert x1 == x2 == 0.0  # clipped to the left border
        if drop:
            drop_small_boxes([sample])
            assert len(sample.gt_instances) == 0
        with torch.no_grad():
            scored.append(float(per_image_detector_losses(model, None, out, [sample])[0]))
    assert scored[0] == float('inf')
    assert 0 < scored[1] < float('inf')


def test_the_training_batch_loses_the_boxes_its_augmentation_pushed_out():
    """``augment_detection_step`` (the hook's training-batch augmentation): TranslateX at
    full level, twice, moves a small box out of the image on images whose two signs agree;
    those images end without it, the others keep a box of at least a pixel."""
    from dada_mm.policy.export import FrozenPolicySampler
    from dada_mm.search.detection import augment_detection_step
    from dada_mm.search.learner import LearnerConfig, PolicyLearner
    learner = PolicyLearner(LearnerConfig(estimator='candidates'), torch.device('cpu'), seed=0)
    far = dict(op='TranslateX', prob=1.0, magnitude=1.0)
    frozen = FrozenPolicySampler([[far, far]], torch.device('cpu'))
    batch = dict(inputs=[torch.full((3, 64, 80), 128, dtype=torch.uint8) for _ in range(8)],
                 data_samples=[_sample([[34, 20, 46, 40]]) for _ in range(8)])
    augment_detection_step(batch, learner, frozen, keep_originals=False, channel_order='bgr',
                           warp='pil', device=torch.device('cpu'))
    kept = [len(s.gt_instances) for s in batch['data_samples']]
    assert 0 in kept and 1 in kept
    for s in batch['data_samples']:
        if len(s.gt_instances):
            x1, y1, x2, y2 = s.gt_instances.bboxes.tensor[0].tolist()
            assert x2 - x1 >= 1.0 and (y1, y2) == (20.0, 40.0)


def test_both_signs_score_a_signed_detector_candidate_as_the_mean_of_its_two_signs(
        shapes, check_both_signs):
    """``signs='both'`` on a detector: a candidate that applies a signed op gets the mean
    of its rewards with the drawn signs and with them flipped (boxes moved each way);
    the others get the drawn signs' reward (``check_both_signs`` in conftest)."""
    from types import SimpleNamespace

    from mmengine.runner import Runner

    from dada_mm.search.bilevel import trainable_parameters
    from dada_mm.search.detection import score_detection_candidates
    from dada_mm.search.learner import LearnerConfig, PolicyLearner
    from dada_mm.search_space import OP_INDEX, SUB_POLICY_OP_INDICES
    rotate = torch.tensor(SUB_POLICY_OP_INDICES).eq(OP_INDEX['Rotate']).any(1)
    torch.manual_seed(0)
    runner = Runner.from_cfg(detector_cfg(shapes, '/tmp/unused', dict(estimator=CANDIDATES)))
    model = runner.model
    batch = next(iter(runner.train_dataloader))
    params = trainable_parameters(model)
    g = torch.Generator().manual_seed(5)
    v = {n: torch.randn(p.shape, generator=g) for n, p in params.items()}
    norm = float(torch.sqrt(sum((t ** 2).sum() for t in v.values())))
    v = {n: t / norm for n, t in v.items()}
    step = SimpleNamespace(images=list(batch['inputs']), data_samples=batch['data_samples'],
                           weights={n: p.detach().clone() for n, p in params.items()})
    reward = SimpleNamespace(warp='pil', held_out_direction=lambda *a, **k: (
        v, 1e-3, 1.0, 0.0))

    def make_learner(signs):
        options = dict(CANDIDATES, reward='dot', signs=signs)
        options.pop('type')
        learner = PolicyLearner(LearnerConfig(estimator_options=options),
                                torch.device('cpu'), seed=1)
        with torch.no_grad():  # draw the sub-policies that hold Rotate more often
            learner.policy.alpha[rotate] += 2.0
        return learner

    check_both_signs(make_learner, lambda learner: score_detection_candidates(
        reward, model, step, {}, learner, 'bgr'))
