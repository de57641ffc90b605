"""tools/export_backbone.py on tiny mmpretrain-style checkpoints (ResNet-18, 8 channels)."""
import json
import math
import os.path as osp
import sys

import pytest
import torch

import dada_mm  # noqa: F401  (safe-load allow-list)
from dada_mm.policy.policy_file import load_policy_file, save_policy_file

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from tools import export_backbone  # noqa: E402

DEPTH, CH = 18, 8
POLICY = [[dict(op='ShearX', prob=0.5, magnitude=0.7),
           dict(op='Color', prob=0.3, magnitude=0.2)]]


def _backbone():
    from mmpretrain.models.backbones import ResNet
    torch.manual_seed(0)
    return ResNet(depth=DEPTH, base_channels=CH, stem_channels=CH)


def _write_ckpt(path, dada_search=None, extra_backbone_key=False, drop_key=None):
    state = {f'backbone.{k}': v for k, v in _backbone().state_dict().items()}
    if drop_key:
        del state[f'backbone.{drop_key}']
    if extra_backbone_key:
        state['backbone.extra.weight'] = torch.zeros(3)
    state['head.fc.weight'] = torch.randn(10, 8 * CH)
    state['head.fc.bias'] = torch.zeros(10)
    ckpt = dict(state_dict=state,
                meta=dict(epoch=3, iter=120, seed=0, mmengine_version='0.10.7',
                          message_hub=dict(runtime_info=dict(epoch=3))),
                optimizer=dict(state={}, param_groups=[]))
    if dada_search is not None:
        ckpt['dada_search'] = dada_search
    torch.save(ckpt, path)
    return state


def _run(*argv):
    return export_backbone.main([str(a) for a in argv])


def test_exports_backbone_only_and_loads_safely(tmp_path, capsys):
    ckpt, out = tmp_path / 'epoch_3.pth', tmp_path / 'out' / 'backbone.pth'
    state = _write_ckpt(ckpt)
    assert _run(ckpt, out, '--depth', DEPTH, '--base-channels', CH) == 0
    exported = torch.load(out, map_location='cpu', weights_only=True)
    assert set(exported) == {'state_dict', 'meta'}
    sd = exported['state_dict']
    assert set(sd) == {k[len('backbone.'):] for k in state if k.startswith('backbone.')}
    assert not any(k.startswith(('backbone.', 'head.', 'neck.')) for k in sd)
    for k, v in sd.items():
        assert torch.equal(v, state['backbone.' + k])
    meta = exported['meta']
    assert meta['source_meta'] == dict(epoch=3, iter=120, seed=0,
                                       mmengine_version='0.10.7')
    assert meta['arch'] == dict(type='ResNet', depth=DEPTH, base_channels=CH)
    assert meta['policy'] is None
    assert not osp.exists(tmp_path / 'out' / 'backbone_policy.json')
    # loads into a fresh ResNet with no missing / unexpected keys
    res = _backbone().load_state_dict(sd, strict=True)
    assert not res.missing_keys and not res.unexpected_keys
    # mmengine's Pretrained init path (what the detector configs use) loads it too
    from mmengine.runner import load_checkpoint
    fresh = _backbone()
    load_checkpoint(fresh, str(out), map_location='cpu', strict=True)
    assert 'no policy found' in capsys.readouterr().out


def test_key_mismatch_fails_with_message(tmp_path, capsys):
    ckpt = tmp_path / 'c.pth'
    _write_ckpt(ckpt, extra_backbone_key=True)
    assert _run(ckpt, tmp_path / 'o.pth', '--depth', DEPTH, '--base-channels', CH) == 1
    err = capsys.readouterr().err
    assert 'unexpected key' in err and 'extra.weight' in err
    assert not osp.exists(tmp_path / 'o.pth')
    _write_ckpt(ckpt, drop_key='layer4.1.conv2.weight')
    assert _run(ckpt, tmp_path / 'o.pth', '--depth', DEPTH, '--base-channels', CH) == 1
    assert 'missing key' in capsys.readouterr().err
    # wrong depth / width: reported, no traceback
    _write_ckpt(ckpt)
    assert _run(ckpt, tmp_path / 'o.pth', '--depth', 34, '--base-channels', CH) == 1
    assert 'missing key' in capsys.readouterr().err
    assert _run(ckpt, tmp_path / 'o.pth', '--depth', DEPTH) == 1
    assert 'do not fit' in capsys.readouterr().err


def test_not_a_classifier_checkpoint(tmp_path, capsys):
    ckpt = tmp_path / 'c.pth'
    torch.save(dict(state_dict={'model.w': torch.zeros(1)}), ckpt)
    assert _run(ckpt, tmp_path / 'o.pth') == 1
    assert "no 'backbone.*' weights" in capsys.readouterr().err
    assert _run(tmp_path / 'missing.pth', tmp_path / 'o.pth') == 1


def test_policy_from_argument_and_force(tmp_path, capsys):
    ckpt, out = tmp_path / 'c.pth', tmp_path / 'bb.pth'
    _write_ckpt(ckpt)
    pol = save_policy_file(tmp_path / 'mine.json', POLICY, dict(source='test'))
    assert _run(ckpt, out, '--depth', DEPTH, '--base-channels', CH, '--policy', pol) == 0
    target = tmp_path / 'bb_policy.json'
    assert target.read_bytes() == pol.read_bytes()
    assert torch.load(out, weights_only=True)['meta']['policy'] == 'bb_policy.json'
    # same content again: fine
    assert _run(ckpt, out, '--depth', DEPTH, '--base-channels', CH, '--policy', pol) == 0
    # a different policy is refused without --force, accepted with it
    other = save_policy_file(tmp_path / 'other.json',
                             [[dict(op='Rotate', prob=1.0, magnitude=0.9)]])
    capsys.readouterr()
    assert _run(ckpt, out, '--depth', DEPTH, '--base-channels', CH,
                '--policy', other) == 1
    assert '--force' in capsys.readouterr().err
    assert target.read_bytes() == pol.read_bytes()
    assert _run(ckpt, out, '--depth', DEPTH, '--base-channels', CH,
                '--policy', other, '--force') == 0
    assert target.read_bytes() == other.read_bytes()
    # an invalid policy file is rejected
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(dict(version=1, sub_policies=[[dict(op='Nope', prob=1,
                                                                  magnitude=0)]])))
    assert _run(ckpt, tmp_path / 'x.pth', '--depth', DEPTH, '--base-channels', CH,
                '--policy', bad) == 1


def test_policy_from_frozen_search_state(tmp_path):
    ckpt, out = tmp_path / 'c.pth', tmp_path / 'bb.pth'
    _write_ckpt(ckpt, dada_search=dict(frozen_policy=POLICY, updates=5))
    # a sidecar with another policy is ignored: the checkpoint's own state wins
    save_policy_file(tmp_path / 'dada_policy.json',
                     [[dict(op='Rotate', prob=1.0, magnitude=0.9)]])
    assert _run(ckpt, out, '--depth', DEPTH, '--base-channels', CH) == 0
    doc = load_policy_file(tmp_path / 'bb_policy.json')
    assert doc['sub_policies'] == POLICY
    assert doc['meta']['frozen'] is True
    # rerun: identical content, not a conflict
    assert _run(ckpt, out, '--depth', DEPTH, '--base-channels', CH) == 0


def test_policy_from_unfinished_search_state(tmp_path):
    from dada_mm.search.policy_params import PolicyParameters
    from dada_mm.search_space import SUB_POLICIES
    params = PolicyParameters()
    with torch.no_grad():
        params.alpha[7] = 5.0
        params.alpha[3] = 4.0
        params.probs[7] = torch.tensor([0.9, 1.2])
        params.magnitudes[7] = torch.tensor([0.25, -0.5])
    ckpt, out = tmp_path / 'c.pth', tmp_path / 'bb.pth'
    _write_ckpt(ckpt, dada_search=dict(policy=params.state_dict(), frozen_policy=None))
    assert _run(ckpt, out, '--depth', DEPTH, '--base-channels', CH, '--top-k', 2) == 0
    doc = load_policy_file(tmp_path / 'bb_policy.json')
    subs = doc['sub_policies']
    assert len(subs) == 2
    assert [o['op'] for o in subs[0]] == list(SUB_POLICIES[7])
    assert [o['op'] for o in subs[1]] == list(SUB_POLICIES[3])
    assert [o['prob'] for o in subs[0]] == pytest.approx([0.9, 1.0])
    assert [o['magnitude'] for o in subs[0]] == pytest.approx([0.25, 0.0])
    assert doc['meta']['frozen'] is False
    assert 'weights' not in doc  # --export-weighting uniform, the default
    # by their selection weights: softmax(alpha) of the two, renormalised
    out2 = tmp_path / 'bb2.pth'
    assert _run(ckpt, out2, '--depth', DEPTH, '--base-channels', CH, '--top-k', 2,
                '--export-weighting', 'selection') == 0
    doc = load_policy_file(tmp_path / 'bb2_policy.json')
    e = math.exp(1.0)  # alpha 5 against 4
    assert doc['weights'] == pytest.approx([e / (e + 1), 1 / (e + 1)], rel=1e-12)
    assert doc['meta']['export_weighting'] == 'selection'


def test_frozen_search_state_keeps_its_weights(tmp_path):
    ckpt, out = tmp_path / 'c.pth', tmp_path / 'bb.pth'
    _write_ckpt(ckpt, dada_search=dict(frozen_policy=POLICY, updates=5,
                                       frozen_weights=[2.0] + [1.0] * (len(POLICY) - 1)))
    assert _run(ckpt, out, '--depth', DEPTH, '--base-channels', CH) == 0
    doc = load_policy_file(tmp_path / 'bb_policy.json')
    assert doc['weights'] == [2.0] + [1.0] * (len(POLICY) - 1)


def test_policy_from_sidecar_file(tmp_path):
    ckpt, out = tmp_path / 'c.pth', tmp_path / 'exp' / 'bb.pth'
    _write_ckpt(ckpt)
    side = save_policy_file(tmp_path / 'dada_policy.json', POLICY)
    assert _run(ckpt, out, '--depth', DEPTH, '--base-channels', CH) == 0
    assert (tmp_path / 'exp' / 'bb_policy.json').read_bytes() == side.read_bytes()
