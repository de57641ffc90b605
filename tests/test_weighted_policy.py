"""Policies drawn by weights: the file's ``weights``, the transforms' and the frozen
sampler's draws, and the search's ``export_weighting='selection'`` that writes them."""
import json

import numpy as np
import pytest
import torch

from dada_mm.policy import (
    FrozenPolicySampler,
    PolicyError,
    export_top_k,
    export_weights,
    load_policy_file,
    parse_policy_json,
    save_policy_file,
)
from dada_mm.search.policy_params import PolicyParameters
from dada_mm.search_space import OP_INDEX, SUB_POLICIES

THREE = [[dict(op='Invert', prob=1.0, magnitude=0.5)],
         [dict(op='Rotate', prob=1.0, magnitude=0.5)],
         [dict(op='Color', prob=1.0, magnitude=0.5)]]


def _doc(weights, subs=THREE):
    return json.dumps(dict(version=1, sub_policies=subs, weights=weights, meta={}))


# ------------------------------------------------------------------------ the file
def test_weights_round_trip_through_a_file(tmp_path):
    path = save_policy_file(tmp_path / 'p.json', THREE, {'source': 'test'}, [3, 0, 1.5])
    doc = load_policy_file(path)
    assert doc['weights'] == [3.0, 0.0, 1.5]
    assert doc['sub_policies'] == THREE
    # a file without weights reads as before: no 'weights' key
    plain = load_policy_file(save_policy_file(tmp_path / 'q.json', THREE, {}))
    assert 'weights' not in plain


@pytest.mark.parametrize('weights, message', [
    ([1, 2], r'policy.weights has 2 entries but the policy has 3 sub-policies'),
    ([1, -0.5, 2], r'policy.weights\[1\] must be a finite number >= 0, got -0.5'),
    ([1, True, 2], r'policy.weights\[1\] must be a finite number >= 0, got True'),
    ([1, '2', 2], r"policy.weights\[1\] must be a finite number >= 0, got '2'"),
    ([0, 0, 0], r'policy.weights are all 0'),
    ('uniform', r'policy.weights must be a list of numbers >= 0, one per sub-policy'),
    ({'a': 1}, r'policy.weights must be a list of numbers >= 0'),
])
def test_bad_weights_are_refused_naming_the_field(weights, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy_json(_doc(weights))


def test_unknown_top_level_key_lists_weights_among_the_allowed():
    text = json.dumps(dict(version=1, sub_policies=THREE, weight=[1, 1, 1]))
    with pytest.raises(PolicyError, match=r'"version", "sub_policies", "weights", "meta"'):
        parse_policy_json(text)


# ------------------------------------------------------------------- the transforms
def _frequencies(transform, n, image):
    np.random.seed(0)
    index = [transform.transform(dict(img=image.copy()))['dada_sub_policy']
             for _ in range(n)]
    return np.bincount(index, minlength=len(transform.sub_policies)) / n


def test_dada_augment_draws_by_the_weights():
    from dada_mm.transforms import DADAAugment
    image = np.full((8, 8, 3), 100, np.uint8)
    t = DADAAugment(dict(sub_policies=THREE, weights=[3, 0, 1]))
    np.testing.assert_allclose(t.weights, [0.75, 0.0, 0.25])
    freq = _frequencies(t, 4000, image)
    assert freq[1] == 0.0  # weight 0: never drawn
    # binomial standard error at 4000 draws: sqrt(.75 * .25 / 4000) = 0.0068
    assert abs(freq[0] - 0.75) < 0.03 and abs(freq[2] - 0.25) < 0.03
    # weighted=False: equal chances, the stream of a file without weights
    u = DADAAugment(dict(sub_policies=THREE, weights=[3, 0, 1]), weighted=False)
    assert u.weights is None
    freq = _frequencies(u, 3000, image)
    assert np.all(np.abs(freq - 1 / 3) < 0.03)
    np.random.seed(5)
    a = [u.transform(dict(img=image.copy()))['dada_sub_policy'] for _ in range(50)]
    plain = DADAAugment(THREE)
    np.random.seed(5)
    b = [plain.transform(dict(img=image.copy()))['dada_sub_policy'] for _ in range(50)]
    assert a == b


def test_top_k_renormalises_the_weights_of_the_first_k():
    from dada_mm.transforms import DADAAugment
    t = DADAAugment(dict(sub_policies=THREE, weights=[1, 3, 4]), top_k=2)
    np.testing.assert_allclose(t.weights, [0.25, 0.75])
    with pytest.raises(PolicyError, match='the first top_k=1 sub-policies all have weight 0'):
        DADAAugment(dict(sub_policies=THREE, weights=[0, 3, 4]), top_k=1)
    with pytest.raises(ValueError, match='weighted must be True'):
        DADAAugment(dict(sub_policies=THREE, weights=[1, 3, 4]), weighted='yes')


def test_detection_policies_draw_by_their_weights():
    from dada_mm.transforms import DADAAugment
    subs = [[dict(op='Color', prob=1.0, magnitude=0.5)],
            [dict(op='Equalize', prob=1.0, magnitude=0.5)],
            [dict(op='TranslateX_BBox', prob=1.0, magnitude=0.5)]]
    t = DADAAugment(dict(sub_policies=subs, weights=[0, 1, 1],
                         meta=dict(op_family='zoph-detection')))
    np.testing.assert_allclose(t.weights, [0.0, 0.5, 0.5])
    image = np.random.RandomState(0).randint(0, 255, (16, 16, 3)).astype(np.uint8)
    np.random.seed(1)
    drawn = {t.transform(dict(img=image.copy(), gt_bboxes=None))['dada_sub_policy']
             for _ in range(200)}
    assert drawn == {1, 2}


# --------------------------------------------------------- the search's export
def _moved_policy():
    n = len(SUB_POLICIES)
    policy = PolicyParameters(num_sub_policies=n)
    with torch.no_grad():
        policy.alpha.copy_(torch.linspace(-1.0, 2.0, n).roll(7))
    return policy


def test_export_weights_are_the_top_k_selection_weights_renormalised():
    policy = _moved_policy()
    weights = export_weights(policy, 10)
    top = [index for index, _, _ in policy.top_k(10)]
    sel = torch.softmax(policy.alpha.detach().double(), 0)[top]
    np.testing.assert_allclose(weights, (sel / sel.sum()).numpy(), rtol=1e-12)
    assert weights == sorted(weights, reverse=True)  # in export_top_k's order
    assert abs(sum(weights) - 1.0) < 1e-12
    # all sub-policies: exactly softmax(alpha)
    np.testing.assert_allclose(export_weights(policy, len(SUB_POLICIES)),
                               torch.softmax(policy.alpha.detach().double(), 0)[
                                   [i for i, _, _ in policy.top_k(len(SUB_POLICIES))]].numpy(),
                               rtol=1e-12)


def test_frozen_sampler_draws_by_the_weights():
    policy = _moved_policy()
    rows = export_top_k(policy, 4)
    weights = [0.5, 0.0, 0.3, 0.2]
    sampler = FrozenPolicySampler(rows, torch.device('cpu'), weights=weights)
    g = torch.Generator().manual_seed(0)
    op_indices, _, _ = sampler.draw(20000, g)
    table = torch.tensor([[OP_INDEX[o['op']] for o in sub] for sub in rows])
    index = (op_indices[:, None, :] == table[None]).all(-1).float().argmax(1)
    freq = torch.bincount(index, minlength=4).double() / 20000
    assert freq[1] == 0.0
    assert torch.allclose(freq, torch.tensor(weights, dtype=torch.float64), atol=0.015)
    with pytest.raises(PolicyError, match=r'frozen policy.weights has 3 entries'):
        FrozenPolicySampler(rows, torch.device('cpu'), weights=[1, 1, 1])


def test_the_hook_refuses_an_unknown_export_weighting():
    from dada_mm.search import DADASearchHook
    with pytest.raises(ValueError, match=r"learner.export_weighting must be one of "
                                         r"\['uniform', 'selection'\], got 'softmax'"):
        DADASearchHook(val_dataloader=dict(batch_size=2),
                       learner=dict(export_weighting='softmax'))


def test_search_exports_and_trains_with_its_selection_weights(tmp_path, repo_root,
                                                               shapes_root):
    """End to end: the policy file carries the top-k's selection weights, the frozen phase
    draws by them, a checkpoint keeps them, and DADAAugment reads them from the file."""
    from test_search_hook import run_train, search_hook, write_config

    from dada_mm.transforms import DADAAugment
    cfg = write_config(tmp_path, repo_root, shapes_root, search_epochs=1)
    text = open(cfg).read().replace("learner=dict(), top_k=10",
                                    "learner=dict(export_weighting='selection'), top_k=10")
    open(cfg, 'w').write(text)
    runner = run_train([cfg, '--work-dir', str(tmp_path / 'wd')])
    hook = search_hook(runner)
    from test_search_hook import run_log
    assert ('training continues with the frozen top-10 policy, its sub-policies drawn by '
            'their selection weights') in run_log(tmp_path / 'wd')
    expected = export_weights(hook.policy, 10)
    doc = load_policy_file(tmp_path / 'wd' / 'dada_policy.json')
    assert doc['meta']['frozen'] is True
    assert doc['meta']['search']['export_weighting'] == 'selection'
    np.testing.assert_allclose(doc['weights'], expected, rtol=1e-12)
    np.testing.assert_allclose(hook.frozen_weights, expected, rtol=1e-12)
    np.testing.assert_allclose(hook._frozen_sampler.weights.numpy(), expected, rtol=1e-12)
    ckpt = torch.load(tmp_path / 'wd' / 'epoch_2.pth', map_location='cpu')
    np.testing.assert_allclose(ckpt['dada_search']['frozen_weights'], expected, rtol=1e-12)
    np.testing.assert_allclose(DADAAugment(str(tmp_path / 'wd' / 'dada_policy.json')).weights,
                               expected, rtol=1e-9)
