"""Search space: the 15 ops and the 105 two-op sub-policies (shared by all stages), and
the detection op family of Zoph et al. beside it (``detection_ops``)."""
from .detection_ops import (DADA_FAMILY, DETECTION_FAMILY, DETECTION_OP_NAMES,
                            DETECTION_ONLY_OP_NAMES, DETECTION_OPS, OP_FAMILIES,
                            get_detection_op)
from .ops import (CUTOUT_FILL_RGB, GEOMETRIC_OPS, OP_INDEX, OP_NAMES, OPS, OpSpec,
                  get_op, inverse_output_to_input_matrix, level_to_value, scale_level)
from .sub_policies import (NUM_SUB_POLICIES, OPS_PER_SUB_POLICY, SUB_POLICIES,
                           SUB_POLICY_INDEX, SUB_POLICY_OP_INDICES)

__all__ = [
    'CUTOUT_FILL_RGB', 'GEOMETRIC_OPS', 'OP_INDEX', 'OP_NAMES', 'OPS', 'OpSpec', 'get_op',
    'inverse_output_to_input_matrix', 'level_to_value', 'scale_level',
    'NUM_SUB_POLICIES', 'OPS_PER_SUB_POLICY', 'SUB_POLICIES', 'SUB_POLICY_INDEX',
    'SUB_POLICY_OP_INDICES', 'DADA_FAMILY', 'DETECTION_FAMILY', 'DETECTION_OP_NAMES',
    'DETECTION_ONLY_OP_NAMES', 'DETECTION_OPS', 'OP_FAMILIES', 'get_detection_op',
]
