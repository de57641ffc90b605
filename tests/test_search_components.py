"""The parts the search hook is glued from: atomic writes, the history, the export and
frozen draws, the learner's checkpoint state and the hook's renamed argument."""
import json
import os
import re
import warnings
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub

from dada_mm.policy.export import FrozenPolicySampler, export_top_k
from dada_mm.search.history import SearchHistory
from dada_mm.search.policy_params import PolicyParameters
from dada_mm.search_space import OP_INDEX, SUB_POLICIES
from dada_mm.utils import files

# checkpoint['dada_search'] of every release so far, in this order
STATE_KEYS = ['policy', 'control_variate', 'optimizer', 'cv_optimizer', 'op_sharing',
              'reward_scaler', 'generator', 'rank_generators', 'val_stream', 'estimator',
              'frozen_policy', 'history', 'updates', 'skipped_updates', 'frozen_weights']


def _boom(*args, **kwargs):
    raise OSError('simulated failure')


# ----------------------------------------------------------------------- atomic writes
@pytest.mark.parametrize('where', ['replace', 'fsync', 'write'])
def test_failed_atomic_write_removes_its_temp_file_and_keeps_the_target(
        tmp_path, monkeypatch, where):
    path = tmp_path / 'doc.json'
    files.write_json_atomic(path, {'v': 'original'})
    if where == 'replace':
        monkeypatch.setattr(files.os, 'replace', _boom)
    elif where == 'fsync':
        monkeypatch.setattr(files.os, 'fsync', _boom)
    else:
        real_fdopen = os.fdopen

        def failing_fdopen(*args, **kwargs):
            f = real_fdopen(*args, **kwargs)
            f.write = _boom
            return f
        monkeypatch.setattr(files.os, 'fdopen', failing_fdopen)
    with pytest.raises(OSError, match='simulated failure'):
        files.write_json_atomic(path, {'v': 'new'})
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ['doc.json']  # no temp file left
    assert json.loads(path.read_text()) == {'v': 'original'}


def test_atomic_write_of_an_unserialisable_object_creates_nothing(tmp_path):
    with pytest.raises(TypeError):
        files.write_json_atomic(tmp_path / 'new.json', {'v': object()})
    assert os.listdir(tmp_path) == []


def test_atomic_write_text_and_parent_directories(tmp_path):
    path = files.write_json_atomic(tmp_path / 'a' / 'b.json', [1, 2], end='\n', indent=1)
    assert path.read_text() == json.dumps([1, 2], indent=1) + '\n'


def test_history_is_written_atomically(tmp_path, monkeypatch):
    policy = PolicyParameters()
    history = SearchHistory()
    history.record(1, 10, policy)
    path = tmp_path / 'dada_search_history.json'
    history.write(path)
    before = path.read_bytes()
    doc = json.loads(before)
    assert doc['sub_policies'][0] == list(SUB_POLICIES[0])
    assert [e['epoch'] for e in doc['epochs']] == [1]
    assert doc['epochs'][0]['iteration'] == 10
    history.record(2, 20, policy)
    monkeypatch.setattr(files.os, 'replace', _boom)
    with pytest.raises(OSError):
        history.write(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ['dada_search_history.json']
    # the checkpoint keeps the entries as the plain list it always was
    assert history.state_dict() == doc['epochs'] + [history.entries[1]]
    restored = SearchHistory()
    restored.load_state_dict(history.state_dict())
    assert restored.entries == history.entries


# ----------------------------------------------------------------- export, frozen draws
def _moved_policy():
    policy = PolicyParameters()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        policy.alpha.copy_(torch.randn(105, generator=g))
        policy.probs.copy_(torch.rand(105, 2, generator=g) * 1.2 - 0.1)
        policy.magnitudes.copy_(torch.rand(105, 2, generator=g) * 1.2 - 0.1)
    return policy


def test_export_top_k_entries():
    policy = _moved_policy()
    rows = export_top_k(policy, 7)
    assert len(rows) == 7
    for (index, probs, levels), row in zip(policy.top_k(7), rows):
        assert row == [dict(op=name, prob=p, magnitude=m)
                       for name, p, m in zip(SUB_POLICIES[index], probs, levels)]
        assert all(0.0 <= op['prob'] <= 1.0 and 0.0 <= op['magnitude'] <= 1.0
                   for op in row)


def test_frozen_sampler_draws_as_the_hook_always_did():
    rows = export_top_k(_moved_policy(), 5)
    sampler = FrozenPolicySampler(rows, torch.device('cpu'))
    g = torch.Generator().manual_seed(3)
    op_indices, apply, levels = sampler.draw(64, g)
    # the reference: one uniform sub-policy index, then one uniform per op
    ref = torch.Generator().manual_seed(3)
    index = torch.randint(5, (64,), generator=ref)
    u = torch.rand(64, 2, generator=ref)
    table = torch.tensor([[OP_INDEX[o['op']] for o in sub] for sub in rows])
    probs = torch.tensor([[o['prob'] for o in sub] for sub in rows])
    mags = torch.tensor([[o['magnitude'] for o in sub] for sub in rows])
    assert torch.equal(op_indices, table[index])
    assert torch.equal(apply, (u < probs[index]).float())
    assert torch.equal(levels, mags[index])
    assert torch.equal(g.get_state(), ref.get_state())  # the same number of draws


# ---------------------------------------------------------------------- hook, learner
def _built_hook(**kwargs):
    from dada_mm.search import DADASearchHook
    hook = DADASearchHook(val_dataloader=dict(batch_size=2), **kwargs)
    model = torch.nn.Linear(2, 2)
    model.data_preprocessor = SimpleNamespace(batch_augments=None)
    hook._build(SimpleNamespace(model=model, seed=0))
    return hook


def test_checkpoint_state_keeps_its_keys_and_round_trips():
    hook = _built_hook()
    state = hook.state_dict()
    assert list(state) == STATE_KEYS
    assert state['history'] == [] and state['frozen_policy'] is None
    assert state['val_stream'] == {'consumed': 0, 'seed': 0, 'fixed': False}
    # an advanced copy loaded into a fresh hook reads the same
    with torch.no_grad():
        hook.policy.alpha.add_(1.0)
    hook.learner.updates, hook.learner.skipped_updates = 4, 1
    hook.learner.sample(3)  # advances the generator
    hook.history.record(1, 4, hook.policy)
    hook._freeze(SimpleNamespace(logger=SimpleNamespace(info=lambda *a: None), rank=1,
                                 message_hub=MessageHub.get_instance('frozen_state_test')),
                 epochs_done=1)
    saved = hook.state_dict()
    other = _built_hook()
    other.after_load_checkpoint(None, {'dada_search': saved})
    again = other.state_dict()
    assert torch.equal(again['policy']['alpha'], saved['policy']['alpha'])
    assert torch.equal(again['generator'], saved['generator'])
    assert again['frozen_policy'] == saved['frozen_policy'] and again['updates'] == 4
    assert again['frozen_weights'] is None  # export_weighting='uniform'
    # a checkpoint without frozen_weights (older ones) loads with equal chances
    old = {key: value for key, value in saved.items() if key != 'frozen_weights'}
    older = _built_hook()
    older.after_load_checkpoint(None, {'dada_search': old})
    assert older.frozen_weights is None and older._frozen_sampler.weights is None
    assert again['history'] == saved['history'] and again['skipped_updates'] == 1


def test_project_is_a_deprecated_name_of_clamp_after_step():
    from dada_mm.search import DADASearchHook
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # the new name warns about nothing
        assert DADASearchHook(val_dataloader=dict(), learner=dict(
            clamp_after_step=False)).learner_cfg.clamp_after_step is False
    assert DADASearchHook(val_dataloader=dict()).learner_cfg.clamp_after_step is True
    for value in (False, True):
        with pytest.warns(DeprecationWarning, match='clamp_after_step'):
            hook = DADASearchHook(val_dataloader=dict(), project=value)
        assert hook.learner_cfg.clamp_after_step is value


def test_project_warning_reaches_the_run_log():
    import logging

    from mmengine.logging import MMLogger

    from dada_mm.search import DADASearchHook
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        with pytest.warns(DeprecationWarning):
            DADASearchHook(val_dataloader=dict(), project=False)
    finally:
        logger.removeHandler(handler)
    assert any(r.levelno == logging.WARNING
               and 'use learner=dict(clamp_after_step=...)' in r.getMessage()
               for r in records)


@pytest.mark.parametrize('clamp', [True, False])
def test_learner_step_clamps_p_and_m_only_when_asked(clamp):
    from dada_mm.search.learner import LearnerConfig, PolicyLearner, PolicyReward
    cfg = LearnerConfig(estimator='reinforce', reward_normalization=None, share_ops=False,
                        policy_optimizer=dict(type='SGD', lr=10.0), clamp_after_step=clamp)
    learner = PolicyLearner(cfg, torch.device('cpu'), seed=0)
    with torch.no_grad():
        learner.policy.magnitudes.fill_(0.99)
    sample = learner.sample(4)
    grad_m = torch.zeros(105, 2)
    grad_m[sample.k] = -1.0  # descent moves the drawn levels up, past 1
    stats = learner.step(PolicyReward(per_image=torch.ones(4), grad_magnitudes=grad_m,
                                      val_loss=1.0, h_mean=0.0), sample)
    assert learner.updates == 1 and stats['val_loss'] == 1.0
    top = float(learner.policy.magnitudes.detach().max())
    assert (top == 1.0) if clamp else (top > 1.0)


def test_learner_refuses_a_non_finite_step_and_skip_counts_it():
    from dada_mm.search.learner import LearnerConfig, PolicyLearner, PolicyReward, SkipPolicyUpdate
    learner = PolicyLearner(LearnerConfig(estimator='relax'), torch.device('cpu'), seed=0)
    before = learner.policy.alpha.detach().clone()
    sample = learner.sample(4)
    reward = PolicyReward(per_image=torch.tensor([1.0, float('nan'), 0.0, 1.0]),
                          grad_magnitudes=torch.zeros(105, 2), val_loss=1.0, h_mean=0.0)
    with pytest.raises(SkipPolicyUpdate, match='non-finite'):
        learner.step(reward, sample)
    assert learner.skip() == 1 and learner.updates == 0
    assert all(p.grad is None for p in learner.policy.parameters())
    assert torch.equal(learner.policy.alpha, before)
    assert learner.reward_scaler.running is None  # not updated by the refused step


def test_epoch_summary_names_every_number():
    from dada_mm.search.history import epoch_summary
    policy = _moved_policy()
    sel = policy.selection_probs().detach()
    lines = []
    for rank, (index, probs, mags) in enumerate(policy.top_k(3)):
        a, b = SUB_POLICIES[index]
        lines.append(f'  #{rank + 1} w={float(sel[index]):.4f} {a}(p={probs[0]:.2f}, '
                     f'm={mags[0]:.2f}) + {b}(p={probs[1]:.2f}, m={mags[1]:.2f})')
    entropy = float(policy.entropy().detach())
    assert epoch_summary(policy, 4, 3) == (
        f'DADASearchHook: end of search epoch 4: selection entropy {entropy:.4f} '
        '(uniform: 4.6540); top 3 of 105 sub-policies by selection weight w = '
        'softmax(alpha) (uniform w = 0.0095), each op with its apply probability p and '
        'magnitude m (both in [0, 1]):\n' + '\n'.join(lines))
    # every number on a sub-policy line carries its name
    for line in epoch_summary(policy, 4, 3).splitlines()[1:]:
        for number in re.findall(r'[ (]([0-9.]+)', line):
            pytest.fail(f'unlabelled number {number!r} in {line!r}')


def test_hook_hands_every_option_to_its_component():
    from dada_mm.search import DADASearchHook
    reward = dict(order='first', reward_baseline=None, credit='image',
                  held_out_norm='running', fd_epsilon=0.5, hypergrad_scale=2.0,
                  magnitude_grad='exact', fixed_val_batch=True, warp='grid_sample')
    learner = dict(temperature=0.25, reward_normalization=None, share_ops=True, p_m_per='op',
                   policy_optimizer=dict(type='SGD', lr=1.0), control_variate=dict(hidden=3),
                   control_variate_optimizer=dict(type='SGD', lr=2.0),
                   init=dict(alpha=0.5), clamp_after_step=False)
    files = dict(search_begin=1, seed=7, channel_order='rgb', policy_file='p.json',
                 history_file='h.json', log_top=2)
    hook = DADASearchHook(val_dataloader=dict(), estimator='reinforce',
                          reward=dict(type='BilevelReward', **reward),
                          learner=dict(learner, **files))
    seen = dict(vars(hook.learner_cfg))
    assert seen.pop('estimator_options') == {}  # a name passes no options
    # init merges key by key over the preset's starting values
    assert seen == dict(learner, estimator='reinforce',
                        init=dict(alpha=0.5, prob=0.5, magnitude=0.5))
    assert {k: v for k, v in vars(hook.bilevel_reward).items()
            if not k.startswith('_')} == reward
    assert {key: getattr(hook, key) for key in files} == files
    assert (hook.magnitude_grad, hook.fixed_val_batch) == ('exact', True)
    # a dict passes the estimator its own options
    hook = DADASearchHook(val_dataloader=dict(), estimator=dict(type='candidates', num_draws=2,
                                                                  baseline='clean'))
    assert hook.learner_cfg.estimator == 'candidates'
    assert hook.learner_cfg.estimator_options == dict(num_draws=2, baseline='clean')
    with pytest.raises(ValueError, match="needs order='second'"):
        DADASearchHook(val_dataloader=dict(), estimator='candidates',
                       reward=dict(type='BilevelReward', order='first'))
    # without a type, the options go over the preset's estimator and reward
    hook = DADASearchHook(val_dataloader=dict(), estimator=dict(num_draws=2),
                          reward=dict(credit='image'))
    assert hook.learner_cfg.estimator == 'candidates'
    assert hook.learner_cfg.estimator_options == dict(num_draws=2)
    assert (hook.bilevel_reward.credit, hook.bilevel_reward.order) == ('image', 'second')
    hook = DADASearchHook(val_dataloader=dict(), preset='paper', reward=dict(credit='batch'))
    assert (hook.bilevel_reward.credit, hook.bilevel_reward.held_out_norm) == ('batch',
                                                                               'batch')
    with pytest.raises(ValueError, match='num_images must be an int'):
        DADASearchHook(val_dataloader=dict(), estimator=dict(type='candidates', num_images=0))


def test_the_default_hook_scores_candidates_and_the_paper_hook_has_the_papers_settings():
    from mmengine.registry import HOOKS

    import dada_mm  # noqa: F401
    from dada_mm.search.hook import PAPER_SETTINGS
    held_out = dict(batch_size=2, dataset=dict(type='CustomDataset', data_root='x'))
    default = HOOKS.build(dict(type='DADASearchHook', val_dataloader=held_out))
    assert default.learner_cfg.estimator == 'candidates'
    assert default.bilevel_reward.held_out_norm == 'running'
    paper = HOOKS.build(dict(type='PaperDADASearchHook', val_dataloader=held_out))
    assert type(paper).__name__ == 'PaperDADASearchHook'
    cfg, reward = paper.learner_cfg, paper.bilevel_reward
    assert (cfg.estimator, reward.held_out_norm, reward.credit, reward.reward_baseline) == (
        'relax', 'batch', 'image', None)
    assert cfg.share_ops is False and cfg.reward_normalization is None
    assert cfg.policy_optimizer['lr'] == 0.005 and cfg.control_variate['zero_init'] is False
    # an argument still overrides a paper default, and the shared dict is not changed
    mine = HOOKS.build(dict(type='PaperDADASearchHook', val_dataloader=held_out,
                            estimator='reinforce',
                            learner=dict(policy_optimizer=dict(type='Adam', lr=0.1))))
    assert mine.learner_cfg.estimator == 'reinforce'
    assert mine.learner_cfg.policy_optimizer['lr'] == 0.1
    assert PAPER_SETTINGS['learner']['policy_optimizer']['lr'] == 0.005
    with pytest.raises(ValueError, match="order='first' works with estimator='relax'"):
        HOOKS.build(dict(type='DADASearchHook', val_dataloader=held_out,
                         reward=dict(type='BilevelReward', order='first')))


def test_policy_movement_against_hand_computed_values():
    import math

    from dada_mm.search.history import policy_movement
    n = 4
    start = dict(selection_probs=[0.25] * n, probs=[[0.5, 0.5]] * n,
                 magnitudes=[[0.5, 0.5]] * n)
    still = policy_movement(start, start)
    assert still['entropy'] == pytest.approx(math.log(4))
    assert still['selection_tv_from_start'] == 0.0
    assert still['max_selection_vs_uniform'] == pytest.approx(1.0)
    assert still['mean_abs_prob_change'] == still['mean_abs_magnitude_change'] == 0.0
    moved = dict(selection_probs=[0.7, 0.1, 0.1, 0.1],
                 probs=[[0.9, 0.5], [0.5, 0.5], [0.1, 0.5], [0.5, 0.5]],
                 magnitudes=[[0.5, 0.5]] * 3 + [[0.0, 1.0]])
    out = policy_movement(moved, start)
    assert out['entropy'] == pytest.approx(-(0.7 * math.log(0.7) + 0.3 * math.log(0.1)))
    assert out['max_selection_vs_uniform'] == pytest.approx(2.8)
    assert out['min_selection_vs_uniform'] == pytest.approx(0.4)
    assert out['selection_tv_from_start'] == pytest.approx(0.45)  # (0.45 + 3 * 0.15) / 2
    assert out['mean_abs_prob_change'] == pytest.approx(0.8 / 8)
    assert out['mean_abs_magnitude_change'] == pytest.approx(1.0 / 8)


def test_signed_ops_can_start_away_from_their_identity_level():
    from dada_mm.search.learner import LearnerConfig, PolicyLearner, initial_magnitudes
    from dada_mm.search_space import SUB_POLICIES
    signed = {'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate'}
    levels = initial_magnitudes(dict(magnitude=0.5, signed_magnitude=0.75))
    for k, pair in enumerate(SUB_POLICIES):
        for j, op in enumerate(pair):
            assert levels[k, j].item() == (0.75 if op in signed else 0.5), (k, op)
    # 5 signed ops of 15: 5 * 14 of the 210 slots
    assert int((levels == 0.75).sum()) == 70
    assert torch.equal(initial_magnitudes(dict(magnitude=0.3)), torch.full((105, 2), 0.3))
    assert torch.equal(initial_magnitudes(), torch.full((105, 2), 0.5))
    learner = PolicyLearner(LearnerConfig(init=dict(signed_magnitude=0.75)),
                            torch.device('cpu'), seed=0)
    assert torch.equal(learner.policy.magnitudes.detach(), levels)


@pytest.mark.parametrize('init,match', [
    (dict(signed=0.7), r"init: unknown keys \['signed'\]; allowed keys are \['alpha', "
                       r"'prob', 'magnitude', 'signed_magnitude'\]"),
    (dict(signed_magnitude=1.5), r'init.signed_magnitude must be a number in \[0, 1\]'),
    (dict(prob=-0.1), r'init.prob must be a number in \[0, 1\]'),
    (dict(magnitude='high'), r"init.magnitude must be a number in \[0, 1\].*got 'high'"),
    (dict(prob=None), r'init.prob must be a number in \[0, 1\].*got None'),
    (dict(alpha='x'), r"init.alpha must be a finite number .*got 'x'"),
    (dict(alpha=float('nan')), r'init.alpha must be a finite number'),
])
def test_bad_init_names_the_key(init, match):
    from dada_mm.search.learner import LearnerConfig
    with pytest.raises(ValueError, match=match):
        LearnerConfig(init=init)


def test_hook_config_merges_the_signed_start_over_the_presets_init():
    from dada_mm.search import DADASearchHook
    from dada_mm.search.learner import initial_magnitudes
    hook = DADASearchHook(val_dataloader=dict(), learner=dict(init=dict(signed_magnitude=0.6)))
    assert hook.learner_cfg.init == dict(alpha=1e-3, prob=0.5, magnitude=0.5,
                                         signed_magnitude=0.6)
    learner = learner_of(hook.learner_cfg)
    assert torch.equal(learner.policy.magnitudes.detach(),
                       initial_magnitudes(dict(magnitude=0.5, signed_magnitude=0.6)))
    # signed_magnitude=None is the default: the signed ops start at `magnitude`
    hook = DADASearchHook(val_dataloader=dict(),
                          learner=dict(init=dict(magnitude=0.4, signed_magnitude=None)))
    assert torch.equal(learner_of(hook.learner_cfg).policy.magnitudes.detach(),
                       torch.full((105, 2), 0.4))


def learner_of(cfg):
    from dada_mm.search.learner import PolicyLearner
    return PolicyLearner(cfg, torch.device('cpu'), seed=0)
