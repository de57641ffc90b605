"""Named policies shipped with the package: the four published DADA policies
(`dada-*`) and the four detection policies of Zoph et al. (`zoph-det-v0` ... `v3`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from .policy_file import PolicyError, load_policy_file

__all__ = ['PRESET_DIR', 'list_presets', 'load_preset']

PRESET_DIR = Path(__file__).parent / 'presets'


def list_presets() -> List[str]:
    return sorted(p.stem for p in PRESET_DIR.glob('*.json'))


def load_preset(name: str) -> Dict[str, Any]:
    """The validated policy document of preset ``name``."""
    path = PRESET_DIR / f'{name}.json'
    if not isinstance(name, str) or '/' in name or not path.is_file():
        raise PolicyError(f'unknown preset {name!r}; available presets: '
                          f'{", ".join(list_presets())}')
    return load_policy_file(path)
