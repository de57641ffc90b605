"""What a search tells its reader: the `dada_*` scalars against their table in
docs/search_logs.md, and the message of a restored search state. (The scalars of real
runs are checked in test_search_hook.py.)"""
import glob
import itertools
import logging
import os.path as osp
import re
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MMLogger

from dada_mm.search.bilevel_reward import CREDITS
from dada_mm.search.estimators import ESTIMATORS
from dada_mm.search.hook import LOG_KEYS_ON_SKIP, search_log_keys
from dada_mm.search.learner import LearnerConfig, PolicyLearner, PolicyReward

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOC = osp.join(REPO, 'docs', 'search_logs.md')


def documented_keys():
    """The keys of the table rows of docs/search_logs.md: | `dada_<key>` | ... |"""
    rows = re.findall(r'^\| `dada_(\w+)` \|(.*)\|\s*$', open(DOC).read(), re.M)
    assert rows, f'no | `dada_...` | rows in {DOC}'
    for key, rest in rows:  # meaning, when, unit: all filled in
        cells = [c.strip() for c in rest.split(' | ')]
        assert len(cells) == 3 and all(cells), (key, cells)
    return [key for key, _ in rows]


def logged_keys():
    keys = set(LOG_KEYS_ON_SKIP)
    for estimator, credit in itertools.product(ESTIMATORS, CREDITS):
        keys.update(search_log_keys(estimator, credit))
    return keys


def test_every_estimator_says_what_it_logs():
    from dada_mm.search.hook import _LOG_KEYS_BY_ESTIMATOR
    assert set(_LOG_KEYS_BY_ESTIMATOR) == set(ESTIMATORS)


def test_the_doc_table_lists_exactly_the_logged_keys():
    documented = documented_keys()
    assert len(documented) == len(set(documented)), 'a key is documented twice'
    assert set(documented) == logged_keys()


def test_the_hook_is_the_only_place_that_logs_scalars():
    """Every scalar of the package goes through the hook's one update_scalar call, whose
    keys search_log_keys names."""
    import dada_mm
    root = osp.dirname(dada_mm.__file__)
    calls = []
    for path in sorted(glob.glob(osp.join(root, '**', '*.py'), recursive=True)):
        for line in open(path):
            if 'update_scalar' in line:
                calls.append((osp.relpath(path, root), line.strip()))
    assert calls == [('search/hook.py',
                      "runner.message_hub.update_scalar(f'train/dada_{key}', value)")]


def test_batch_credit_logs_no_reward_spread_and_only_relax_logs_its_control_variate():
    assert 'reward_std' not in search_log_keys('relax', 'batch')
    assert 'reward_std' in search_log_keys('relax', 'image')
    for estimator in ('reinforce', 'gumbel_st'):
        assert not {'cv_z', 'cv_z_tilde', 'variance_loss'} & set(
            search_log_keys(estimator, 'batch'))
    assert {'cv_z', 'cv_z_tilde', 'variance_loss'} <= set(search_log_keys('relax', 'batch'))
    for keys in map(search_log_keys, ESTIMATORS, ('batch', ) * len(ESTIMATORS)):
        assert not {'baseline', 'batch_variance'} & set(keys)


@pytest.mark.parametrize('estimator', sorted(ESTIMATORS))
def test_the_learner_computes_every_logged_key(estimator):
    """Each key search_log_keys names is a finite number of the learner's step, whatever
    the credit; and the batch reward's spread, which batch credit does not log, is 0."""
    learner = PolicyLearner(LearnerConfig(estimator=estimator), torch.device('cpu'), seed=0)
    if estimator == 'candidates':  # one reward per candidate of each scored image; no credit
        candidates = learner.estimator.draw(learner.policy, 4, learner.generator)
        rewards = torch.linspace(-1, 1, 4 * candidates.num_candidates).view(4, -1)
        stats = learner.step(PolicyReward(per_image=rewards, grad_magnitudes=torch.zeros(105, 2),
                                          val_loss=1.25, h_mean=-0.5), candidates)
        keys = search_log_keys(estimator, 'batch')
        assert set(keys) <= set(stats), set(keys) - set(stats)
        assert all(torch.isfinite(torch.tensor(stats[k])) for k in keys)
        assert stats['val_loss'] == 1.25 and stats['grad_m_norm'] > 0  # the levels' own
        return
    sample = learner.sample(4)
    reward = torch.tensor([0.3, -0.1, 0.2, 0.4])
    for credit in CREDITS:
        per_image = reward if credit == 'image' else reward.mean().expand(4) * 4
        stats = learner.step(PolicyReward(per_image=per_image.clone(),
                                          grad_magnitudes=torch.full((105, 2), 0.1),
                                          val_loss=1.25, h_mean=-0.5), sample)
        keys = search_log_keys(estimator, credit)
        assert set(keys) <= set(stats), set(keys) - set(stats)
        assert all(torch.isfinite(torch.tensor(stats[k])) for k in keys)
        assert stats['val_loss'] == 1.25 and stats['h_mean'] == -0.5
        if credit == 'batch':
            assert stats['reward_std'] == 0.0
        else:
            assert stats['reward_std'] > 0.0


# ---------------------------------------------------------------------- resume message
def _hook():
    from dada_mm.search import DADASearchHook
    hook = DADASearchHook(val_dataloader=dict(batch_size=2))
    model = torch.nn.Linear(2, 2)
    model.data_preprocessor = SimpleNamespace(batch_augments=None)
    hook._build(SimpleNamespace(model=model, seed=0))
    return hook


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append((record.levelno, record.getMessage()))


@pytest.fixture
def log_records():
    logger = MMLogger.get_current_instance()
    handler = _Records()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def _saved_state():
    saved = _hook()
    saved.learner.updates, saved.learner.skipped_updates = 6, 1
    saved.val_stream.consumed = 6
    saved.history.record(1, 4, saved.policy)
    saved.history.record(2, 8, saved.policy)
    return saved.state_dict()


def test_auto_resume_logs_what_it_restored_and_the_latest_checkpoint(tmp_path,
                                                                     log_records):
    ckpt = tmp_path / 'epoch_2.pth'
    (tmp_path / 'last_checkpoint').write_text(str(ckpt))
    runner = SimpleNamespace(_load_from=None, _resume=True, work_dir=str(tmp_path))
    hook = _hook()
    hook.after_load_checkpoint(runner, {'dada_search': _saved_state(),
                                        'meta': dict(epoch=2, iter=8)})
    assert hook.updates == 6
    assert (logging.INFO,
            f'DADASearchHook: restored the search state from {ckpt} (saved at iteration 8, '
            '2 epoch(s) done): 6 policy update(s) (1 skipped), 6 held-out batch(es) '
            'consumed, a history of 2 search epoch(s) (the last: epoch 2, iteration 8); '
            'the search continues') in log_records


def test_a_state_loaded_before_the_hook_is_built_is_logged_when_applied(tmp_path,
                                                                         log_records):
    """``runner.load_checkpoint`` before ``train()``: the state waits for ``_build``, and
    its message too; a frozen policy is said to be frozen."""
    state = _saved_state()
    state['frozen_policy'] = [[dict(op='ShearX', prob=0.5, magnitude=0.5),
                               dict(op='Color', prob=0.5, magnitude=0.5)]]
    from dada_mm.search import DADASearchHook
    hook = DADASearchHook(val_dataloader=dict(batch_size=2))
    runner = SimpleNamespace(_load_from='ckpt/search.pth', _resume=False)
    hook.after_load_checkpoint(runner, {'dada_search': state})
    assert not any('restored' in m for _, m in log_records)
    model = torch.nn.Linear(2, 2)
    model.data_preprocessor = SimpleNamespace(batch_augments=None)
    hook._build(SimpleNamespace(model=model, seed=0))
    restored = [m for _, m in log_records if 'restored the search state' in m]
    assert restored == [
        'DADASearchHook: restored the search state from ckpt/search.pth: 6 policy '
        'update(s) (1 skipped), 6 held-out batch(es) consumed, a history of 2 search '
        'epoch(s) (the last: epoch 2, iteration 8); the search is over: its frozen top-1 '
        'policy augments the rest of training']
    assert hook.frozen_policy == state['frozen_policy']
