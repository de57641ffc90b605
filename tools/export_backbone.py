"""Export the backbone of an mmpretrain classifier checkpoint for mmdet detectors.

    python tools/export_backbone.py CKPT OUT.pth [--policy POLICY_JSON] [--depth 50]
                                    [--base-channels 64] [--top-k 25]
                                    [--export-weighting uniform] [--force]

Reads a checkpoint written by an mmpretrain ``ImageClassifier`` run (keys ``backbone.*``,
``neck.*``, ``head.*``; possibly a ``dada_search`` entry from ``DADASearchHook``), and
writes ``{'state_dict': <backbone weights without the 'backbone.' prefix>, 'meta': {...}}``
holding only tensors and plain Python values, so ``torch.load(OUT, weights_only=True)``
(and mmdet's ``init_cfg=dict(type='Pretrained', checkpoint=OUT)``) loads it.

Verification: the weights are loaded into mmdet's ``ResNet(depth=...)`` with
``load_state_dict(strict=False)``; any missing or unexpected key, or a shape mismatch,
is reported and the tool exits with status 1 (nothing is written).

The policy the backbone was trained with is written next to the output as
``<OUT without .pth>_policy.json``, taken from (first that exists):

1. ``--policy FILE`` (validated and copied byte for byte);
2. the checkpoint's ``dada_search`` state: the frozen top-k policy the hook trained with
   after the search (with its draw weights, if it had them), or, if the search had not
   finished, the top-k of its parameters at that checkpoint (exactly the policy of
   *these* weights; ``--export-weighting selection`` adds their selection weights, as the
   hook's ``learner=dict(export_weighting='selection')`` writes them);
3. ``dada_policy.json`` next to the checkpoint (the hook's policy file; it may be newer
   than an intermediate checkpoint).

An existing policy file with different content is never replaced without ``--force``.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import shutil
import sys
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402

import dada_mm  # noqa: E402  (allow-lists MMEngine checkpoint types for weights_only)
from dada_mm.policy import EXPORT_WEIGHTINGS, PolicyError  # noqa: E402
from dada_mm.policy.policy_file import load_policy_file, policy_to_dict, save_policy_file  # noqa: E402

PREFIX = 'backbone.'
SIDECAR_POLICY = 'dada_policy.json'
_PLAIN_META_KEYS = ('epoch', 'iter', 'seed', 'experiment_name', 'mmengine_version',
                    'time', 'mmengine')


class ExportError(RuntimeError):
    """A problem the user must fix; reported without a traceback."""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('checkpoint', help='mmpretrain classifier checkpoint (.pth)')
    p.add_argument('out', help='output backbone checkpoint (.pth)')
    p.add_argument('--policy', help='policy file to ship with the backbone (default: '
                   'from the checkpoint, else dada_policy.json next to it)')
    p.add_argument('--depth', type=int, default=50, help='ResNet depth to verify against')
    p.add_argument('--base-channels', type=int, default=64,
                   help='ResNet base_channels to verify against')
    p.add_argument('--top-k', type=int, default=25,
                   help='sub-policies to export from an unfinished search state')
    p.add_argument('--export-weighting', choices=EXPORT_WEIGHTINGS, default='uniform',
                   help='how the sub-policies exported from an unfinished search state '
                        'are drawn: with equal chance, or by their selection weights')
    p.add_argument('--force', action='store_true',
                   help='replace an existing, different <out>_policy.json')
    return p.parse_args(argv)


# --------------------------------------------------------------------------- weights
def load_checkpoint(path: str) -> Dict[str, Any]:
    if not osp.isfile(path):
        raise ExportError(f'checkpoint {path!r} does not exist')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 - report any unpickling error plainly
        raise ExportError(f'cannot load {path!r} with weights_only=True: {e}') from None
    if not isinstance(ckpt, dict):
        raise ExportError(f'{path!r} holds a {type(ckpt).__name__}, not a checkpoint dict')
    return ckpt


def backbone_state(ckpt: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict):
        raise ExportError("the checkpoint's 'state_dict' is not a dict")
    out = {}
    for key, value in state.items():
        name = key[len('module.'):] if key.startswith('module.') else key
        if name.startswith(PREFIX) and torch.is_tensor(value):
            out[name[len(PREFIX):]] = value.detach().clone().contiguous()
    if not out:
        sample = ', '.join(list(state)[:5])
        raise ExportError(f"no '{PREFIX}*' weights in the checkpoint (first keys: "
                          f'{sample}); is it an mmpretrain ImageClassifier checkpoint?')
    return out


def build_resnet(depth: int, base_channels: int):
    """mmdet's ResNet; mmpretrain's (same key names) where mmdet cannot be imported."""
    try:
        from mmdet.models.backbones import ResNet
        source = 'mmdet'
    except ImportError:
        from mmpretrain.models.backbones import ResNet
        source = 'mmpretrain'
        return ResNet(depth=depth, base_channels=base_channels,
                      stem_channels=base_channels), source
    return ResNet(depth=depth, base_channels=base_channels), source


def verify(state: Dict[str, torch.Tensor], depth: int,
           base_channels: int) -> Tuple[str, int]:
    try:
        model, source = build_resnet(depth, base_channels)
    except (KeyError, ValueError, AssertionError) as e:
        raise ExportError(f'cannot build ResNet(depth={depth}): {e}') from None
    expected = model.state_dict()
    shape_errors = [f'{k}: checkpoint {tuple(v.shape)} vs ResNet {tuple(expected[k].shape)}'
                    for k, v in state.items()
                    if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    if shape_errors:
        raise ExportError(
            f'{len(shape_errors)} weight(s) do not fit {source} ResNet(depth={depth}, '
            f'base_channels={base_channels}) (wrong --depth / --base-channels?):\n  '
            + '\n  '.join(shape_errors[:10]))
    result = model.load_state_dict(state, strict=False)
    problems = []
    if result.missing_keys:
        problems.append(f'{len(result.missing_keys)} missing key(s): '
                        + ', '.join(result.missing_keys[:10]))
    if result.unexpected_keys:
        problems.append(f'{len(result.unexpected_keys)} unexpected key(s): '
                        + ', '.join(result.unexpected_keys[:10]))
    if problems:
        raise ExportError(f'the backbone does not match {source} ResNet(depth={depth}, '
                          f'base_channels={base_channels}):\n  ' + '\n  '.join(problems))
    return source, len(expected)


# --------------------------------------------------------------------------- policy
def policy_from_search_state(state: Any, top_k: int, weighting: str = 'uniform'
                             ) -> Optional[Tuple[List, Dict[str, Any], Optional[List[float]]]]:
    """``(sub-policies, meta, weights or None)`` of a checkpoint's search state, or None
    when it holds no DADA search."""
    if not isinstance(state, dict):
        return None
    if state.get('frozen_policy'):
        return state['frozen_policy'], dict(
            source='dada_mm tools/export_backbone.py', origin='checkpoint dada_search',
            frozen=True, ranked_by='alpha'), state.get('frozen_weights')
    params = state.get('policy')
    if not isinstance(params, dict) or 'alpha' not in params:
        return None
    from dada_mm.policy.export import export_top_k, export_weights
    from dada_mm.search.policy_params import PolicyParameters
    from dada_mm.search_space import SUB_POLICIES
    n = int(params['alpha'].shape[0])
    if n != len(SUB_POLICIES):
        return None
    policy = PolicyParameters(num_sub_policies=n)
    policy.load_state_dict(params)
    rows = export_top_k(policy, top_k)  # the entries the search hook writes
    weights = export_weights(policy, top_k) if weighting == 'selection' else None
    return rows, dict(source='dada_mm tools/export_backbone.py',
                      origin='checkpoint dada_search (search not finished)',
                      frozen=False, ranked_by='alpha', top_k=int(top_k),
                      export_weighting=weighting), weights


def policy_target(out: str) -> str:
    root = out[:-len('.pth')] if out.endswith('.pth') else out
    return root + '_policy.json'


def _same_policy_doc(path: str, doc: Dict[str, Any]) -> bool:
    try:
        existing = load_policy_file(path)
    except PolicyError:
        return False
    return (existing['sub_policies'] == doc['sub_policies']
            and existing.get('weights') == doc.get('weights')
            and existing.get('meta', {}) == doc.get('meta', {}))


def _same_bytes(a: str, b: str) -> bool:
    with open(a, 'rb') as fa, open(b, 'rb') as fb:
        return fa.read() == fb.read()


def write_policy(args, ckpt: Dict[str, Any]) -> Tuple[Optional[str], Optional[str]]:
    """Returns (written path, description of its origin), or (None, None)."""
    target = policy_target(args.out)
    exists = osp.exists(target)
    refuse = (f'{target!r} exists and differs from the policy to export; pass --force '
              f'to replace it')
    if args.policy:
        try:
            load_policy_file(args.policy)  # validate before copying
        except PolicyError as e:
            raise ExportError(f'--policy: {e}') from None
        if osp.abspath(args.policy) == osp.abspath(target):
            return target, args.policy
        if exists and not _same_bytes(args.policy, target):
            if not args.force:
                raise ExportError(refuse)
        os.makedirs(osp.dirname(osp.abspath(target)), exist_ok=True)
        shutil.copyfile(args.policy, target)
        return target, args.policy
    found = policy_from_search_state(ckpt.get('dada_search'), args.top_k,
                                     args.export_weighting)
    if found is not None:
        rows, meta, weights = found
        meta['checkpoint'] = osp.basename(args.checkpoint)
        doc = policy_to_dict(rows, meta, weights)
        if exists and not _same_policy_doc(target, doc) and not args.force:
            raise ExportError(refuse)
        save_policy_file(target, rows, meta, weights)
        return target, f"{args.checkpoint} ['dada_search']"
    sidecar = osp.join(osp.dirname(osp.abspath(args.checkpoint)), SIDECAR_POLICY)
    if osp.isfile(sidecar):
        try:
            load_policy_file(sidecar)
        except PolicyError as e:
            raise ExportError(f'{sidecar}: {e}') from None
        if exists and not _same_bytes(sidecar, target) and not args.force:
            raise ExportError(refuse)
        shutil.copyfile(sidecar, target)
        return target, sidecar
    return None, None


# --------------------------------------------------------------------------- main
def _plain_meta(meta: Any) -> Dict[str, Any]:
    out = {}
    if isinstance(meta, dict):
        for key in _PLAIN_META_KEYS:
            value = meta.get(key)
            if isinstance(value, (str, int, float, bool)):
                out[key] = value
    return out


def export(args) -> Dict[str, Any]:
    ckpt = load_checkpoint(args.checkpoint)
    state = backbone_state(ckpt)
    source, num_keys = verify(state, args.depth, args.base_channels)
    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    policy_path, policy_origin = write_policy(args, ckpt)
    meta = dict(
        exported_by='dada_mm tools/export_backbone.py',
        dada_mm_version=dada_mm.__version__,
        source_checkpoint=osp.abspath(args.checkpoint),
        source_meta=_plain_meta(ckpt.get('meta')),
        arch=dict(type='ResNet', depth=int(args.depth),
                  base_channels=int(args.base_channels)),
        verified_with=f'{source}.models.backbones.ResNet',
        num_tensors=len(state),
        policy=osp.basename(policy_path) if policy_path else None,
        policy_origin=policy_origin)
    tmp = args.out + '.tmp'
    torch.save(dict(state_dict=state, meta=meta), tmp)
    os.replace(tmp, args.out)
    # the result must load the safe way
    torch.load(args.out, map_location='cpu', weights_only=True)
    return dict(out=args.out, policy=policy_path, policy_origin=policy_origin,
                num_tensors=len(state), verified_with=source, resnet_keys=num_keys)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        info = export(args)
    except ExportError as e:
        print(f'export_backbone: error: {e}', file=sys.stderr)
        return 1
    print(f"export_backbone: wrote {info['out']} ({info['num_tensors']} tensors, "
          f"verified against {info['verified_with']} ResNet(depth={args.depth}))")
    if info['policy']:
        print(f"export_backbone: wrote {info['policy']} (from {info['policy_origin']})")
    else:
        print('export_backbone: no policy found (no --policy, no dada_search state, no '
              f'{SIDECAR_POLICY} next to the checkpoint); none written')
    return 0


if __name__ == '__main__':
    sys.exit(main())
