"""The search core reads its ops and sub-policies from a ``SearchSpace``: DADA's is the
paper's 105 pairs, and a toy space of four ops (six pairs) runs through the learner, the
per-op sharing, the candidates' sign mirror, the export, the frozen draws and the history
with its own names and indices."""
import json

import pytest
import torch

from dada_mm.policy.export import FrozenPolicySampler, export_meta, export_top_k
from dada_mm.search.candidates import SignMirror
from dada_mm.search.history import SearchHistory, epoch_summary
from dada_mm.search.learner import LearnerConfig, PolicyLearner, PolicyReward
from dada_mm.search.op_sharing import OpSharing
from dada_mm.search_space import (
    DADA_SEARCH_SPACE,
    OP_NAMES,
    SUB_POLICIES,
    SUB_POLICY_OP_INDICES,
    SearchSpace,
    get_search_space,
)

# Rotate and TranslateX are signed; the pairs in lexicographic order are
# (Rotate, Invert), (Rotate, Color), (Rotate, TranslateX), (Invert, Color),
# (Invert, TranslateX), (Color, TranslateX)
TOY = SearchSpace(name='toy', family='toy-family',
                  op_names=('Rotate', 'Invert', 'Color', 'TranslateX'),
                  signed=(True, False, False, True))


def test_the_dada_space_is_the_papers_105_pairs():
    assert get_search_space('dada') is DADA_SEARCH_SPACE
    assert DADA_SEARCH_SPACE.pairs == SUB_POLICY_OP_INDICES
    assert DADA_SEARCH_SPACE.sub_policies == SUB_POLICIES
    assert DADA_SEARCH_SPACE.num_sub_policies == 105 and DADA_SEARCH_SPACE.op_names == OP_NAMES
    signed = [n for n, s in zip(OP_NAMES, DADA_SEARCH_SPACE.signed) if s]
    assert signed == ['ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate']
    with pytest.raises(ValueError, match=r"search_space must be one of \['dada', "
                                         r"'zoph-detection'\], got 'x'"):
        get_search_space('x')


def test_a_space_lists_its_pairs_and_refuses_bad_definitions():
    assert TOY.pairs == ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
    assert TOY.sub_policies[4] == ('Invert', 'TranslateX')
    assert TOY.index_of('Color') == 2
    with pytest.raises(KeyError, match="'Equalize' is not an op of the 'toy' search space; "
                                       'its ops are: Rotate, Invert, Color, TranslateX'):
        TOY.index_of('Equalize')
    with pytest.raises(ValueError, match='distinct'):
        SearchSpace(name='bad', family='f', op_names=('Invert', 'Invert'),
                    signed=(False, False))
    with pytest.raises(ValueError, match='one flag per op'):
        SearchSpace(name='bad', family='f', op_names=('Invert', ), signed=(False, True))


def _toy_learner(**cfg):
    cfg = LearnerConfig(**{'estimator': 'reinforce', 'reward_normalization': None,
                           'policy_optimizer': dict(type='SGD', lr=1.0), **cfg})
    return PolicyLearner(cfg, torch.device('cpu'), seed=0, space=TOY)


def test_the_learner_holds_one_row_per_pair_of_its_space():
    learner = _toy_learner(init=dict(magnitude=0.5, signed_magnitude=0.7))
    assert learner.policy.alpha.shape == (6, ) and learner.policy.probs.shape == (6, 2)
    assert learner.control_variate.num_sub_policies == 6
    # the signed ops' slots (Rotate in the first three pairs, TranslateX in the last
    # slot of pairs 2, 4, 5) start at the signed level
    want = torch.tensor([[0.7, 0.5], [0.7, 0.5], [0.7, 0.7], [0.5, 0.5], [0.5, 0.7],
                         [0.5, 0.7]])
    assert torch.allclose(learner.policy.magnitudes.detach(), want)
    k = torch.tensor([0, 3, 5])
    assert learner.op_indices_of(k).tolist() == [[0, 1], [1, 2], [2, 3]]
    sample = learner.sample(16)
    assert int(sample.k.max()) < 6 and learner.op_indices(sample).max() < 4


def test_op_sharing_sums_a_toy_spaces_slots_per_op():
    sharing = OpSharing(dict(type='SGD', lr=1.0), op_table=TOY.pairs, num_ops=TOY.num_ops)
    grad = torch.arange(12.0).view(6, 2)
    # op 0 (Rotate) holds slots (0,0), (1,0), (2,0): 0 + 2 + 4
    assert sharing._per_op(grad).tolist() == [6.0, 1 + 6 + 8, 3 + 7 + 10, 5 + 9 + 11]
    with pytest.raises(ValueError, match='op index 3, but num_ops is 3'):
        OpSharing(dict(type='SGD', lr=1.0), op_table=TOY.pairs, num_ops=3)


def test_a_toy_learner_steps_its_policy_and_its_per_op_offsets():
    learner = _toy_learner(share_ops=True)
    sample = learner.sample(8)
    before = learner.policy.alpha.detach().clone()
    learner.step(PolicyReward(per_image=torch.linspace(-1, 1, 8),
                              grad_magnitudes=torch.zeros(6, 2), val_loss=0.0, h_mean=0.0),
                 sample)
    assert learner.updates == 1 and not torch.equal(before, learner.policy.alpha.detach())
    assert learner.op_sharing.beta.shape == (4, )


def test_the_sign_mirror_reads_the_spaces_signed_ops():
    # toy ops 0 and 3 are signed (Rotate, TranslateX); DADA's 0, 1 and 3 (ShearX, ShearY,
    # TranslateX), so DADA's space mirrors row 1 as well
    ops = torch.tensor([[0, 1], [1, 2], [1, 3], [1, 2]])
    apply = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    assert SignMirror.of(ops, apply, TOY).rows.tolist() == [0, 2]
    assert SignMirror.of(ops, apply).rows.tolist() == [0, 1, 2]


def test_export_frozen_draws_meta_and_history_use_the_spaces_names(tmp_path):
    learner = _toy_learner()
    with torch.no_grad():
        learner.policy.alpha.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, 3.0, 1.0]))
    rows = export_top_k(learner.policy, 2, TOY)
    assert [[o['op'] for o in sub] for sub in rows] == [['Invert', 'TranslateX'],
                                                         ['Color', 'TranslateX']]
    with pytest.raises(ValueError, match="6 sub-policies, the 'dada' search space 105"):
        export_top_k(learner.policy, 2)
    sampler = FrozenPolicySampler(rows, torch.device('cpu'), TOY)
    assert sampler.op_indices.tolist() == [[1, 3], [2, 3]]
    with pytest.raises(KeyError, match="'Invert' is not an op of the 'toy'"):
        FrozenPolicySampler([[dict(op='Invert', prob=0.5, magnitude=0.5)] * 2], 'cpu',
                            SearchSpace(name='toy', family='f', op_names=('Color', 'Rotate'),
                                        signed=(False, True)))
    meta = export_meta(learner.policy, 2, {}, 1, 10, frozen=False, space=TOY)
    assert meta['op_family'] == 'toy-family'
    assert 'op_family' not in export_meta(learner.policy, 2, {}, 1, 10, frozen=False)
    history = SearchHistory(TOY)
    history.record(1, 10, learner.policy)
    history.write(tmp_path / 'history.json')
    saved = json.loads((tmp_path / 'history.json').read_text())
    assert saved['sub_policies'][4] == ['Invert', 'TranslateX']
    assert len(saved['epochs'][0]['selection_probs']) == 6
    summary = epoch_summary(learner.policy, 1, 1, TOY)
    assert 'top 1 of 6 sub-policies' in summary and 'Invert(p=' in summary
    assert 'TranslateX(p=' in summary


def test_a_checkpoint_of_another_space_is_refused_naming_search_space():
    from types import SimpleNamespace

    from dada_mm.search import DADASearchHook
    hook = DADASearchHook(val_dataloader=dict(batch_size=2))
    model = torch.nn.Linear(2, 2)
    model.data_preprocessor = SimpleNamespace(batch_augments=None)
    hook._build(SimpleNamespace(model=model, seed=0))
    state = dict(policy=dict(alpha=torch.zeros(300)))
    with pytest.raises(ValueError, match=r"the checkpoint epoch_1\.pth holds a policy over 300 "
                                         r"sub-policies, but this search's "
                                         r"search_space='dada' has 105"):
        hook._load_state(state, 'epoch_1.pth')
