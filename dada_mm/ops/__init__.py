"""The ops: one package for everything that defines or applies an operation.

* ``table``: the op table of the 15 DADA ops (one row per op: range, kind, sign rule,
  identity level, matrix formula) and the level -> parameter map;
* ``image_ops`` (with ``cv_kernels``): the per-image applier on uint8 numpy images, PIL-exact;
* ``batched_ops``: the batched torch applier the search uses on the training device;
* ``detection_ops`` (with ``zoph_ops``): the detection op family of Zoph et al.

A new op is a row of ``table`` and a function in each applier's registry (geometric ops
need none: both appliers warp from the row's matrix); docs/architecture.md has the recipe.
The table's names are re-exported by ``dada_mm.search_space``.
"""
