"""Turn what a user writes in a config (`policy=...`) into validated sub-policies."""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

from ..ops.detection_ops import DADA_FAMILY, DETECTION_FAMILY
from .policy_file import (
    POLICY_FILE_VERSION,
    PolicyError,
    check_op_family,
    infer_op_family,
    load_policy_file,
    policy_op_family,
    validate_policy_document,
    validate_sub_policies,
)
from .presets import list_presets, load_preset

__all__ = ['resolve_policy']


def _load(policy: Any, op_family: Optional[str]) -> Dict[str, Any]:
    if isinstance(policy, (str, os.PathLike)):
        text = os.fspath(policy)
        if text in list_presets():
            return load_preset(text)
        if os.path.exists(text) or text.endswith('.json') or os.sep in text:
            return load_policy_file(text)
        raise PolicyError(f'policy {text!r} is neither a preset nor an existing policy '
                          f'file; presets: {", ".join(list_presets())}')
    if isinstance(policy, dict):
        if 'sub_policies' not in policy:
            raise PolicyError('an inline policy dict needs a "sub_policies" key')
        doc = {'version': POLICY_FILE_VERSION, **policy}
        meta = doc.get('meta')
        if op_family is not None and (meta is None or (isinstance(meta, dict)
                                                       and 'op_family' not in meta)):
            doc['meta'] = {**(meta or {}), 'op_family': op_family}
        # same checks as a file (version, keys, meta); "version" may be left out inline
        return validate_policy_document(doc, 'policy')
    if isinstance(policy, (list, tuple)):
        family = op_family or infer_op_family(policy)
        meta: Dict[str, Any] = {'source': 'inline'}
        if family != DADA_FAMILY:
            meta['op_family'] = family
        return {'version': 1,
                'sub_policies': validate_sub_policies(policy, 'policy', family),
                'meta': meta}
    raise PolicyError(f'policy must be a preset name, a policy-file path or a list of '
                      f'sub-policies, got {type(policy).__name__}: {policy!r}')


def resolve_policy(policy: Any, op_family: Optional[str] = None) -> Dict[str, Any]:
    """Accept a preset name, a policy-file path, an inline sub-policy list or a document.

    Returns ``{'version', 'sub_policies', 'meta'}``. A string that is neither a preset
    nor an existing file raises an error that lists the presets.

    ``op_family`` (None, ``'dada'`` or ``'zoph-detection'``): None accepts either family
    (documents say theirs in ``meta.op_family``, absent meaning ``'dada'``; an inline list
    is a detection policy when any op name exists only in the detection family). A
    family given here is required: an inline list is validated against it, and a
    document of the other family is refused with an error naming both.
    """
    if op_family is not None:
        check_op_family(op_family)
    doc = _load(policy, op_family)
    family = policy_op_family(doc)
    if op_family is not None and family != op_family:
        name = policy if isinstance(policy, (str, os.PathLike)) else 'the inline policy'
        what = ('the 15-op DADA search space' if op_family == DADA_FAMILY else
                f'the {DETECTION_FAMILY!r} detection ops')
        raise PolicyError(f'{name!s} is a {family!r} policy (meta.op_family) but a '
                          f'{op_family!r} policy is needed here ({what})')
    return doc
