"""Search space: the 15 ops and the 105 two-op sub-policies (shared by all stages)."""
from .ops import (CUTOUT_FILL_RGB, GEOMETRIC_OPS, OP_INDEX, OP_NAMES, OPS, OpSpec,
                  get_op, inverse_output_to_input_matrix, level_to_value, scale_level)
from .sub_policies import (NUM_SUB_POLICIES, OPS_PER_SUB_POLICY, SUB_POLICIES,
                           SUB_POLICY_INDEX, SUB_POLICY_OP_INDICES)

__all__ = [
    'CUTOUT_FILL_RGB', 'GEOMETRIC_OPS', 'OP_INDEX', 'OP_NAMES', 'OPS', 'OpSpec', 'get_op',
    'inverse_output_to_input_matrix', 'level_to_value', 'scale_level',
    'NUM_SUB_POLICIES', 'OPS_PER_SUB_POLICY', 'SUB_POLICIES', 'SUB_POLICY_INDEX',
    'SUB_POLICY_OP_INDICES',
]
