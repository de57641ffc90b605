"""Turn what a user writes in a config (`policy=...`) into validated sub-policies."""
from __future__ import annotations

import os
from typing import Any, Dict

from .policy_file import (POLICY_FILE_VERSION, PolicyError, load_policy_file,
                          validate_policy_document, validate_sub_policies)
from .presets import list_presets, load_preset

__all__ = ['resolve_policy']


def resolve_policy(policy: Any) -> Dict[str, Any]:
    """Accept a preset name, a policy-file path, an inline sub-policy list or a document.

    Returns ``{'version', 'sub_policies', 'meta'}``. A string that is neither a preset
    nor an existing file raises an error that lists the presets.
    """
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
        # same checks as a file (version, keys, meta); "version" may be left out inline
        return validate_policy_document({'version': POLICY_FILE_VERSION, **policy},
                                        'policy')
    if isinstance(policy, (list, tuple)):
        return {'version': 1, 'sub_policies': validate_sub_policies(policy, 'policy'),
                'meta': {'source': 'inline'}}
    raise PolicyError(f'policy must be a preset name, a policy-file path or a list of '
                      f'sub-policies, got {type(policy).__name__}: {policy!r}')
