"""Policies: the file format, the shipped presets (DADA and Zoph et al.'s detection
policies), resolution of `policy=` arguments, and the export of learned parameters as a
policy (``export``)."""
from .export import (
                          EXPORT_WEIGHTINGS,
                          FrozenPolicySampler,
                          export_meta,
                          export_top_k,
                          export_weights,
)
from .policy_file import (
                          MAX_POLICY_FILE_BYTES,
                          POLICY_FILE_VERSION,
                          PolicyError,
                          infer_op_family,
                          load_policy_file,
                          parse_policy_json,
                          policy_op_family,
                          policy_to_dict,
                          save_policy_file,
                          validate_sub_policies,
)
from .presets import PRESET_DIR, list_presets, load_preset
from .resolve import resolve_policy

__all__ = ['MAX_POLICY_FILE_BYTES', 'POLICY_FILE_VERSION', 'PolicyError',
           'load_policy_file', 'parse_policy_json', 'policy_to_dict', 'save_policy_file',
           'validate_sub_policies', 'PRESET_DIR', 'list_presets', 'load_preset',
           'resolve_policy', 'infer_op_family', 'policy_op_family', 'export_top_k',
           'export_meta', 'FrozenPolicySampler', 'export_weights', 'EXPORT_WEIGHTINGS']
