"""Policy files: a versioned, human-readable JSON format, parsed as data only.

Format (version 1)::

    {"version": 1,
     "sub_policies": [[{"op": "ShearX", "prob": 0.69, "magnitude": 0.64}, ...], ...],
     "weights": [0.031, 0.012, ...],
     "meta": {"source": ..., "search": {...}, "date": ...}}

``magnitude`` is the paper's level in [0, 1] (mapped to each op's range by
``dada_mm.search_space``); ``prob`` is the op's apply probability in [0, 1].
``weights`` (optional) is each sub-policy's chance of being drawn for an image, up to a
common factor (finite, >= 0, not all 0; one per sub-policy): a search exports the
selection weights it learnt there. Without it every sub-policy is drawn with equal chance
(the paper's retraining).
``meta.op_family`` names the op table the names refer to: absent or ``"dada"`` (the 15-op
DADA space), or ``"zoph-detection"`` (the detection family of Zoph et al.,
``dada_mm.ops.detection_ops``; there ``magnitude`` is the published level / 10).
Files are read with ``json`` only (no pickle, no eval) and written atomically, so a crash
never leaves a truncated file and an existing file is replaced only by a complete one.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from ..ops.detection_ops import (
    DADA_FAMILY,
    DETECTION_FAMILY,
    DETECTION_ONLY_OP_NAMES,
    DETECTION_OP_NAMES,
    OP_FAMILIES,
)
from ..search_space import OP_NAMES, get_op
from ..utils.files import write_json_atomic

__all__ = ['POLICY_FILE_VERSION', 'PolicyError', 'validate_sub_policies', 'policy_to_dict',
           'load_policy_file', 'save_policy_file', 'parse_policy_json',
           'validate_policy_document', 'MAX_POLICY_FILE_BYTES', 'policy_op_family',
           'infer_op_family', 'check_op_family', 'validate_weights']

POLICY_FILE_VERSION = 1
SUPPORTED_VERSIONS = (1,)
MAX_POLICY_FILE_BYTES = 16 * 1024 * 1024
OP_KEYS = ('op', 'prob', 'magnitude')

SubPolicies = List[List[Dict[str, Any]]]


class PolicyError(ValueError):
    """A policy (file, preset or inline list) is malformed; the message names the field."""


def _check_unit_interval(value: Any, where: str, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PolicyError(f'{where}.{field} must be a number in [0, 1], '
                          f'got {value!r} ({type(value).__name__})')
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise PolicyError(f'{where}.{field} must be a number in [0, 1], got {value!r}')
    return value


def check_op_family(op_family: Any, field: str = 'op_family') -> str:
    """``op_family`` if it is a known family, else a PolicyError listing the families."""
    if not isinstance(op_family, str) or op_family not in OP_FAMILIES:
        raise PolicyError(f'{field} must be one of {list(OP_FAMILIES)}, got {op_family!r}')
    return op_family


def policy_op_family(doc: Dict[str, Any]) -> str:
    """The op family of a validated policy document (``meta.op_family``, default dada)."""
    return (doc.get('meta') or {}).get('op_family', DADA_FAMILY)


def infer_op_family(sub_policies: Any) -> str:
    """Family of an inline list: 'zoph-detection' if any op name exists only there, else
    'dada' (names both families share, e.g. Color or Cutout, mean the DADA op)."""
    if isinstance(sub_policies, Sequence) and not isinstance(sub_policies, (str, bytes)):
        for sub in sub_policies:
            if isinstance(sub, Sequence) and not isinstance(sub, (str, bytes)):
                for op in sub:
                    name = op.get('op') if isinstance(op, dict) else None
                    if isinstance(name, str) and name in DETECTION_ONLY_OP_NAMES:
                        return DETECTION_FAMILY
    return DADA_FAMILY


def _validate_op(op: Any, where: str, op_family: str = DADA_FAMILY) -> Dict[str, Any]:
    if not isinstance(op, dict):
        raise PolicyError(f'{where} must be a dict with keys {list(OP_KEYS)}, '
                          f'got {type(op).__name__}: {op!r}')
    unknown = sorted(set(op) - set(OP_KEYS))
    if unknown:
        raise PolicyError(f'{where} has unknown key(s) {unknown}; '
                          f'allowed keys are {list(OP_KEYS)}')
    missing = [k for k in OP_KEYS if k not in op]
    if missing:
        raise PolicyError(f'{where} is missing key(s) {missing}')
    name = op['op']
    if op_family == DETECTION_FAMILY:
        if not isinstance(name, str) or name not in DETECTION_OP_NAMES:
            raise PolicyError(f'{where}.op: unknown op {name!r} in the {DETECTION_FAMILY!r}'
                              f' family; valid ops are: {", ".join(DETECTION_OP_NAMES)}')
    else:
        if not isinstance(name, str) or name not in OP_NAMES:
            hint = (f' ({name!r} is a {DETECTION_FAMILY!r} op: set meta.op_family to '
                    f'{DETECTION_FAMILY!r} or pass op_family={DETECTION_FAMILY!r})'
                    if name in DETECTION_ONLY_OP_NAMES else '')
            raise PolicyError(f'{where}.op: unknown op {name!r}; valid ops are: '
                              f'{", ".join(OP_NAMES)}{hint}')
        get_op(name)
    return {'op': name,
            'prob': _check_unit_interval(op['prob'], where, 'prob'),
            'magnitude': _check_unit_interval(op['magnitude'], where, 'magnitude')}


def validate_sub_policies(sub_policies: Any, source: str = 'policy',
                          op_family: str = DADA_FAMILY) -> SubPolicies:
    """Check the nesting, op names and ranges; return a normalised deep copy.

    ``sub_policies`` is a non-empty list of non-empty lists of op dicts
    (``{'op', 'prob', 'magnitude'}``). Tuples are accepted for lists (configs use them).
    Op names are checked against ``op_family``'s table.
    """
    op_family = check_op_family(op_family)
    if isinstance(sub_policies, (str, bytes, dict)) or not isinstance(
            sub_policies, Sequence):
        raise PolicyError(f'{source}.sub_policies must be a list of sub-policies '
                          f'(each a list of op dicts), got '
                          f'{type(sub_policies).__name__}')
    if len(sub_policies) == 0:
        raise PolicyError(f'{source}.sub_policies is empty; a policy needs at least one '
                          'sub-policy')
    out = []
    for i, sub in enumerate(sub_policies):
        where = f'{source}.sub_policies[{i}]'
        if isinstance(sub, dict):
            raise PolicyError(f'{where} must be a list of op dicts, got a single dict '
                              '(wrong nesting: sub_policies is a list of lists)')
        if isinstance(sub, (str, bytes)) or not isinstance(sub, Sequence):
            raise PolicyError(f'{where} must be a list of op dicts, got '
                              f'{type(sub).__name__}')
        if len(sub) == 0:
            raise PolicyError(f'{where} is empty; a sub-policy needs at least one op')
        out.append([_validate_op(op, f'{where}[{j}]', op_family)
                    for j, op in enumerate(sub)])
    return out


def validate_weights(weights: Any, num_sub_policies: int,
                     source: str = 'policy') -> List[float]:
    """Check a policy's draw weights: a list of ``num_sub_policies`` finite numbers >= 0,
    not all 0. Returned as floats, as given (callers normalise them)."""
    where = f'{source}.weights'
    if isinstance(weights, (str, bytes, dict)) or not isinstance(weights, Sequence):
        raise PolicyError(f'{where} must be a list of numbers >= 0, one per sub-policy, '
                          f'got {type(weights).__name__}')
    if len(weights) != num_sub_policies:
        raise PolicyError(f'{where} has {len(weights)} entries but the policy has '
                          f'{num_sub_policies} sub-policies: one weight per sub-policy')
    out = []
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(
                float(w)) or w < 0:
            raise PolicyError(f'{where}[{i}] must be a finite number >= 0, got {w!r}')
        out.append(float(w))
    if not any(w > 0 for w in out):
        raise PolicyError(f'{where} are all 0: at least one sub-policy must be drawable')
    return out


def policy_to_dict(sub_policies: SubPolicies, meta: Optional[Dict[str, Any]] = None,
                   weights: Optional[Sequence[float]] = None) -> Dict[str, Any]:
    """The JSON document of a validated policy (``weights``: None draws every sub-policy
    with equal chance, and the document has no ``weights``)."""
    meta = dict(meta or {})
    family = check_op_family(meta.get('op_family', DADA_FAMILY), 'meta.op_family')
    doc = {'version': POLICY_FILE_VERSION,
           'sub_policies': validate_sub_policies(sub_policies, op_family=family)}
    if weights is not None:
        doc['weights'] = validate_weights(weights, len(doc['sub_policies']))
    doc['meta'] = meta
    return doc


def _reject_duplicate_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise PolicyError(f'duplicated key {key!r} in a JSON object')
        seen[key] = value
    return seen


def _reject_constant(name):
    raise PolicyError(f'non-finite number {name} is not allowed in a policy file')


def parse_policy_json(text: str, source: str = 'policy') -> Dict[str, Any]:
    """Parse and validate a policy document from JSON text; returns the normalised dict."""
    try:
        doc = json.loads(text, object_pairs_hook=_reject_duplicate_keys,
                         parse_constant=_reject_constant)
    except PolicyError as e:
        raise PolicyError(f'{source}: {e}') from None
    except json.JSONDecodeError as e:
        raise PolicyError(f'{source}: not valid JSON ({e})') from None
    return validate_policy_document(doc, source)


def validate_policy_document(doc: Any, source: str = 'policy') -> Dict[str, Any]:
    """Check a parsed policy document (top-level keys, version, meta, sub-policies and
    the optional weights)."""
    if not isinstance(doc, dict):
        raise PolicyError(f'{source}: the top level must be a JSON object with keys '
                          f'"version", "sub_policies", "meta" (and optionally "weights"); '
                          f'got {type(doc).__name__}')
    unknown = sorted(set(doc) - {'version', 'sub_policies', 'weights', 'meta'})
    if unknown:
        raise PolicyError(f'{source}: unknown top-level key(s) {unknown}; allowed: '
                          '["version", "sub_policies", "weights", "meta"]')
    if 'version' not in doc:
        raise PolicyError(f'{source}: missing "version" (supported: '
                          f'{list(SUPPORTED_VERSIONS)})')
    version = doc['version']
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        raise PolicyError(f'{source}: unsupported version {version!r}; supported '
                          f'versions: {list(SUPPORTED_VERSIONS)}')
    if 'sub_policies' not in doc:
        raise PolicyError(f'{source}: missing "sub_policies"')
    meta = doc.get('meta', {})
    if not isinstance(meta, dict):
        raise PolicyError(f'{source}.meta must be an object, got {type(meta).__name__}')
    family = check_op_family(meta.get('op_family', DADA_FAMILY), f'{source}.meta.op_family')
    out = {'version': version,
           'sub_policies': validate_sub_policies(doc['sub_policies'], source, family)}
    if doc.get('weights') is not None:
        out['weights'] = validate_weights(doc['weights'], len(out['sub_policies']), source)
    out['meta'] = dict(meta)
    return out


def load_policy_file(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """Read and validate a policy file; errors name the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise PolicyError(f'policy file {str(path)!r} does not exist (or is not a file)')
    size = path.stat().st_size
    if size > MAX_POLICY_FILE_BYTES:
        raise PolicyError(f'policy file {str(path)!r} is {size} bytes; the limit is '
                          f'{MAX_POLICY_FILE_BYTES} bytes')
    try:
        text = path.read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyError(f'policy file {str(path)!r} cannot be read: {e}') from None
    return parse_policy_json(text, source=str(path))


def save_policy_file(path: Union[str, os.PathLike], sub_policies: SubPolicies,
                     meta: Optional[Dict[str, Any]] = None,
                     weights: Optional[Sequence[float]] = None) -> Path:
    """Validate and write a policy file atomically (``utils.files.write_json_atomic``:
    temp file + fsync + rename, the temp file removed if writing fails)."""
    doc = policy_to_dict(sub_policies, meta, weights)
    return write_json_atomic(path, doc, end='\n', indent=1, allow_nan=False)
