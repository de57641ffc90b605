"""The search hook end to end through tools/train.py, on generated data."""
import json
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch

TINY_SEARCH = '''
_base_ = [{base!r}]
data_root = {root!r}
crop = 28
model = dict(
    backbone=dict(depth=18, num_stages=2, out_indices=(1, ), base_channels=8,
                  strides=(1, 2), dilations=(1, 1)),
    head=dict(num_classes=3, in_channels=16))
data_preprocessor = dict(num_classes=3)
det_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(crop, crop), backend='pillow'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=det_pipeline))
val_dataloader = dict(batch_size=6, num_workers=0,
                      dataset=dict(data_root=data_root, pipeline=det_pipeline))
test_dataloader = val_dataloader
# explicit end: a run cut short by --cfg-options train_cfg.max_epochs=1 keeps the schedule
param_scheduler = dict(type='CosineAnnealingLR', T_max=3, by_epoch=True, begin=0, end=3,
                       eta_min=1e-3)
train_cfg = dict(max_epochs=2, val_interval=2)
custom_hooks = [
    dict(type='DADASearchHook',
         val_dataloader=dict(batch_size=4, num_workers=0,
                             dataset=dict(type='CustomDataset', data_root=data_root,
                                          data_prefix='train',
                                          ann_file='meta/search_val.txt',
                                          with_label=True, pipeline=det_pipeline)),
         search_epochs={search_epochs}, estimator={estimator!r},
         reward=dict(type='BilevelReward', order={order!r}, held_out_norm='batch'),
         learner=dict(), top_k=10),
]
default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                     checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
'''


def write_config(tmp_path, repo_root, shapes_root, name='tiny.py', search_epochs=None,
                 order='second', estimator='relax', epochs=2):
    text = TINY_SEARCH.format(
        base=osp.join(repo_root, 'configs', 'demo', 'demo_search_shapes.py'),
        root=shapes_root, search_epochs=search_epochs, order=order,
        estimator=estimator)
    text = text.replace('max_epochs=2,', f'max_epochs={epochs},')
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def run_train(argv):
    from tools.train import main
    return main(argv)


def search_hook(runner):
    return [h for h in runner.hooks if type(h).__name__ == 'DADASearchHook'][0]


def dada_scalars(runner):
    """The keys of the hook's scalars in the runner's message hub, without the prefix."""
    return {key[len('train/dada_'):] for key in runner.message_hub.log_scalars
            if key.startswith('train/dada_')}


def run_log(work_dir):
    """The text of the run's log file (<work_dir>/<timestamp>/<timestamp>.log)."""
    import glob
    logs = glob.glob(osp.join(str(work_dir), '*', '*.log'))
    assert len(logs) == 1, logs
    return open(logs[0]).read()


def test_short_search_moves_policy_and_writes_loadable_file(tmp_path, repo_root,
                                                           shapes_root):
    cfg = write_config(tmp_path, repo_root, shapes_root)
    runner = run_train([cfg, '--work-dir', str(tmp_path / 'wd')])
    hook = search_hook(runner)
    policy = hook.policy
    # the policy parameters moved away from their initial values
    assert not torch.allclose(policy.alpha, torch.full_like(policy.alpha, 1e-3))
    assert not torch.allclose(policy.probs, torch.full_like(policy.probs, 0.5))
    assert not torch.allclose(policy.magnitudes, torch.full_like(policy.magnitudes, 0.5))
    assert float(policy.entropy()) < np.log(105)
    assert hook.updates == 2 * 3  # 12 images / batch 4 = 3 iterations per epoch
    assert hook.skipped_updates == 0
    # p and m stay in [0, 1] (projected)
    assert float(policy.probs.min()) >= 0 and float(policy.probs.max()) <= 1
    path = osp.join(str(tmp_path / 'wd'), 'dada_policy.json')
    doc = json.load(open(path))
    assert doc['version'] == 1 and len(doc['sub_policies']) == 10
    # ranked by alpha, exactly the exported top-10
    top = policy.top_k(10)
    for (index, probs, mags), sub in zip(top, doc['sub_policies']):
        from dada_mm.search_space import SUB_POLICIES
        assert [op['op'] for op in sub] == list(SUB_POLICIES[index])
        assert [op['prob'] for op in sub] == pytest.approx(list(probs), abs=0)
        assert [op['magnitude'] for op in sub] == pytest.approx(list(mags), abs=0)
    # the file is usable by the transform
    from dada_mm import DADAAugment
    t = DADAAugment(policy=path)
    out = t({'img': np.full((20, 24, 3), 100, np.uint8)})
    assert out['img'].shape == (20, 24, 3)
    # history for plots: one record per search epoch
    hist_path = osp.join(str(tmp_path / 'wd'), 'dada_search_history.json')
    hist = json.load(open(hist_path))
    assert [e['epoch'] for e in hist['epochs']] == [1, 2]
    # ... which tools/plot_search.py draws
    from tools.plot_search import FIGURES
    from tools.plot_search import main as plot_search
    assert plot_search([hist_path, '--out', str(tmp_path / 'plots')]) == 0
    for name in FIGURES:
        img = cv2.imread(str(tmp_path / 'plots' / name))
        assert img is not None and img.shape[0] > 200 and float(img.std()) > 5, name
    # the scalars: exactly those of search_log_keys (no reward spread under batch credit)
    from dada_mm.search.hook import search_log_keys
    assert dada_scalars(runner) == set(search_log_keys('relax', 'batch'))
    assert 'reward_std' not in dada_scalars(runner)
    log = run_log(tmp_path / 'wd')
    assert 'dada_val_loss: ' in log and 'dada_cv_z_tilde: ' in log
    assert 'dada_reward_std' not in log
    # the epoch summary names its numbers
    assert ('DADASearchHook: end of search epoch 2: selection entropy ' in log
            and 'by selection weight w = softmax(alpha)' in log)
    assert re.search(r'\n  #1 w=0\.\d{4} \w+\(p=[01]\.\d\d, m=[01]\.\d\d\) \+ ', log)
    # the checkpoint carries the whole search state
    ckpt = torch.load(osp.join(str(tmp_path / 'wd'), 'epoch_2.pth'))
    assert torch.equal(ckpt['dada_search']['policy']['alpha'], policy.alpha.detach())


def train_in_subprocess(repo_root, argv):
    """A fresh interpreter per run, as users run them (no state shared between runs)."""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, osp.join(repo_root, 'tools', 'train.py'),
                           *argv], cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _final_state(work_dir, epoch):
    ckpt = torch.load(osp.join(str(work_dir), f'epoch_{epoch}.pth'))
    return ckpt['dada_search']


def test_same_seed_same_policy_and_resume_continues_exactly(tmp_path, repo_root,
                                                            shapes_root):
    cfg = write_config(tmp_path, repo_root, shapes_root, epochs=3)
    train_in_subprocess(repo_root, [cfg, '--work-dir', str(tmp_path / 'a')])
    train_in_subprocess(repo_root, [cfg, '--work-dir', str(tmp_path / 'b')])
    a, b = _final_state(tmp_path / 'a', 3), _final_state(tmp_path / 'b', 3)
    for key in a['policy']:
        assert torch.equal(a['policy'][key], b['policy'][key]), key
    pa = json.load(open(tmp_path / 'a' / 'dada_policy.json'))['sub_policies']
    pb = json.load(open(tmp_path / 'b' / 'dada_policy.json'))['sub_policies']
    assert pa == pb
    # interrupted after epoch 1, resumed from its checkpoint
    train_in_subprocess(repo_root, [cfg, '--work-dir', str(tmp_path / 'c'),
                                    '--cfg-options', 'train_cfg.max_epochs=1'])
    cut = _final_state(tmp_path / 'c', 1)
    assert not torch.equal(cut['policy']['alpha'], a['policy']['alpha'])
    output = train_in_subprocess(repo_root, [cfg, '--work-dir', str(tmp_path / 'c'),
                                             '--resume', str(tmp_path / 'c' / 'epoch_1.pth')])
    # the run says what it restored, and from where
    assert (f"DADASearchHook: restored the search state from {tmp_path / 'c' / 'epoch_1.pth'}"
            ' (saved at iteration 3, 1 epoch(s) done): 3 policy update(s) (0 skipped), 3 '
            'held-out batch(es) consumed, a history of 1 search epoch(s) (the last: epoch 1, '
            'iteration 3); the search continues') in output
    r = _final_state(tmp_path / 'c', 3)
    for key in a['policy']:
        assert torch.equal(a['policy'][key], r['policy'][key]), key
    for key in a['control_variate']:
        assert torch.equal(a['control_variate'][key], r['control_variate'][key]), key
    assert r['val_stream'] == a['val_stream'] and r['updates'] == a['updates']
    pc = json.load(open(tmp_path / 'c' / 'dada_policy.json'))['sub_policies']
    assert pc == pa


def test_frozen_phase_after_search_epochs(tmp_path, repo_root, shapes_root):
    cfg = write_config(tmp_path, repo_root, shapes_root, search_epochs=1)
    runner = run_train([cfg, '--work-dir', str(tmp_path / 'wd')])
    hook = search_hook(runner)
    assert hook.updates == 3  # only the first epoch updates the policy
    assert hook.frozen_policy is not None and len(hook.frozen_policy) == 10
    doc = json.load(open(tmp_path / 'wd' / 'dada_policy.json'))
    assert doc['meta']['frozen'] is True
    assert doc['sub_policies'] == hook.frozen_policy
    hist = json.load(open(tmp_path / 'wd' / 'dada_search_history.json'))
    assert len(hist['epochs']) == 1
    # the search's scalars end with the search: the frozen epoch's log lines have none
    assert dada_scalars(runner) == set()
    assert not [key for key in runner.message_hub.state_dict()['resumed_keys']
                if 'dada_' in key]  # a resume would warn about them
    log = run_log(tmp_path / 'wd')
    searched, frozen = (
        [line for line in part.splitlines() if 'Epoch(train)' in line]
        for part in log.split('search finished after 1 epoch(s)'))
    assert len(searched) == len(frozen) == 3  # LoggerHook interval=1, 3 iterations
    assert all('dada_val_loss: ' in line for line in searched)
    assert not any('dada_' in line for line in frozen)


def test_search_begin_warms_the_network_up_on_unaugmented_batches(tmp_path, repo_root,
                                                                  shapes_root):
    """Epoch 1 is warm-up (search_begin=1): no policy update and the batches reach the
    training step as loaded; epoch 2 updates the policy at each of its 3 iterations."""
    cfg = write_config(tmp_path, repo_root, shapes_root)
    text = open(cfg).read().replace('learner=dict()', 'learner=dict(search_begin=1)')
    open(cfg, 'w').write(text)
    runner = runner_before_training(cfg, tmp_path)
    hook = search_hook(runner)
    batch = next(iter(runner.train_dataloader))
    loaded = [x.clone() for x in batch['inputs']]
    hook.before_train_iter(runner, 0, batch)        # epoch 0: warm-up
    assert all(torch.equal(a, b) for a, b in zip(batch['inputs'], loaded))
    assert hook._step_input is None
    runner.train_loop._epoch = 1                     # the first search epoch
    hook.before_train_iter(runner, 0, batch)
    assert not all(torch.equal(a, b) for a, b in zip(batch['inputs'], loaded))
    assert hook._step_input is not None

    runner = run_train([cfg, '--work-dir', str(tmp_path / 'run')])
    hook = search_hook(runner)
    assert hook.updates == 3  # epoch 2 only: 12 images / batch 4
    doc = json.load(open(tmp_path / 'run' / 'dada_policy.json'))
    assert doc['meta']['search']['search_begin'] == 1
    from dada_mm import DADASearchHook
    held_out = dict(batch_size=2, dataset=dict(type='CustomDataset', data_root='x'))
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match='search_begin must be an int >= 0'):
            DADASearchHook(val_dataloader=held_out, learner=dict(search_begin=bad))
    with pytest.raises(ValueError, match='must be below search_epochs=2'):
        DADASearchHook(val_dataloader=held_out, learner=dict(search_begin=2),
                       search_epochs=2)


@pytest.mark.parametrize('estimator', ['reinforce', 'gumbel_st'])
def test_other_estimators_run(tmp_path, repo_root, shapes_root, estimator):
    cfg = write_config(tmp_path, repo_root, shapes_root, estimator=estimator, epochs=1)
    runner = run_train([cfg, '--work-dir', str(tmp_path / 'wd')])
    hook = search_hook(runner)
    assert hook.updates == 3
    assert not torch.allclose(hook.policy.alpha,
                              torch.full_like(hook.policy.alpha, 1e-3))
    from dada_mm.search.hook import search_log_keys
    assert dada_scalars(runner) == set(search_log_keys(estimator, 'batch'))
    assert not {'cv_z', 'baseline', 'batch_variance'} & dada_scalars(runner)


def test_hook_refuses_missing_val_split():
    from dada_mm.search import DADASearchHook
    with pytest.raises(ValueError, match='val_dataloader'):
        DADASearchHook()
    with pytest.raises(ValueError, match='order'):
        DADASearchHook(val_dataloader=dict(), reward=dict(type='BilevelReward',
                                                          order='third'))


def test_first_order_reuses_the_training_step(tmp_path, repo_root, shapes_root):
    cfg = write_config(tmp_path, repo_root, shapes_root, order='first', epochs=1)
    runner = run_train([cfg, '--work-dir', str(tmp_path / 'wd')])
    hook = search_hook(runner)
    assert hook.updates == 3 and hook.skipped_updates == 0
    assert not torch.allclose(hook.policy.magnitudes,
                              torch.full_like(hook.policy.magnitudes, 0.5))
    assert hook.policy.magnitudes.grad is None  # nothing left behind for the next step
    head_hooks = unwrap(runner).head._forward_hooks
    assert len(head_hooks) == 0


def recording(seen, name, fn):
    """``fn`` that also keeps its last ``(args, kwargs, output)`` in ``seen[name]``."""
    def wrapped(*args, **kwargs):
        out = fn(*args, **kwargs)
        seen[name] = (args, kwargs, out)
        return out
    return wrapped


def runner_before_training(config_path, tmp_path):
    """A runner built from ``config_path`` with hooks set up, for driving one iteration
    by hand (before_train_iter, train_step, after_train_iter)."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(config_path)
    cfg.work_dir = str(tmp_path / 'wd')
    runner = Runner.from_cfg(cfg)
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.call_hook('before_run')
    runner.call_hook('before_train')
    return runner


@pytest.mark.parametrize('order', ['second', 'first'])
def test_clean_reward_baseline_feeds_the_estimator_the_difference(tmp_path, repo_root,
                                                                   shapes_root, order,
                                                                   monkeypatch):
    """reward_baseline='clean': the estimator gets -xi * (h - h_clean), with h_clean the
    finite difference of the un-augmented images at the same weights and direction."""
    import dada_mm.search.bilevel_reward as reward_module
    from dada_mm.search.bilevel import finite_difference_losses, labels_of
    path = write_config(tmp_path, repo_root, shapes_root, order=order, epochs=1)
    text = open(path).read().replace(
        "held_out_norm='batch')", "held_out_norm='batch', reward_baseline='clean', "
                                  "credit='image')").replace(
        'learner=dict()', 'learner=dict(reward_normalization=None)')
    open(path, 'w').write(text)
    runner = runner_before_training(path, tmp_path)
    hook = search_hook(runner)
    seen = {}
    monkeypatch.setattr(reward_module, 'directional_derivatives',
                        recording(seen, 'h', reward_module.directional_derivatives))
    monkeypatch.setattr(reward_module, 'finite_difference_losses',
                        recording(seen, 'clean', reward_module.finite_difference_losses))
    hook.learner.estimator = recording(seen, 'estimator', hook.learner.estimator)
    batch = next(iter(runner.train_dataloader))
    clean_images = torch.stack(list(batch['inputs'])).float()
    hook.before_train_iter(runner, 0, batch)
    step = hook._step_input
    xi = step.lr
    out = runner.model.train_step(batch, optim_wrapper=runner.optim_wrapper)
    hook.after_train_iter(runner, 0, batch, out)
    assert hook.updates == 1
    h = seen['h'][2][0]
    clean_args, clean_kwargs, h_clean = seen['clean']
    # the baseline saw the un-augmented images, not the augmented batch
    torch.testing.assert_close(clean_args[4], clean_images)
    assert not torch.equal(clean_args[4], step.augmented.detach())
    assert clean_kwargs['central'] == (order == 'second')
    # and it is the same finite difference, computed independently here
    model = unwrap(runner)
    labels = labels_of(step.data_samples)
    ref = finite_difference_losses(model, step.weights, clean_args[2], clean_args[3],
                                   clean_images, step.data_samples, labels,
                                   central=order == 'second')
    torch.testing.assert_close(h_clean, ref)
    reward = seen['estimator'][0][0]
    torch.testing.assert_close(reward, -xi * (h - h_clean))
    assert float((h - h_clean).abs().max()) > 0


@pytest.mark.parametrize('credit', ['image', 'batch'])
def test_credit_and_reward_normalisation_reach_the_estimator(tmp_path, repo_root,
                                                              shapes_root, credit,
                                                              monkeypatch):
    """The estimator gets the credited reward divided by its RMS (the first step has no
    history, so its own), and the magnitude gradient is divided by the same factor."""
    import dada_mm.search.bilevel_reward as reward_module
    path = write_config(tmp_path, repo_root, shapes_root, epochs=1)
    text = open(path).read().replace(
        "held_out_norm='batch')", f"held_out_norm='batch', credit={credit!r}, "
                                  'reward_baseline=None)')
    open(path, 'w').write(text)
    runner = runner_before_training(path, tmp_path)
    hook = search_hook(runner)
    seen = {}
    monkeypatch.setattr(reward_module, 'directional_derivatives',
                        recording(seen, 'h', reward_module.directional_derivatives))
    hook.learner.estimator = recording(seen, 'estimator', hook.learner.estimator)
    for it in range(2):
        batch = next(iter(runner.train_dataloader))
        hook.before_train_iter(runner, it, batch)
        xi = hook._step_input.lr
        ms_before = hook.learner.reward_scaler.running
        out = runner.model.train_step(batch, optim_wrapper=runner.optim_wrapper)
        hook.after_train_iter(runner, it, batch, out)
        h, dh_dm = seen['h'][2]
        reward = seen['estimator'][0][0]
        raw = -xi * h
        if credit == 'batch':
            raw = raw.mean().expand_as(raw) * raw.numel()
        ms = float(raw.double().pow(2).mean()) if ms_before is None else ms_before
        torch.testing.assert_close(reward, raw / ms ** 0.5)
        if it == 0:
            assert float(reward.pow(2).mean()) == pytest.approx(1.0, rel=1e-4)
            if credit == 'batch':  # one value for the whole batch
                assert torch.allclose(reward, reward[0].expand(4))
    assert hook.updates == 2
    assert hook.learner.reward_scaler.running is not None
    # the reward spread is logged where it can be non-zero
    from dada_mm.search.hook import search_log_keys
    assert dada_scalars(runner) == set(search_log_keys('relax', credit))
    if credit == 'image':
        assert runner.message_hub.get_scalar('train/dada_reward_std').current() > 0


def test_credit_and_normalisation_bad_values_name_the_option():
    from dada_mm.search.hook import DADASearchHook
    with pytest.raises(ValueError, match=r"credit must be one of \['image', 'batch'\]"):
        DADASearchHook(val_dataloader=dict(), reward=dict(type='BilevelReward',
                                                          credit='group'))
    with pytest.raises(ValueError, match=r"reward_normalization must be one of "
                                         r"\[None, 'rms'\]"):
        DADASearchHook(val_dataloader=dict(), learner=dict(reward_normalization='std'))
    with pytest.raises(ValueError, match=r"held_out_norm must be one of "
                                         r"\['batch', 'running'\]"):
        DADASearchHook(val_dataloader=dict(), reward=dict(type='BilevelReward',
                                                          held_out_norm='eval'))


def test_reward_baseline_bad_value_names_the_option():
    from dada_mm.search.hook import DADASearchHook
    with pytest.raises(ValueError, match=r"reward_baseline must be one of \[None, 'clean'\]"):
        DADASearchHook(val_dataloader=dict(), reward=dict(type='BilevelReward',
                                                          reward_baseline='mean'))


def test_first_order_base_point_equals_a_separate_pass(tmp_path, repo_root, shapes_root):
    """The per-image losses and image gradient that the training step leaves behind are
    the ones a separate pass at w_t computes (so reusing them is exact)."""
    from dada_mm.search.bilevel import clone_buffers, input_gradient_and_losses, labels_of
    runner = runner_before_training(
        write_config(tmp_path, repo_root, shapes_root, order='first', epochs=1), tmp_path)
    hook = search_hook(runner)
    model = unwrap(runner)
    batch = next(iter(runner.train_dataloader))
    hook.before_train_iter(runner, 0, batch)
    step = hook._step_input
    buffers = clone_buffers(model)
    runner.model.train_step(batch, optim_wrapper=runner.optim_wrapper)
    labels = labels_of(step.data_samples)
    f0, g0 = hook.bilevel_reward.base_point(labels)
    f_ref, g_ref = input_gradient_and_losses(model, {**step.weights, **buffers},
                                             step.augmented, step.data_samples,
                                             labels)
    assert g0.abs().max() > 0
    torch.testing.assert_close(f0, f_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g0, g_ref, rtol=1e-4, atol=1e-4 * float(g_ref.abs().max()))
    # and the training step did move the weights the reference pass was taken at
    moved = any(not torch.equal(p, step.weights[n])
                for n, p in model.named_parameters() if n in step.weights)
    assert moved


def unwrap(runner):
    from dada_mm.search.bilevel import unwrap_model
    return unwrap_model(runner.model)


def test_first_order_refuses_amp_and_label_smoothing(tmp_path, repo_root, shapes_root):
    from types import SimpleNamespace

    from dada_mm.search.bilevel_reward import check_first_order

    class AmpOptimWrapper:  # mmengine refuses real AMP on the CPU; the check is by type
        _accumulative_counts = 1

    class OptimWrapper:
        _accumulative_counts = 4

    from mmengine.registry import MODELS
    head = MODELS.build(dict(type='mmpretrain.LinearClsHead', num_classes=3,
                             in_channels=4))
    model = SimpleNamespace(head=head)
    with pytest.raises(ValueError, match='mixed-precision'):
        check_first_order(SimpleNamespace(optim_wrapper=AmpOptimWrapper()), model)
    with pytest.raises(ValueError, match='accumulation'):
        check_first_order(SimpleNamespace(optim_wrapper=OptimWrapper()), model)
    cfg = write_config(tmp_path, repo_root, shapes_root, order='first', epochs=1)
    with pytest.raises(ValueError, match='plain CrossEntropyLoss'):
        run_train([cfg, '--work-dir', str(tmp_path / 'b'), '--cfg-options',
                   'model.head.loss.label_smooth_val=0.1',
                   'model.head.loss.type=LabelSmoothLoss'])


@pytest.mark.parametrize('magnitude_grad', ['exact', 'straight_through'])
def test_magnitude_step_descends_the_numeric_reward_derivative(tmp_path, repo_root,
                                                               shapes_root,
                                                               magnitude_grad):
    """Every image draws (Contrast, Brightness) with both ops on. The hook's first Adam
    step moves each level by -lr * sign(its gradient); with 'exact' gradients that sign
    must be the one of the reward's numeric derivative in the level (the same images,
    weights and direction, the level moved by +-0.05), so a flipped sign of the
    magnitude gradient in the hook fails. With 'straight_through' the hook must move the
    level along its own (op-agnostic) straight-through derivative."""
    import dada_mm.search.bilevel_reward as reward_module
    from dada_mm.search_space import SUB_POLICIES
    path = write_config(tmp_path, repo_root, shapes_root, epochs=1)
    # the flat spelling (deprecated): it must still reach the reward through train.py
    text = open(path).read().replace(
        "top_k=10),", f"top_k=10, magnitude_grad={magnitude_grad!r}),")
    open(path, 'w').write(text)
    runner = runner_before_training(path, tmp_path)
    hook = search_hook(runner)
    index = SUB_POLICIES.index(('Contrast', 'Brightness'))
    with torch.no_grad():
        hook.policy.alpha.fill_(-30.0)
        hook.policy.alpha[index] = 30.0
        hook.policy.probs.fill_(1.0)
        # factors 0.64 and 0.82: no pixel clips, so the 'exact' surrogate is exact
        hook.policy.magnitudes[index] = torch.tensor([0.3, 0.4])
    seen = {}
    real_dd = reward_module.directional_derivatives
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(reward_module, 'directional_derivatives',
                        recording(seen, 'h', real_dd))
    try:
        batch = next(iter(runner.train_dataloader))
        images = torch.stack(list(batch['inputs'])).float()
        hook.before_train_iter(runner, 0, batch)
        step = hook._step_input
        assert torch.all(step.sample.k == index) and torch.all(step.sample.b == 1)
        before = hook.policy.magnitudes.detach()[index].clone()
        out = runner.model.train_step(batch, optim_wrapper=runner.optim_wrapper)
        hook.after_train_iter(runner, 0, batch, out)
    finally:
        monkeypatch.undo()
    moved = hook.policy.magnitudes.detach()[index] - before
    assert torch.all(moved.abs() > 1e-3), moved
    model = unwrap(runner)
    _, weights, v, radius, _, data_samples, labels = seen['h'][0][:7]

    def mean_h(levels):
        from dada_mm.search.batched_ops import apply_sub_policies
        n = images.shape[0]
        x = apply_sub_policies(images, torch.tensor([[10, 12]] * n), torch.ones(n, 2),
                               levels.expand(n, 2), None, None, channel_order='bgr')
        h, _ = real_dd(model, weights, v, radius, x, data_samples, labels,
                       hook.policy.magnitudes, central=True)
        return float(h.mean())

    if magnitude_grad == 'exact':
        for j in range(2):
            up, down = before.clone(), before.clone()
            up[j] += 0.05
            down[j] -= 0.05
            d_reward = -(mean_h(up) - mean_h(down))   # reward = -xi * h, xi > 0
            assert abs(d_reward) > 0
            # descent on the reward: the level moves against its derivative
            assert torch.sign(moved[j]) == -torch.sign(torch.tensor(d_reward)), (
                j, moved, d_reward)
    else:
        dh_dm = seen['h'][2][1][index]
        assert torch.all(torch.sign(moved) == torch.sign(dh_dm)), (moved, dh_dm)


def _run_log(work_dir):
    import glob
    logs = glob.glob(osp.join(str(work_dir), '*', '*.log'))
    assert logs, f'no log file under {work_dir}'
    return '\n'.join(open(p).read() for p in logs)


def test_random_held_out_pipeline_and_long_search_epochs_are_warned(tmp_path, repo_root,
                                                                     shapes_root):
    """A held-out pipeline with a random crop and flip, and search_epochs=3 in a 1-epoch
    run: both warnings reach the run's log (MMLogger), naming the transforms / values;
    the run itself goes on (searching throughout, never frozen)."""
    cfg = write_config(tmp_path, repo_root, shapes_root, search_epochs=3, epochs=1)
    text = open(cfg).read()
    random_val = ("[dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', "
                  "scale=crop, backend='pillow'), dict(type='RandomFlip', prob=0.5), "
                  "dict(type='PackInputs')]")
    old = "with_label=True, pipeline=det_pipeline)),"
    assert text.count(old) == 1
    open(cfg, 'w').write(text.replace(old, f'with_label=True, pipeline={random_val})),'))
    runner = run_train([cfg, '--work-dir', str(tmp_path / 'wd')])
    log = _run_log(tmp_path / 'wd')
    assert ('DADASearchHook: the held-out val_dataloader has random transforms in its '
            'pipeline: RandomResizedCrop (dataset.pipeline[1]), RandomFlip '
            '(dataset.pipeline[2]). The held-out loss the policy is optimised on should be '
            'deterministic') in log
    assert ('DADASearchHook: search_epochs=3 is greater than max_epochs=1 '
            '(train_cfg.max_epochs): the policy is searched during all 1 epoch(s) and never '
            'frozen') in log
    assert log.count('has random transforms') == 1 and log.count('is greater than') == 1
    for line in log.splitlines():
        if 'DADASearchHook: search_epochs' in line or 'has random transforms' in line:
            assert ' - WARNING - ' in line, line
    hook = search_hook(runner)
    assert hook.frozen_policy is None and hook.updates == 3


def test_no_warning_for_a_deterministic_held_out_split_and_enough_epochs(tmp_path, repo_root,
                                                                        shapes_root):
    cfg = write_config(tmp_path, repo_root, shapes_root, search_epochs=1, epochs=1)
    run_train([cfg, '--work-dir', str(tmp_path / 'wd')])
    log = _run_log(tmp_path / 'wd')
    assert 'random transforms' not in log and 'is greater than' not in log


@pytest.mark.parametrize('estimator, reward, reason', [
    ('candidates', 'match', "candidate reward 'auto' -> 'match' (LinearClsHead, its trainable "
                            'logit layer head.fc)'),
    (dict(type='candidates', norm='batch'), 'dot',
     "candidate reward 'auto' -> 'dot' (norm='batch' (match scores each candidate with "
     'running statistics))'),
    (dict(type='candidates', reward='dot'), 'dot', None),
    (dict(type='candidates', signs='both'), 'match',
     "candidate reward 'auto' -> 'match' (LinearClsHead, its trainable logit layer head.fc)")])
def test_the_candidate_reward_auto_is_resolved_logged_and_recorded(
        tmp_path, repo_root, shapes_root, estimator, reward, reason):
    """The default candidate reward 'auto' becomes 'match' on the demo classifier (a
    LinearClsHead under cross-entropy) and 'dot' with BatchNorm in train mode; the log says
    which and why, and the policy file records the reward the candidates were scored by.
    A configured reward is used as given, without that log line."""
    cfg = write_config(tmp_path, repo_root, shapes_root, estimator=estimator, epochs=1)
    runner = run_train([cfg, '--work-dir', str(tmp_path / 'wd')])
    hook = search_hook(runner)
    assert hook.learner.estimator.reward == reward and hook.updates == 3
    doc = json.load(open(tmp_path / 'wd' / 'dada_policy.json'))
    assert doc['meta']['search']['candidate_reward'] == reward
    signs = estimator.get('signs', 'draw') if isinstance(estimator, dict) else 'draw'
    assert doc['meta']['search']['candidate_signs'] == signs == hook.learner.estimator.signs
    log = run_log(tmp_path / 'wd')
    if reason is None:
        assert "candidate reward 'auto'" not in log
    else:
        assert f'DADASearchHook: {reason}' in log
