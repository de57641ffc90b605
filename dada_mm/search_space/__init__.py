"""Search space: the 105 two-op sub-policies (shared by all stages), the search spaces
(``spaces``: a family's ops and their pairs, what the search core reads) and the channel orders
the ops understand (``channels``); it re-exports the op table of the 15 ops and the
detection op family of Zoph et al. from ``dada_mm.ops``, where they live."""
from ..ops.detection_ops import (
                       DADA_FAMILY,
                       DETECTION_FAMILY,
                       DETECTION_ONLY_OP_NAMES,
                       DETECTION_OP_NAMES,
                       DETECTION_OPS,
                       OP_FAMILIES,
                       get_detection_op,
)
from ..ops.table import (
                       CUTOUT_FILL_RGB,
                       GEOMETRIC_OPS,
                       LUMA_WEIGHTS_RGB,
                       OP_INDEX,
                       OP_KINDS,
                       OP_NAMES,
                       OPS,
                       SMOOTH_KERNEL,
                       OpSpec,
                       check_registry,
                       get_op,
                       inverse_output_to_input_matrix,
                       level_to_value,
                       ops_of_kind,
                       scale_level,
)
from .channels import (
                       CHANNEL_ORDERS,
                       check_channel_order,
                       fill_in_order,
                       rgb_positions,
                       rgb_to_order,
)
from .spaces import (
                       DADA_SEARCH_SPACE,
                       SEARCH_SPACES,
                       ZOPH_DETECTION_SEARCH_SPACE,
                       SearchSpace,
                       get_search_space,
)
from .sub_policies import (
                       NUM_SUB_POLICIES,
                       OPS_PER_SUB_POLICY,
                       SUB_POLICIES,
                       SUB_POLICY_INDEX,
                       SUB_POLICY_OP_INDICES,
)

__all__ = [
    'CUTOUT_FILL_RGB', 'GEOMETRIC_OPS', 'LUMA_WEIGHTS_RGB', 'OP_INDEX', 'OP_KINDS',
    'OP_NAMES', 'OPS', 'SMOOTH_KERNEL', 'OpSpec', 'check_registry', 'get_op',
    'inverse_output_to_input_matrix', 'level_to_value', 'ops_of_kind', 'scale_level',
    'CHANNEL_ORDERS', 'check_channel_order', 'fill_in_order', 'rgb_positions',
    'rgb_to_order',
    'NUM_SUB_POLICIES', 'OPS_PER_SUB_POLICY', 'SUB_POLICIES', 'SUB_POLICY_INDEX',
    'SUB_POLICY_OP_INDICES', 'DADA_FAMILY', 'DETECTION_FAMILY', 'DETECTION_OP_NAMES',
    'DETECTION_ONLY_OP_NAMES', 'DETECTION_OPS', 'OP_FAMILIES', 'get_detection_op',
    'SearchSpace', 'DADA_SEARCH_SPACE', 'ZOPH_DETECTION_SEARCH_SPACE', 'SEARCH_SPACES',
    'get_search_space',
]
