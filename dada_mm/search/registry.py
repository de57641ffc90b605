"""Registries of the search's swappable parts: gradient estimators and rewards.

A config picks one as ``dict(type=name, **options)``, as any OpenMMLab component. These
registries have no children in other scopes, so :func:`build_from_registry` builds from
the registry itself (MMEngine's default builder would look for one under the runner's
default scope first, and warn when it is not there), and its errors name the registry,
the registered types or the type's options.
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, List, Optional

from mmengine.registry import Registry

__all__ = ['DADA_ESTIMATORS', 'DADA_REWARDS', 'build_from_registry', 'options_of']


def options_of(cls) -> Optional[List[str]]:
    """The keyword options of ``cls``'s constructor (None: it takes any)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def build_from_registry(cfg: Dict, registry: Registry,
                        default_args: Optional[Dict] = None) -> Any:
    """Build ``cfg = dict(type=name, **options)`` from ``registry``: a KeyError listing
    the registered names for an unknown type, a ValueError listing the type's options for
    an unknown option."""
    if not isinstance(cfg, dict):
        raise TypeError(f'a {registry.name} config is a dict(type=name, **options), got '
                        f'{cfg!r}')
    options = dict(default_args or {}, **cfg)
    if 'type' not in options:
        raise ValueError(f"a {registry.name} config needs 'type' (one of "
                         f'{sorted(registry.module_dict)}), got {cfg!r}')
    name = options.pop('type')
    cls = name if inspect.isclass(name) else registry.module_dict.get(name)
    if cls is None:
        raise KeyError(f'unknown {registry.name} {name!r}; choose from '
                       f'{sorted(registry.module_dict)}')
    allowed = options_of(cls)
    unknown = sorted(set(options) - set(allowed)) if allowed is not None else []
    if unknown:
        raise ValueError(f'{registry.name} {name!r} has no option {unknown[0]!r}; its '
                         f'options: {allowed}')
    return cls(**options)


#: policy-gradient estimators (``estimators.py``, ``candidates.py``), by name
DADA_ESTIMATORS = Registry('dada estimator', build_func=build_from_registry)
#: rewards of a policy step (``bilevel_reward.BilevelReward``)
DADA_REWARDS = Registry('dada reward', build_func=build_from_registry)
