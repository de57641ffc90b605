"""DADASearchHook's surface: eight arguments, presets as data, registry-built estimator and
reward, the flat keywords of one release ago (warned about, mapped to the same settings),
and errors that name the field and the allowed values."""
import inspect
import warnings
from types import SimpleNamespace

import pytest
import torch

from dada_mm.search import DADASearchHook, PaperDADASearchHook
from dada_mm.search.candidates import CandidateEstimator
from dada_mm.search.estimators import ReinforceEstimator, RelaxEstimator

HELD_OUT = dict(batch_size=2)

#: every keyword of the hook's flat signature of one release ago, a value other than its
#: default, and where it lives now: (sub-config, key)
FLAT = dict(
    order=('first', 'reward', 'order'), temperature=(0.3, 'learner', 'temperature'),
    magnitude_grad=('exact', 'reward', 'magnitude_grad'),
    reward_baseline=(None, 'reward', 'reward_baseline'), credit=('image', 'reward', 'credit'),
    reward_normalization=(None, 'learner', 'reward_normalization'),
    share_ops=(False, 'learner', 'share_ops'),
    held_out_norm=('batch', 'reward', 'held_out_norm'),
    fd_epsilon=(0.5, 'reward', 'fd_epsilon'),
    hypergrad_scale=(2.0, 'reward', 'hypergrad_scale'),
    policy_optimizer=(dict(type='SGD', lr=1.0), 'learner', 'policy_optimizer'),
    control_variate=(dict(hidden=3), 'learner', 'control_variate'),
    control_variate_optimizer=(dict(type='SGD', lr=2.0), 'learner',
                               'control_variate_optimizer'),
    init=(dict(alpha=0.5), 'learner', 'init'),
    fixed_val_batch=(True, 'reward', 'fixed_val_batch'),
    clamp_after_step=(False, 'learner', 'clamp_after_step'),
    policy_file=('p.json', 'learner', 'policy_file'),
    history_file=('h.json', 'learner', 'history_file'),
    channel_order=('rgb', 'learner', 'channel_order'), log_top=(2, 'learner', 'log_top'),
    seed=(7, 'learner', 'seed'), search_begin=(1, 'learner', 'search_begin'),
    project=(False, 'learner', 'clamp_after_step'))
#: the flat keywords that kept their place
KEPT = dict(val_dataloader=HELD_OUT, search_epochs=3, update_interval=2, top_k=10,
            estimator='reinforce')


def built(hook):
    """``hook`` after ``_build`` on a stand-in runner (its learner exists; the stand-in
    model has no head, which order='first' would refuse)."""
    model = torch.nn.Linear(2, 2)
    model.data_preprocessor = SimpleNamespace(batch_augments=None)
    hook.bilevel_reward.check_model = lambda runner, model: None
    hook._build(SimpleNamespace(model=model, seed=0))
    return hook


def test_the_signature_has_at_most_eight_arguments():
    params = inspect.signature(DADASearchHook.__init__).parameters.values()
    named = [p.name for p in params if p.name != 'self' and p.kind is not p.VAR_KEYWORD]
    assert named == ['val_dataloader', 'search_epochs', 'update_interval', 'top_k', 'preset',
                     'estimator', 'reward', 'learner']


def test_the_paper_preset_has_the_papers_settings():
    hook = built(DADASearchHook(val_dataloader=HELD_OUT, preset='paper'))
    reward, cfg, learner = hook.bilevel_reward, hook.learner_cfg, hook.learner
    assert (reward.order, reward.reward_baseline, reward.credit, reward.fd_epsilon,
            reward.hypergrad_scale, reward.held_out_norm, reward.magnitude_grad,
            reward.fixed_val_batch) == ('second', None, 'image', 0.01, 'lr', 'batch',
                                        'straight_through', False)
    assert (cfg.estimator, cfg.estimator_options, cfg.temperature, cfg.reward_normalization,
            cfg.share_ops, cfg.clamp_after_step) == ('relax', {}, 0.5, None, False, True)
    assert type(learner.estimator) is RelaxEstimator
    assert learner.estimator.train_control_variate is True
    assert learner.op_sharing is None and learner.reward_scaler is None
    for optimizer in (learner.optimizer, learner.cv_optimizer):
        group = optimizer.param_groups[0]
        assert type(optimizer) is torch.optim.Adam
        assert (group['lr'], group['betas'], group['weight_decay']) == (0.005, (0.5, 0.999),
                                                                        0.0)
    # the control variate: 100 hidden units, default-initialised (its output layer does
    # not start at 0)
    hidden, out = learner.control_variate.net[0], learner.control_variate.net[-1]
    assert hidden.out_features == 100 and float(out.weight.abs().sum()) > 0
    assert float(learner.policy.alpha[0]) == pytest.approx(1e-3)
    assert float(learner.policy.probs[0, 0]) == 0.5
    assert float(learner.policy.magnitudes[0, 0]) == 0.5
    assert (hook.search_begin, hook.seed, hook.channel_order, hook.top_k,
            hook.update_interval) == (0, None, 'bgr', 25, 1)
    # PaperDADASearchHook is the same hook with the same settings
    paper = PaperDADASearchHook(val_dataloader=HELD_OUT)
    assert paper.preset == 'paper' and paper.settings == hook.settings


def test_the_default_preset_keeps_the_defaults():
    hook = built(DADASearchHook(val_dataloader=HELD_OUT))
    reward, cfg, learner = hook.bilevel_reward, hook.learner_cfg, hook.learner
    assert (reward.order, reward.reward_baseline, reward.credit, reward.held_out_norm) == (
        'second', 'clean', 'batch', 'running')
    assert (cfg.estimator, cfg.reward_normalization, cfg.share_ops) == ('candidates', 'rms',
                                                                       True)
    assert type(learner.estimator) is CandidateEstimator
    assert learner.estimator.num_images == 8 and learner.estimator.num_draws == 3
    group = learner.optimizer.param_groups[0]
    assert (group['lr'], group['betas']) == (0.01, (0.5, 0.999))
    group = learner.cv_optimizer.param_groups[0]
    assert (group['lr'], group['betas']) == (0.005, (0.9, 0.999))
    assert learner.op_sharing is not None and learner.reward_scaler is not None
    hidden, out = learner.control_variate.net[0], learner.control_variate.net[-1]
    assert hidden.out_features == 100 and float(out.weight.abs().sum()) == 0  # zero_init
    assert (hook.policy_file, hook.history_file, hook.log_top) == (
        'dada_policy.json', 'dada_search_history.json', 5)


def test_given_values_go_over_the_preset():
    hook = built(DADASearchHook(
        val_dataloader=HELD_OUT, preset='paper',
        estimator=dict(type='relax', train_control_variate=False),
        reward=dict(type='BilevelReward', order='first'),
        learner=dict(temperature=0.25, policy_optimizer=dict(type='SGD', lr=0.5))))
    assert hook.learner.estimator.train_control_variate is False
    # the rest of the paper's reward and learner stays
    assert (hook.bilevel_reward.order, hook.bilevel_reward.credit) == ('first', 'image')
    assert hook.learner_cfg.temperature == 0.25 and hook.learner_cfg.share_ops is False
    assert type(hook.learner.optimizer) is torch.optim.SGD
    assert hook.learner.optimizer.param_groups[0]['lr'] == 0.5
    # another estimator type does not inherit the preset's estimator options
    hook = DADASearchHook(val_dataloader=HELD_OUT,
                          estimator=dict(type='reinforce', baseline_momentum=0.9))
    assert hook.settings['estimator'] == dict(type='reinforce', baseline_momentum=0.9)
    assert built(hook).learner.estimator.baseline_momentum == 0.9
    assert type(hook.learner.estimator) is ReinforceEstimator
    hook = built(DADASearchHook(val_dataloader=HELD_OUT, estimator=dict(
        type='candidates', num_images=4, num_draws=2, reward='cos_class')))
    assert (hook.learner.estimator.num_images, hook.learner.estimator.num_draws,
            hook.learner.estimator.reward) == (4, 2, 'cos_class')


@pytest.mark.parametrize('old', sorted(FLAT))
def test_a_flat_keyword_warns_and_lands_in_its_sub_config(old):
    value, part, key = FLAT[old]
    with pytest.warns(DeprecationWarning, match=rf'{old}=\.\.\.\) is deprecated; use '
                                                rf'{part}=dict\(.*{key}=\.\.\.\)'):
        hook = DADASearchHook(val_dataloader=HELD_OUT, estimator='relax', **{old: value})
    new = DADASearchHook(val_dataloader=HELD_OUT, estimator='relax',
                         **{part: dict({key: value}, **(
                             dict(type='BilevelReward') if part == 'reward' else {}))})
    assert hook.settings == new.settings
    if key == 'init':  # the starting values merge key by key over the preset's
        assert hook.settings[part][key] == dict(alpha=0.5, prob=0.5, magnitude=0.5)
    else:
        assert hook.settings[part][key] == value


def test_the_old_flat_signature_builds_the_same_search_as_the_new_one():
    old = {name: value for name, (value, _, _) in FLAT.items() if name != 'project'}
    with pytest.warns(DeprecationWarning):
        flat = built(DADASearchHook(**KEPT, **old))
    reward = dict(type='BilevelReward', **{k: v for k, (v, part, _) in FLAT.items()
                                           if part == 'reward'})
    learner = {k: v for k, (v, part, _) in FLAT.items() if part == 'learner'
               and k != 'project'}
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # the new spelling warns about nothing
        new = built(DADASearchHook(**KEPT, reward=reward, learner=learner))
    assert flat.settings == new.settings
    a, b = flat.learner.state_dict(), new.learner.state_dict()
    assert torch.equal(a['generator'], b['generator'])
    for name in ('policy', 'control_variate'):
        assert all(torch.equal(a[name][k], b[name][k]) for k in a[name])
    assert torch.equal(flat.learner.sample(4).k, new.learner.sample(4).k)


def test_the_paper_hook_with_flat_keywords_keeps_working():
    with pytest.warns(DeprecationWarning, match='learner=dict'):
        hook = PaperDADASearchHook(val_dataloader=HELD_OUT, temperature=0.3,
                                   fixed_val_batch=True)
    assert hook.learner_cfg.temperature == 0.3 and hook.fixed_val_batch is True
    assert hook.bilevel_reward.credit == 'image'  # the rest stays the paper's


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(preset='papers'), ValueError, r"preset must be one of \['default', 'paper'\]"),
    (dict(estimator='relaxed'), KeyError, r"unknown dada estimator 'relaxed'; choose from "
                                          r"\['candidates', 'gumbel_st', 'reinforce'"),
    (dict(estimator=dict(type='relax', baseline_momentum=0.9)), ValueError,
     r"'relax' has no option 'baseline_momentum'; its options: \['train_control_variate'\]"),
    (dict(estimator=dict(num_draws=0)), ValueError, 'num_draws must be an int >= 1'),
    (dict(reward=dict(type='BilevelReward', orders='first')), ValueError,
     r"'BilevelReward' has no option 'orders'; its options: \['order'"),
    (dict(reward=dict(orders='first')), ValueError,
     r"'BilevelReward' has no option 'orders'; its options: \['order'"),
    (dict(reward=dict(type='Reward')), KeyError, r"unknown dada reward 'Reward'; choose "
                                                 r"from \['BilevelReward'\]"),
    (dict(learner=dict(temprature=0.3)), ValueError,
     r"learner has no key 'temprature'; its keys: \['temperature'"),
    (dict(learner=dict(order='first')), ValueError, r'order belongs in reward=dict'),
    (dict(temprature=0.3), TypeError, r"unexpected keyword argument 'temprature'; its "
                                      r"arguments: \['val_dataloader'"),
    (dict(temperature=0.3, learner=dict(temperature=0.4)), ValueError,
     r'temperature is given twice'),
    (dict(reward=dict(type='BilevelReward', credit='group')), ValueError,
     r"credit must be one of \['image', 'batch'\], got 'group'"),
    (dict(reward=dict(warp='bilinear')), ValueError,
     r"warp must be one of \['pil', 'floor', 'grid_sample'\], got 'bilinear'"),
    (dict(warp='grid_sample'), TypeError, r"unexpected keyword argument 'warp'"),
])
def test_bad_input_names_the_field_and_the_allowed_values(kwargs, error, match):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        with pytest.raises(error, match=match):
            DADASearchHook(val_dataloader=HELD_OUT, **kwargs)


def test_estimators_and_rewards_are_registries():
    from dada_mm.search import DADA_ESTIMATORS, DADA_REWARDS, ESTIMATORS, build_estimator
    from dada_mm.search.bilevel_reward import BilevelReward
    assert set(DADA_ESTIMATORS.module_dict) == {'candidates', 'relax', 'reinforce',
                                                'gumbel_st'}
    assert DADA_REWARDS.get('BilevelReward') is BilevelReward
    assert dict(ESTIMATORS) == DADA_ESTIMATORS.module_dict  # a read-only view of it
    with pytest.raises(TypeError):
        ESTIMATORS['mine'] = RelaxEstimator
    est = build_estimator(dict(type='relax', train_control_variate=False))
    assert type(est) is RelaxEstimator and est.train_control_variate is False
    assert DADA_ESTIMATORS.build(dict(type='reinforce', baseline_momentum=0.5)
                                 ).baseline_momentum == 0.5


def test_bench_policy_hook_options_take_old_and_new_names(tmp_path):
    """benchmarks/bench_policy.py puts --hook-options into the hook's config as given."""
    import importlib.util
    import os.path as osp

    from mmengine.registry import HOOKS
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'benchmarks',
                    'bench_policy.py')
    spec = importlib.util.spec_from_file_location('bench_policy_surface', path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    def hook_of(options):
        args = SimpleNamespace(width=4, search_epochs=1, lr=0.05, size=16, batch_size=4,
                               val_batch_size=0, hook_options=options)
        cfg = bench.search_cfg(args, str(tmp_path), 'natural', 0, str(tmp_path / 'w'))
        return HOOKS.build(cfg['custom_hooks'][0])

    with pytest.warns(DeprecationWarning):
        old = hook_of({'type': 'PaperDADASearchHook', 'credit': 'batch', 'temperature': 0.3})
    new = hook_of({'preset': 'paper', 'reward': {'type': 'BilevelReward', 'credit': 'batch'},
                   'learner': {'temperature': 0.3}})
    assert old.settings == new.settings
    assert (new.bilevel_reward.credit, new.learner_cfg.temperature,
            new.learner_cfg.estimator) == ('batch', 0.3, 'relax')


def test_the_reward_warp_is_what_augment_batch_applies(monkeypatch):
    from dada_mm.search import augment as augment_module
    seen = []

    def record(*args, warp='pil', **kwargs):
        seen.append(warp)
        return args[0]

    monkeypatch.setattr(augment_module, 'apply_sub_policies', record)
    hook = built(DADASearchHook(val_dataloader=HELD_OUT, reward=dict(warp='grid_sample')))
    assert hook.bilevel_reward.warp == 'grid_sample'
    augment_module.augment_batch(torch.zeros(2, 3, 4, 4), hook.learner, None, False,
                                 hook.channel_order, hook.magnitude_grad,
                                 hook.bilevel_reward.warp)
    assert seen == ['grid_sample']
