"""Pictures of DADA policies: augmented-sample grids and search-trajectory plots."""
from .policy_plots import (
                           augment_samples,
                           build_visualizer,
                           check_search_history,
                           draw_boxes,
                           fired_ops,
                           load_search_history,
                           plot_probs_magnitudes,
                           plot_search_weights,
                           policy_sample_grid,
                           save_image,
                           top_sub_policies,
                           write_policy_figures,
)

__all__ = ['augment_samples', 'build_visualizer', 'check_search_history', 'draw_boxes',
           'fired_ops', 'load_search_history', 'plot_probs_magnitudes', 'plot_search_weights',
           'policy_sample_grid', 'save_image', 'top_sub_policies', 'write_policy_figures']
