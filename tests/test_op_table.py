"""The op table (``dada_mm.ops.table``) is the one statement of what the ops are.

Both appliers (per-image numpy ``transforms.image_ops``, batched torch
``search.batched_ops``) and the PIL reference dispatch by op name through a registry that
must cover exactly ``OP_NAMES``, and no other module of the library names an op or its
index to decide what to do.
"""
import ast
import pathlib
import re

import numpy as np
import pytest
import torch

from dada_mm.search import batched_ops
from dada_mm.search_space import OP_KINDS, OP_NAMES, OPS, check_registry, ops_of_kind
from dada_mm.testing import pil_ops
from dada_mm.transforms import image_ops

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'dada_mm'
# The op table itself, and the detection family, which is its own table
# (ops/detection_ops.py) and applier (ops/zoph_ops.py, transforms/zoph_augment.py) keyed
# by its bases.
EXEMPT = {'ops/table.py', 'ops/detection_ops.py', 'ops/zoph_ops.py',
          'transforms/zoph_augment.py'}
# identifiers that hold an op index
OP_ID = re.compile(r'(^|_)(op|ops|op_?id|op_?idx|op_?index|op_?indices)$', re.IGNORECASE)
# functions whose first argument is an op (name or index)
TAKES_OP = {'get_op', 'level_to_value', 'inverse_output_to_input_matrix',
            'affine_matrices', 'apply_op_batch', 'surrogate_op', 'apply_op', 'pil_op'}


@pytest.mark.parametrize('registry', [image_ops.OP_FUNCTIONS, batched_ops.OP_FUNCTIONS,
                                      pil_ops.PIL_OPS],
                         ids=['image_ops', 'batched_ops', 'pil_ops'])
def test_appliers_cover_exactly_the_op_table(registry):
    assert tuple(registry) == OP_NAMES
    assert all(callable(fn) for fn in registry.values())


def test_check_registry_names_missing_and_unknown_ops():
    check_registry({name: None for name in OP_NAMES}, 'ok')
    with pytest.raises(RuntimeError, match=r"missing: \['Cutout'\], unknown: \['Warp'\]"):
        check_registry([*OP_NAMES[:-1], 'Warp'], 'applier')


def test_kinds_partition_the_table():
    assert [op.index for op in OPS] == list(range(len(OPS)))
    by_kind = {kind: tuple(op.name for op in ops_of_kind(kind)) for kind in OP_KINDS}
    assert by_kind == {
        'geometric': ('ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate'),
        'lut': ('AutoContrast', 'Invert', 'Equalize', 'Solarize', 'Posterize'),
        'blend': ('Contrast', 'Color', 'Brightness', 'Sharpness'),
        'cutout': ('Cutout',)}
    assert all((op.affine is not None) == (op.kind == 'geometric') for op in OPS)
    # 'exact' magnitude gradients: derived from the kinds
    assert batched_ops.DIFFERENTIABLE_OPS == frozenset(
        by_kind['geometric'] + by_kind['blend'])
    assert batched_ops.DIFFERENTIABLE_OP_INDICES == frozenset(
        op.index for op in OPS if op.name in batched_ops.DIFFERENTIABLE_OPS)


def test_appliers_dispatch_through_their_registry(monkeypatch):
    """apply_op / apply_op_batch call the registry entry of the name they are given."""
    img = np.zeros((4, 5, 3), np.uint8)
    for name in OP_NAMES:
        monkeypatch.setitem(image_ops.OP_FUNCTIONS, name,
                            lambda im, v, a, _n=name: (_n, v, a.channel_order))
        assert image_ops.apply_op(img, name, 1.0, channel_order='rgb') == (
            name, OPS[OP_NAMES.index(name)].value(1.0), 'rgb')
        monkeypatch.setitem(batched_ops.OP_FUNCTIONS, name,
                            lambda x, a, surrogate, _n=name: torch.full_like(
                                x, float(OP_NAMES.index(_n))))
        x = torch.zeros(2, 3, 4, 5)
        out = batched_ops.apply_op_batch(x, name, torch.full((2,), 0.5))
        assert torch.equal(out, torch.full_like(x, float(OP_NAMES.index(name))))


def _ident(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _constants(node, kind):
    """The constants of type ``kind`` of a literal or a tuple / list / set of literals."""
    elts = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    if elts and all(isinstance(e, ast.Constant) and type(e.value) is kind for e in elts):
        return [e.value for e in elts]
    return None


def _violations(tree):
    names = set(OP_NAMES)
    for node in ast.walk(tree):
        where = getattr(node, 'lineno', '?')
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for o in operands:
                if set(_constants(o, str) or ()) & names:
                    yield where, 'compares with an op name'
            equality = all(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn))
                           for op in node.ops)  # (range checks are fine)
            if equality and any(OP_ID.search(_ident(o) or '') for o in operands) and any(
                    _constants(o, int) is not None for o in operands):
                yield where, 'compares an op id with an int literal'
        elif isinstance(node, ast.Subscript):
            base, key = _ident(node.value), node.slice
            if base in ('OPS', 'OP_NAMES') and _constants(key, int) is not None:
                yield where, f'{base}[<int literal>]'
            if base == 'OP_INDEX' and set(_constants(key, str) or ()) & names:
                yield where, 'OP_INDEX[<op name>]'
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            ints = (_constants(value, int)
                    if isinstance(value, (ast.Tuple, ast.List, ast.Set)) else None)
            if ints and all(0 <= v < len(OPS) for v in ints) and any(
                    'OP' in (_ident(t) or '').upper() for t in targets):
                yield where, 'op indices as an int literal'
        elif isinstance(node, ast.Call) and _ident(node.func) in TAKES_OP:
            for arg in node.args[:2]:
                if _constants(arg, int) is not None or (
                        set(_constants(arg, str) or ()) & names):
                    yield where, f'{_ident(node.func)}(<literal op>)'


def test_no_module_outside_the_op_table_hard_codes_ops():
    found = []
    for path in sorted(PACKAGE.rglob('*.py')):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in EXEMPT:
            continue
        for line, what in _violations(ast.parse(path.read_text(), str(path))):
            found.append(f'dada_mm/{rel}:{line}: {what}')
    assert not found, '\n'.join(found)


def test_the_scan_finds_hard_coded_ops():
    """The checks above catch the patterns the op table replaced."""
    src = '''
GEOMETRIC_OP_INDICES = (0, 1, 2, 3, 4)
if name in ('ShearX', 'ShearY'):
    pass
if op_index == 14:
    pass
spec = OPS[5]
v = level_to_value('Cutout', 0.3)
'''
    assert len(list(_violations(ast.parse(src)))) == 5
