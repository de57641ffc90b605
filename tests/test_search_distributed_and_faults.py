"""The search hook under a 2-process launch, non-finite gradients and a killed run.

All runs use the tiny generated set of ``conftest.shapes_root`` and the ``TINY_SEARCH``
config of ``test_search_hook`` (12 search-train images, batch 4: 3 iterations per epoch on
one process, 2 per rank on two). Helper hooks live in a module written to ``tmp_path``
(``dada_fault_hooks``) and are loaded through the config's ``custom_imports``, so that
subprocesses (``tools/train.py``, ``tools/dist_train.sh``) see them too.
"""
import glob
import math
import os
import os.path as osp
import re
import shutil
import signal
import socket
import subprocess
import sys
import warnings

import pytest
import torch
from test_search_hook import run_train, write_config

HELPERS_MODULE = 'dada_fault_hooks'

HELPERS = '''
"""Test-only hooks (written by tests/test_search_distributed_and_faults.py)."""
import os
import os.path as osp

import torch
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

import dada_mm.search.bilevel_reward as reward_module
from dada_mm.search.hook import DADASearchHook


def _search_hook(runner):
    return [h for h in runner.hooks if isinstance(h, DADASearchHook)][0]


@HOOKS.register_module(force=True)
class DumpPolicyHook(Hook):
    """After training, every rank saves its copy of the search state."""
    priority = 'LOWEST'

    def after_train(self, runner):
        hook = _search_hook(runner)
        rank, world_size = get_dist_info()
        learner = hook.learner
        torch.save(dict(policy=hook.policy.state_dict(),
                        control_variate=learner.control_variate.state_dict(),
                        optimizer=learner.optimizer.state_dict(),
                        generator=learner.generator.get_state(),
                        val_consumed=hook.val_stream.consumed,
                        updates=hook.updates, skipped_updates=hook.skipped_updates,
                        iters=runner.iter, world_size=world_size),
                   osp.join(runner.work_dir, f'policy_rank{rank}.pt'))


@HOOKS.register_module(force=True)
class KillAtIterHook(Hook):
    """Dies like a killed job (no clean-up, no exception handling) after iteration
    ``at_iter`` (1-based, counted over the whole run) has finished, policy step included."""
    priority = 'LOWEST'

    def __init__(self, at_iter):
        self.at_iter = at_iter

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at_iter:
            os._exit(17)


@HOOKS.register_module(force=True)
class PoisonedDADASearchHook(DADASearchHook):
    """The search hook with one poisoned policy step, at iteration ``poison_at``.

    poison: 'nan_grad' (the estimator's alpha gradient is NaN), 'inf_reward' (the per-image
    rewards are +inf) or 'nan_val' (the held-out gradient v is NaN). ``poison_rank``: only
    that rank is poisoned (None: all ranks).
    """

    def __init__(self, poison_at, poison='nan_grad', poison_rank=None, **kwargs):
        super().__init__(**kwargs)
        self.poison_at, self.poison, self.poison_rank = poison_at, poison, poison_rank
        self.poisoned_step_changed_policy = None

    def _policy_step(self, runner, step):
        if (runner.iter + 1 != self.poison_at
                or self.poison_rank not in (None, get_dist_info()[0])):
            return super()._policy_step(runner, step)
        before = {k: v.detach().clone() for k, v in self.policy.state_dict().items()}
        learner = self.learner
        estimator, validation_gradient = learner.estimator, reward_module.validation_gradient
        nan = float('nan')

        def poisoned_estimator(reward, *args):
            if self.poison == 'inf_reward':
                reward = torch.full_like(reward, float('inf'))
            estimate = estimator(reward, *args)
            if self.poison == 'nan_grad':
                estimate.grad_alpha = estimate.grad_alpha * nan
            return estimate

        def poisoned_validation_gradient(*args, **kwargs):
            v, loss = validation_gradient(*args, **kwargs)
            return {k: t * nan for k, t in v.items()}, loss

        learner.estimator = poisoned_estimator
        if self.poison == 'nan_val':
            reward_module.validation_gradient = poisoned_validation_gradient
        try:
            return super()._policy_step(runner, step)
        finally:
            learner.estimator = estimator
            reward_module.validation_gradient = validation_gradient
            self.poisoned_step_changed_policy = any(
                not torch.equal(before[k], v) for k, v in self.policy.state_dict().items())
'''


def _helpers(tmp_path):
    path = tmp_path / f'{HELPERS_MODULE}.py'
    path.write_text(HELPERS)
    return str(tmp_path)


def _config(tmp_path, repo_root, shapes_root, name, epochs=2, extra_hooks=(),
            search_hook_type='DADASearchHook', search_hook_args=''):
    """``TINY_SEARCH`` plus the helper module, extra hooks and/or another search hook."""
    _helpers(tmp_path)
    path = write_config(tmp_path, repo_root, shapes_root, name=name, epochs=epochs)
    text = open(path).read()
    old = "dict(type='DADASearchHook',"
    assert text.count(old) == 1
    text = text.replace(old, f"dict(type={search_hook_type!r}, {search_hook_args}")
    text += (f"\ncustom_imports = dict(imports=['dada_mm', {HELPERS_MODULE!r}], "
             'allow_failed_imports=False)\n')
    if extra_hooks:
        text += f'custom_hooks = custom_hooks + {list(extra_hooks)!r}\n'
    with open(path, 'w') as f:
        f.write(text)
    return path


def _env(tmp_path, **extra):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(tmp_path)] + [p for p in [env.get('PYTHONPATH')] if p])
    env.setdefault('OMP_NUM_THREADS', '1')
    env.update(extra)
    return env


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _train_subprocess(repo_root, tmp_path, argv, timeout=240):
    return subprocess.run([sys.executable, osp.join(repo_root, 'tools', 'train.py'), *argv],
                          cwd=repo_root, env=_env(tmp_path), capture_output=True, text=True,
                          timeout=timeout)


#: torchrun's report of a worker killed by a signal (a C++ abort inside gloo, not a Python
#: error: those exit with a traceback and status 1)
WORKER_SIGNAL = re.compile(r'Signal \d+ \(SIG[A-Z]+\) received by PID')


def _dist_train(repo_root, tmp_path, cfg, work_dir, nproc=2, timeout=300, extra=()):
    """tools/dist_train.sh in its own process group; a hang (e.g. ranks waiting in
    mismatched collectives) fails the test and takes the whole group down. A run whose
    worker torchrun reports killed by a signal is run once more in a clean work_dir, with
    a warning that carries its output: a gloo abort on this CPU backend was seen once in a
    full suite run and never in isolation. Any other failure, or a second one, is returned."""
    proc = _dist_train_once(repo_root, tmp_path, cfg, work_dir, nproc, timeout, extra)
    if proc.returncode != 0 and WORKER_SIGNAL.search(proc.stderr):
        warnings.warn(f'{nproc}-process run: a worker was killed by a signal; running it '
                      f'once more. Its stderr ended:\n{proc.stderr[-3000:]}', stacklevel=2)
        shutil.rmtree(work_dir, ignore_errors=True)
        proc = _dist_train_once(repo_root, tmp_path, cfg, work_dir, nproc, timeout, extra)
    return proc


def _dist_train_once(repo_root, tmp_path, cfg, work_dir, nproc, timeout, extra):
    proc = subprocess.Popen(
        ['bash', osp.join(repo_root, 'tools', 'dist_train.sh'), cfg, str(nproc),
         '--work-dir', str(work_dir), *extra, '--cfg-options',
         'env_cfg.dist_cfg.backend=gloo'],
        cwd=repo_root, env=_env(tmp_path, PORT=str(_free_port()), PYTHON=sys.executable),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f'the {nproc}-process run did not finish in {timeout} s (hung?)')
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def search_hook(runner):
    from dada_mm.search import DADASearchHook
    return [h for h in runner.hooks if isinstance(h, DADASearchHook)][0]


def _stray_temp_files(work_dir):
    return [p for p in glob.glob(osp.join(str(work_dir), '**', '*'), recursive=True)
            + glob.glob(osp.join(str(work_dir), '**', '.*'), recursive=True)
            if p.endswith('.tmp')]


def _log_text(work_dir):
    logs = glob.glob(osp.join(str(work_dir), '*', '*.log'))
    assert logs, f'no log file under {work_dir}'
    return '\n'.join(open(p).read() for p in logs)


def _assert_ranks_identical(a, b):
    for part in ('policy', 'control_variate'):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    # Adam moments too: the next step would diverge otherwise
    for pid, state in a['optimizer']['state'].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(value),
                               torch.as_tensor(b['optimizer']['state'][pid][key])), key


# ---------------------------------------------------------------------------- distributed
def test_two_process_search_keeps_ranks_identical(tmp_path, repo_root, shapes_root):
    """2 processes (torchrun through tools/dist_train.sh, gloo on CPU), then resumed.

    The policy (alpha, p, m), the control variate and the policy optimiser's moments are
    bit-identical on both ranks (same initial values, all-reduced mean gradients), while
    each rank draws its own augmentations (different generator states) and reads its own
    held-out batches. Only rank 0 writes the policy file.
    """
    cfg = _config(tmp_path, repo_root, shapes_root, 'dist.py',
                  extra_hooks=[dict(type='DumpPolicyHook')])
    work_dir = tmp_path / 'wd'
    proc = _dist_train(repo_root, tmp_path, cfg, work_dir)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])

    files = sorted(os.listdir(work_dir))
    assert [f for f in files if 'dada_policy' in f] == ['dada_policy.json'], files
    assert _stray_temp_files(work_dir) == []
    from dada_mm.policy import load_policy_file
    doc = load_policy_file(work_dir / 'dada_policy.json')
    assert doc['meta']['epochs_done'] == 2

    r0 = torch.load(work_dir / 'policy_rank0.pt')
    r1 = torch.load(work_dir / 'policy_rank1.pt')
    assert r0['world_size'] == r1['world_size'] == 2
    _assert_ranks_identical(r0, r1)
    # per-rank sampling: the generators were seeded differently and stay different
    assert not torch.equal(r0['generator'], r1['generator'])
    # 12 images over 2 ranks, batch 4: 2 iterations per epoch, one update each
    assert r0['iters'] == r1['iters'] == 4
    for r in (r0, r1):
        assert r['updates'] == r['iters'] and r['skipped_updates'] == 0
        assert r['val_consumed'] == r['iters']
    policy = r0['policy']
    assert not torch.equal(policy['alpha'], torch.full_like(policy['alpha'], 1e-3))
    assert not torch.equal(policy['probs'], torch.full_like(policy['probs'], 0.5))
    assert not torch.equal(policy['magnitudes'],
                           torch.full_like(policy['magnitudes'], 0.5))
    # the rank-0 checkpoint and file hold that same policy, and every rank's generator
    ckpt = torch.load(work_dir / 'epoch_2.pth')
    for key in policy:
        assert torch.equal(ckpt['dada_search']['policy'][key], policy[key]), key
    gens = ckpt['dada_search']['rank_generators']
    assert torch.equal(gens[0], r0['generator']) and torch.equal(gens[1], r1['generator'])

    # resumed on 2 processes from epoch 1: each rank gets its own generator back, so the
    # run ends exactly as the uninterrupted one, on both ranks
    resumed = tmp_path / 'resumed'
    proc = _dist_train(repo_root, tmp_path, cfg, resumed,
                       extra=['--resume', str(work_dir / 'epoch_1.pth')])
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    for rank, ref in enumerate((r0, r1)):
        got = torch.load(resumed / f'policy_rank{rank}.pt')
        _assert_ranks_identical(ref, got)
        assert torch.equal(ref['generator'], got['generator']), rank
        assert got['updates'] == ref['updates'] and got['val_consumed'] == ref['val_consumed']


def test_two_process_search_one_rank_non_finite_skips_on_all_ranks(tmp_path, repo_root,
                                                                   shapes_root):
    """A non-finite held-out gradient on rank 1 alone (iteration 2) makes *both* ranks
    skip that update (no rank left waiting in a collective, no divergence)."""
    cfg = _config(tmp_path, repo_root, shapes_root, 'dist_poison.py', epochs=1,
                  extra_hooks=[dict(type='DumpPolicyHook')],
                  search_hook_type='PoisonedDADASearchHook',
                  search_hook_args="poison_at=2, poison='nan_val', poison_rank=1,")
    work_dir = tmp_path / 'wd'
    proc = _dist_train(repo_root, tmp_path, cfg, work_dir, timeout=180)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    r0 = torch.load(work_dir / 'policy_rank0.pt')
    r1 = torch.load(work_dir / 'policy_rank1.pt')
    _assert_ranks_identical(r0, r1)
    for r in (r0, r1):
        assert r['iters'] == 2 and r['skipped_updates'] == 1 and r['updates'] == 1
        for value in r['policy'].values():
            assert bool(torch.isfinite(value).all())


# ---------------------------------------------------------------------------- NaN / inf
@pytest.mark.parametrize('poison', ['nan_grad', 'inf_reward', 'nan_val'])
def test_non_finite_step_is_skipped_with_a_warning(tmp_path, repo_root, shapes_root,
                                                   monkeypatch, poison):
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = _config(tmp_path, repo_root, shapes_root, f'poison_{poison}.py', epochs=1,
                  search_hook_type='PoisonedDADASearchHook',
                  search_hook_args=f'poison_at=2, poison={poison!r},')
    work_dir = tmp_path / 'wd'
    runner = run_train([cfg, '--work-dir', str(work_dir)])
    hook = search_hook(runner)
    assert type(hook).__name__ == 'PoisonedDADASearchHook'
    assert hook.poisoned_step_changed_policy is False
    for name, value in list(hook.policy.named_parameters()) + list(
            hook.learner.control_variate.named_parameters()):
        assert bool(torch.isfinite(value).all()), name
    for state in hook.learner.optimizer.state.values():
        for key, value in state.items():
            assert bool(torch.isfinite(torch.as_tensor(value)).all()), key
    assert runner.iter == 3
    assert hook.skipped_updates == 1 and hook.updates == runner.iter - 1
    # the other steps still moved the policy
    assert not torch.equal(hook.policy.alpha,
                           torch.full_like(hook.policy.alpha, 1e-3))
    assert 'skipped the policy update at iter 2' in _log_text(work_dir)
    # the count is logged as dada_skipped_updates (docs/search_logs.md)
    assert runner.message_hub.get_scalar('train/dada_skipped_updates').current() == 1
    assert 'dada_skipped_updates: 1.0000' in _log_text(work_dir)
    from dada_mm.policy import load_policy_file
    doc = load_policy_file(work_dir / 'dada_policy.json')
    assert doc['meta']['search']['skipped_updates'] == 1
    for sub in doc['sub_policies']:
        for op in sub:
            assert math.isfinite(op['prob']) and math.isfinite(op['magnitude'])


# ---------------------------------------------------------------------------- killed run
def test_killed_mid_epoch_resumes_from_epoch_checkpoint(tmp_path, repo_root, shapes_root,
                                                        monkeypatch):
    """A search killed mid-epoch, resumed with ``--resume epoch_1.pth``.

    What resume guarantees: mmengine 0.10.7's ``EpochBasedTrainLoop`` restarts an epoch's
    data from its first batch (it does not skip the batches of a partially done epoch), so
    the exact resume points are *epoch* checkpoints. Resuming from the last epoch
    checkpoint (here ``epoch_1.pth``) reruns the interrupted epoch from its start, with the
    network, optimiser, scheduler and the whole search state (alpha, p, m, control
    variate, policy optimiser, augmentation generator, held-out stream position) as they
    were at the end of epoch 1; the iterations done after it by the killed run are
    discarded. The final policy is then bit-identical to an uninterrupted run with the same
    seed. A mid-epoch iteration checkpoint (``CheckpointHook(by_epoch=False)``) would
    restore the search state of that iteration but replay the epoch's first batches, so
    it is *not* exact.

    The kill (``os._exit`` right after iteration 5, i.e. mid epoch 2 of 3 iterations each)
    leaves the policy file of epoch 1 complete and loadable (atomic writes), and no temp
    files behind.
    """
    from dada_mm.policy import load_policy_file
    monkeypatch.syspath_prepend(str(tmp_path))
    killed_cfg = _config(tmp_path, repo_root, shapes_root, 'killed.py',
                         extra_hooks=[dict(type='KillAtIterHook', at_iter=5)])
    plain_cfg = _config(tmp_path, repo_root, shapes_root, 'plain.py')
    killed_dir, ref_dir = tmp_path / 'killed', tmp_path / 'ref'

    # the killed run and the uninterrupted reference in subprocesses with the same
    # environment (one OpenMP thread): a bit-exact comparison needs the same thread
    # count, which an in-process reference does not have (on some CPUs the convolution
    # kernels round differently with 2 threads than with 1)
    killed = subprocess.Popen(
        [sys.executable, osp.join(repo_root, 'tools', 'train.py'), killed_cfg,
         '--work-dir', str(killed_dir)], cwd=repo_root, env=_env(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ref_proc = _train_subprocess(repo_root, tmp_path,
                                     [plain_cfg, '--work-dir', str(ref_dir)])
        out, err = killed.communicate(timeout=240)
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.communicate()
    assert ref_proc.returncode == 0, ref_proc.stderr[-4000:]
    assert killed.returncode == 17, err[-4000:]

    # what the kill left behind
    assert osp.isfile(killed_dir / 'epoch_1.pth')
    assert not osp.exists(killed_dir / 'epoch_2.pth')
    assert _stray_temp_files(killed_dir) == []
    doc = load_policy_file(killed_dir / 'dada_policy.json')
    assert doc['meta']['epochs_done'] == 1 and len(doc['sub_policies']) == 10
    epoch1 = torch.load(killed_dir / 'epoch_1.pth')['dada_search']
    assert epoch1['updates'] == 3

    proc = _train_subprocess(repo_root, tmp_path,
                             [plain_cfg, '--work-dir', str(killed_dir), '--resume',
                              str(killed_dir / 'epoch_1.pth')])
    assert proc.returncode == 0, proc.stderr[-4000:]

    ref = torch.load(ref_dir / 'epoch_2.pth')['dada_search']
    res = torch.load(killed_dir / 'epoch_2.pth')['dada_search']
    for part in ('policy', 'control_variate'):
        for key in ref[part]:
            assert torch.equal(ref[part][key], res[part][key]), (part, key)
    assert res['updates'] == ref['updates'] == 6
    assert res['val_stream'] == ref['val_stream']
    assert torch.equal(res['generator'], ref['generator'])
    assert (load_policy_file(killed_dir / 'dada_policy.json')['sub_policies']
            == load_policy_file(ref_dir / 'dada_policy.json')['sub_policies'])
    assert _stray_temp_files(killed_dir) == []
