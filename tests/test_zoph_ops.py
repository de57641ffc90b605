"""The detection op family (Zoph et al. 2019): level semantics, box-moving ops, box-only ops.

Expected values are worked out by hand from the published definitions (TensorFlow TPU
``autoaugment_utils.py``, cited [TPU]), not from ``detection_ops.py``:

* levels 0..10; magnitude = level / 10. Rotate (level/10)*30 deg, Shear (level/10)*0.3,
  TranslateX/Y_BBox (level/10)*250 px, *_Only_BBoxes translations (level/10)*120 px,
  Cutout pad int((level/10)*100) (a 2 pad square), Cutout_Only_BBoxes pad
  int((level/10)*50), BBox_Cutout pad fraction (level/10)*0.75, Posterize bits
  int((level/10)*4), Solarize threshold int((level/10)*256), SolarizeAdd addition
  int((level/10)*110) below 128, enhance factors (level/10)*1.8+0.1; fill 128.
* forward motion of points (what boxes and polygons follow), positive sign:
  TranslateX ``x' = x - p``, TranslateY ``y' = y - p``, ShearX ``x' = x - v y``,
  ShearY ``y' = y - v x``, Rotate counter-clockwise on screen about (W/2, H/2).
* a box-only op acts on the pixels whose centres lie in the box, in mmdet's continuous
  frame: columns ceil(x1 - .5) .. ceil(x2 - .5) - 1, rows likewise (``img[y1:y2, x1:x2]``
  for integer boxes; not [TPU]'s inclusive ``int(size * coord)`` indices, one row and
  column more), each box with prob / 3, in a random visiting order; overlapping pixels are
  changed by every applied box, in that order.

Two tests (``test_box_only_through_the_transform``, the transform half of
``test_bbox_cutout_hand_computed``) replay the transform's draws through ``zoph_ops``:
they check its plumbing only; what those ``zoph_ops`` functions compute, and the sign,
order and fill rules through the transform, are checked by hand elsewhere here.
"""
import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

from dada_mm import DADAAugment
from dada_mm.search_space.detection_ops import (
    BOX_ONLY_PROB_DIVISOR,
    DETECTION_OP_NAMES,
    DETECTION_OPS,
    REPLACE_FILL,
    detection_value,
    get_detection_op,
)
from dada_mm.transforms import ZophDetectionAugment, zoph_ops

H, W = 100, 200


def _mmdet():
    try:
        import mmcv.ops  # noqa: F401
        from mmdet.structures.bbox import HorizontalBoxes
        from mmdet.structures.mask import BitmapMasks, PolygonMasks
    except ImportError as e:
        pytest.skip(f'mmdet structures need mmcv.ops: {e}')
    return HorizontalBoxes, BitmapMasks, PolygonMasks


def gradient(h=H, w=W):
    """Every pixel of a row differs; channels differ (BGR uint8)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([(xx + 3 * yy + 50 * c) % 256 for c in range(3)], -1).astype(np.uint8)


def noisy(h=H, w=W, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def single(name, level, prob=1.0, **kwargs):
    return ZophDetectionAugment([[dict(op=name, prob=prob, magnitude=level / 10)]], **kwargs)


def seed_with_sign(sign, ops=1):
    """A seed under which a one-sub-policy transform draws ``sign`` for its first op."""
    for seed in range(1000):
        np.random.seed(seed)
        np.random.randint(1)
        u = np.random.rand(4 * ops)
        if (1.0 if u[1] < 0.5 else -1.0) == sign:
            return seed
    raise AssertionError


def run(aug, results, sign=1.0):
    np.random.seed(seed_with_sign(sign))
    return aug(results)


def det_results(img, boxes, masks=None):
    HorizontalBoxes, _, _ = _mmdet()
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    out = dict(img=img, img_shape=img.shape[:2],
               gt_bboxes=HorizontalBoxes(torch.from_numpy(boxes.copy())),
               gt_bboxes_labels=np.arange(len(boxes)),
               gt_ignore_flags=np.array([i % 2 == 1 for i in range(len(boxes))]))
    if masks is not None:
        out['gt_masks'] = masks
    return out


def boxes_of(results):
    return results['gt_bboxes'].tensor.numpy()


# ------------------------------------------------------------------------ level table
def tpu_value(name, level):
    """[TPU] level_to_arg, written out for integer levels (unsigned)."""
    lv = level / 10
    table = {
        'AutoContrast': None, 'Equalize': None, 'Flip_Only_BBoxes': None,
        'Equalize_Only_BBoxes': None,
        'Posterize': int(lv * 4), 'Solarize': int(lv * 256), 'SolarizeAdd': int(lv * 110),
        'Solarize_Only_BBoxes': int(lv * 256),
        'Color': lv * 1.8 + 0.1, 'Contrast': lv * 1.8 + 0.1, 'Brightness': lv * 1.8 + 0.1,
        'Sharpness': lv * 1.8 + 0.1, 'Cutout': int(lv * 100), 'BBox_Cutout': lv * 0.75,
        'Cutout_Only_BBoxes': int(lv * 50),
        'Rotate_BBox': lv * 30, 'Rotate_Only_BBoxes': lv * 30,
        'ShearX_BBox': lv * 0.3, 'ShearY_BBox': lv * 0.3, 'ShearX_Only_BBoxes': lv * 0.3,
        'ShearY_Only_BBoxes': lv * 0.3, 'TranslateX_BBox': lv * 250,
        'TranslateY_BBox': lv * 250, 'TranslateX_Only_BBoxes': lv * 120,
        'TranslateY_Only_BBoxes': lv * 120,
    }
    return table[name]


SIGNED = {'Rotate_BBox', 'ShearX_BBox', 'ShearY_BBox', 'TranslateX_BBox', 'TranslateY_BBox',
          'Rotate_Only_BBoxes', 'ShearX_Only_BBoxes', 'ShearY_Only_BBoxes',
          'TranslateX_Only_BBoxes', 'TranslateY_Only_BBoxes'}


def test_table_covers_the_published_ops():
    published = {  # [TPU] NAME_TO_FUNC
        'AutoContrast', 'Equalize', 'Posterize', 'Solarize', 'SolarizeAdd', 'Color',
        'Contrast', 'Brightness', 'Sharpness', 'Cutout', 'BBox_Cutout', 'Rotate_BBox',
        'TranslateX_BBox', 'TranslateY_BBox', 'ShearX_BBox', 'ShearY_BBox',
        'Rotate_Only_BBoxes', 'ShearX_Only_BBoxes', 'ShearY_Only_BBoxes',
        'TranslateX_Only_BBoxes', 'TranslateY_Only_BBoxes', 'Flip_Only_BBoxes',
        'Solarize_Only_BBoxes', 'Equalize_Only_BBoxes', 'Cutout_Only_BBoxes'}
    assert set(DETECTION_OP_NAMES) == published
    for op in DETECTION_OPS:
        assert op.random_sign == (op.name in SIGNED), op.name
        assert op.box_only == op.name.endswith('_Only_BBoxes'), op.name
    assert BOX_ONLY_PROB_DIVISOR == 3.0 and REPLACE_FILL == 128


@pytest.mark.parametrize('name', sorted(
    n for n in DETECTION_OP_NAMES if tpu_value(n, 5) is not None))
@pytest.mark.parametrize('level', range(11))
def test_level_to_parameter_matches_tpu(name, level):
    want = tpu_value(name, level)
    assert detection_value(name, level / 10) == want
    if name in SIGNED:
        assert detection_value(name, level / 10, -1.0) == -want
    else:
        assert detection_value(name, level / 10, -1.0) == want


# ----------------------------------------------------------------- box-moving ops
HAND_BOXES = [
    # (op, level, sign, boxes, expected) on a 100 x 200 image, worked out by hand
    ('TranslateX_BBox', 2, 1, [], []),  # no boxes: image only
    ('TranslateX_BBox', 2, 1, [(120, 10, 160, 30)], [(70, 10, 110, 30)]),  # 50 px left
    ('TranslateX_BBox', 2, -1, [(120, 10, 160, 30)], [(170, 10, 200, 30)]),  # clipped
    ('TranslateX_BBox', 2, 1,  # many, overlapping; the 2nd and 3rd are pushed out left
     [(120, 10, 160, 30), (50, 20, 90, 60), (60, 30, 100, 70), (10, 5, 40, 15)],
     [(70, 10, 110, 30), (0, 20, 40, 60), (10, 30, 50, 70), (0, 5, 0, 15)]),
    ('TranslateX_BBox', 4, 1, [(150, 0, 200, 100)], [(50, 0, 100, 100)]),  # 100 px
    ('TranslateY_BBox', 2, 1, [(10, 60, 30, 90)], [(10, 10, 30, 40)]),
    ('TranslateY_BBox', 2, -1, [(10, 60, 30, 90), (10, 0, 30, 20)],
     [(10, 100, 30, 100), (10, 50, 30, 70)]),
    # ShearX v = 0.3: x' = x - 0.3 y (corners 50-6, 50-12, 70-6, 70-12)
    ('ShearX_BBox', 10, 1, [(50, 20, 70, 40)], [(38, 20, 64, 40)]),
    ('ShearX_BBox', 10, -1, [(50, 20, 70, 40), (0, 0, 10, 100)],
     [(56, 20, 82, 40), (0, 0, 40, 100)]),
    # ShearY v = 0.06 (level 2): y' = y - 0.06 x
    ('ShearY_BBox', 2, 1, [(100, 40, 150, 60)], [(100, 31, 150, 54)]),
    ('ShearY_BBox', 10, 1, [(10, 40, 30, 60)], [(10, 31, 30, 57)]),
    # Rotate 30 deg CCW about (100, 50): centred box grows to half size 10 (cos + sin)
    ('Rotate_BBox', 10, 1, [(90, 40, 110, 60)],
     [(86.339746, 36.339746, 113.660254, 63.660254)]),
    # centre (150, 50) -> (100 + 50 cos, 50 - 50 sin) = (143.30127, 25); half sizes
    # (10 cos + 5 sin, 10 sin + 5 cos) = (11.160254, 9.330127)
    ('Rotate_BBox', 10, 1, [(140, 45, 160, 55), (90, 40, 110, 60)],
     [(132.141016, 15.669873, 154.461524, 34.330127),
      (86.339746, 36.339746, 113.660254, 63.660254)]),
    ('Rotate_BBox', 10, -1, [(140, 45, 160, 55)],  # clockwise: the centre moves down
     [(132.141016, 65.669873, 154.461524, 84.330127)]),
]


@pytest.mark.parametrize('op,level,sign,boxes,expected', HAND_BOXES)
def test_box_moving_ops_hand_computed(op, level, sign, boxes, expected):
    results = det_results(gradient(), boxes)
    out = run(single(op, level), results, sign)
    assert out['dada_applied_ops'] == [op]
    got = boxes_of(out)
    assert got.shape == (len(expected), 4)
    np.testing.assert_allclose(got, np.asarray(expected, np.float64).reshape(-1, 4),
                               atol=1e-4)
    # labels and ignore flags keep their length and order: nothing is filtered
    assert out['gt_bboxes_labels'].tolist() == list(range(len(boxes)))
    assert out['gt_ignore_flags'].tolist() == [i % 2 == 1 for i in range(len(boxes))]
    assert out['homography_matrix'].shape == (3, 3)


def test_translate_bbox_image_is_an_exact_shift_with_grey_fill():
    img = gradient()
    out = run(single('TranslateX_BBox', 2), det_results(img, []), 1.0)['img']
    np.testing.assert_array_equal(out[:, :150], img[:, 50:])
    assert (out[:, 150:] == 128).all()
    out = run(single('TranslateY_BBox', 2), det_results(img, []), -1.0)['img']
    np.testing.assert_array_equal(out[50:], img[:50])
    assert (out[:50] == 128).all()


@pytest.mark.parametrize('op,sign', [('ShearX_BBox', 1), ('ShearY_BBox', -1),
                                     ('Rotate_BBox', 1), ('Rotate_BBox', -1)])
def test_box_moving_warps_match_pil(op, sign):
    """Independent reference: PIL's affine / rotate, NEAREST, grey fill (the matrix path
    of the DADA ops, tolerance as there: exact sampling ties only)."""
    img = noisy(60, 90)
    out = run(single(op, 8), det_results(img, []), sign)['img']
    v = sign * {'ShearX_BBox': 0.24, 'ShearY_BBox': 0.24, 'Rotate_BBox': 24.0}[op]
    pil = Image.fromarray(img)
    if op == 'ShearX_BBox':
        ref = pil.transform(pil.size, Image.AFFINE, (1, v, 0, 0, 1, 0), Image.NEAREST,
                            fillcolor=(128,) * 3)
    elif op == 'ShearY_BBox':
        ref = pil.transform(pil.size, Image.AFFINE, (1, 0, 0, v, 1, 0), Image.NEAREST,
                            fillcolor=(128,) * 3)
    else:
        ref = pil.rotate(v, fillcolor=(128,) * 3)
    mismatch = np.any(out != np.asarray(ref), axis=2).mean()
    assert mismatch < 0.01, mismatch


def test_box_moving_ops_move_bitmap_and_polygon_masks():
    _, BitmapMasks, PolygonMasks = _mmdet()
    img = gradient()
    bitmap = np.zeros((2, H, W), np.uint8)
    bitmap[0, 10:30, 120:160] = 1
    bitmap[1, 20:60, 50:90] = 1
    boxes = [(120, 10, 160, 30), (50, 20, 90, 60)]
    out = run(single('TranslateX_BBox', 2), det_results(img, boxes, BitmapMasks(
        bitmap, H, W)), 1.0)
    moved = out['gt_masks'].masks
    want = np.zeros_like(bitmap)
    want[0, 10:30, 70:110] = 1
    want[1, 20:60, 0:40] = 1
    np.testing.assert_array_equal(moved, want)
    # polygons: points move by exactly -50 in x and are clipped to the image
    polys = PolygonMasks([[np.array([120, 10, 160, 10, 160, 30, 120, 30], np.float64)],
                          [np.array([50, 20, 90, 20, 90, 60, 50, 60], np.float64)]], H, W)
    out = run(single('TranslateX_BBox', 2), det_results(img, boxes, polys), 1.0)
    got = [p[0].tolist() for p in out['gt_masks'].masks]
    assert got == [[70, 10, 110, 10, 110, 30, 70, 30], [0, 20, 40, 20, 40, 60, 0, 60]]
    # ShearY v=0.06 on a polygon point (100, 40) -> (100, 34)
    polys = PolygonMasks([[np.array([100, 40, 150, 40, 150, 60], np.float64)]], H, W)
    out = run(single('ShearY_BBox', 2), det_results(img, [(100, 40, 150, 60)], polys), 1.0)
    np.testing.assert_allclose(out['gt_masks'].masks[0][0], [100, 34, 150, 31, 150, 51],
                               atol=1e-9)


def test_numpy_boxes_and_no_boxes_key_for_box_moving_ops():
    img = gradient()
    out = run(single('TranslateY_BBox', 2), dict(img=img, gt_bboxes=np.array(
        [[10, 60, 30, 90]], np.float32)), 1.0)
    assert isinstance(out['gt_bboxes'], np.ndarray)
    np.testing.assert_allclose(out['gt_bboxes'], [[10, 10, 30, 40]])
    out = run(single('TranslateY_BBox', 2), dict(img=img), 1.0)  # image only: fine
    assert out['img'].shape == img.shape and 'gt_bboxes' not in out


# ------------------------------------------------------------------- box-only ops
def test_box_pixel_region_is_the_pixel_centres_inside_the_box():
    """(y0, y1, x0, x1) half-open, worked out by hand: pixel (i, j) has its centre at
    (j + .5, i + .5); a box covers the centres in [x1, x2) x [y1, y2)."""
    # on pixel edges: columns 2..5 (centres 2.5..5.5 < 6), rows 3..7 (centres < 8)
    assert zoph_ops.box_pixel_region((2, 3, 6, 8), H, W) == (3, 8, 2, 6)
    assert zoph_ops.box_pixel_region((2, 3, 6, 8), 10, 10) == (3, 8, 2, 6)
    # edges through pixel centres: the left / top centre is in, the right / bottom out
    assert zoph_ops.box_pixel_region((2.5, 3.5, 6.5, 8.5), H, W) == (3, 8, 2, 6)
    # just past the centres: column 2's centre 2.5 < 2.51 is out, column 6's 6.5 in
    assert zoph_ops.box_pixel_region((2.51, 3.49, 6.51, 8.49), H, W) == (3, 8, 3, 7)
    assert zoph_ops.box_pixel_region((2.7, 3.2, 6.9, 8.99), H, W) == (3, 9, 3, 7)
    assert zoph_ops.box_pixel_region((150, 90, 200, 100), H, W) == (90, 100, 150, 200)
    assert zoph_ops.box_pixel_region((0, 0, W, H), H, W) == (0, H, 0, W)  # whole image
    assert zoph_ops.box_pixel_region((-3, -4, 2, 1), H, W) == (0, 1, 0, 2)  # clipped
    assert zoph_ops.box_pixel_region((190, 95, 260, 130), H, W) == (95, 100, 190, 200)
    assert zoph_ops.box_pixel_region((5.2, 5.2, 5.6, 5.6), H, W) == (5, 6, 5, 6)
    # no pixel centre inside: zero area, or thin between two centres
    assert zoph_ops.box_pixel_region((5, 5, 5, 5), H, W) is None
    assert zoph_ops.box_pixel_region((5.6, 5, 6.4, 9), H, W) is None
    assert zoph_ops.box_pixel_region((200, 0, 200, 10), H, W) is None  # at the border
    assert zoph_ops.box_pixel_region((-10, 0, 0, 10), H, W) is None  # left of the image


BOX_ONLY_OPS = [op.name for op in DETECTION_OPS if op.box_only]


def test_box_only_op_on_pixel_edges_changes_exactly_the_box():
    """Box (2, 3, 6, 8) on a 10 x 10 image: Solarize_Only_BBoxes at level 0 (threshold
    0: every pixel becomes 255 - x, never equal to x) changes exactly rows 3..7 and
    columns 2..5 (20 pixels), through ZophDetectionAugment and through DADAAugment."""
    img = noisy(10, 10)
    want = np.zeros((10, 10), bool)
    want[3:8, 2:6] = True
    boxes = np.array([(2, 3, 6, 8)], np.float32)
    policy = [[dict(op='Solarize_Only_BBoxes', prob=1.0, magnitude=0.0)]]
    for aug in (ZophDetectionAugment(policy), DADAAugment(policy)):
        hits = 0
        for seed in range(30):  # each box changes with prob 1 / 3
            np.random.seed(seed)
            out = aug(dict(img=img.copy(), gt_bboxes=boxes.copy()))
            changed = np.any(out['img'] != img, axis=2)
            if out['dada_applied_ops']:
                hits += 1
                np.testing.assert_array_equal(changed, want)
                np.testing.assert_array_equal(out['img'][want], 255 - img[want])
            else:
                assert not changed.any()
        assert hits > 0


@pytest.mark.parametrize('name', BOX_ONLY_OPS)
def test_box_only_ops_never_change_pixels_past_the_box(name):
    """Every box-only op at every sign, box (2, 3, 6, 8) on a 10 x 10 image: nothing
    changes outside rows 3..7 and columns 2..5 (the TF convention changed row 8 and
    column 6 too)."""
    img = noisy(10, 10, seed=1)
    inside = np.zeros((10, 10), bool)
    inside[3:8, 2:6] = True
    spec = get_detection_op(name)
    for level in (3, 10):
        for sign in (1.0, -1.0):
            value = detection_value(name, level / 10, sign)
            out = only(img, [(2, 3, 6, 8)], spec.base, value,
                       centers=np.array([[0.9, 0.9]]))
            assert not np.any(out != img, axis=2)[~inside].any(), (name, level, sign)


def only(img, boxes, base, value, order=None, applied=None, centers=None):
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    order = list(range(len(boxes))) if order is None else order
    applied = [True] * len(boxes) if applied is None else applied
    out, _ = zoph_ops.apply_in_boxes(img, boxes, base, value, order, applied, centers,
                                     fill=128)
    return out


def outside_unchanged(out, img, regions):
    keep = np.ones(img.shape[:2], bool)
    for y0, y1, x0, x1 in regions:
        keep[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(out[keep], img[keep])


def test_flip_only_bboxes_one_and_many_boxes():
    img = gradient()
    out = only(img, [(2, 3, 6, 8)], 'Flip', 0)  # rows 3..7, columns 2..5
    np.testing.assert_array_equal(out[3:8, 2:6], img[3:8, 2:6][:, ::-1])
    outside_unchanged(out, img, [(3, 8, 2, 6)])
    out = only(img, [(2, 3, 6, 8), (100, 50, 120, 60)], 'Flip', 0, applied=[False, True])
    np.testing.assert_array_equal(out[50:60, 100:120], img[50:60, 100:120][:, ::-1])
    outside_unchanged(out, img, [(50, 60, 100, 120)])


def test_overlapping_boxes_compose_in_visiting_order():
    """Boxes (2, 2, 10, 6) and (6, 2, 14, 6) share columns 6..9 of rows 2..5: both flips
    act there, the second on the first's output."""
    row = np.arange(20)
    img = np.repeat(np.repeat(row[None, :, None], 10, 0), 3, 2).astype(np.uint8)
    boxes = [(2, 2, 10, 6), (6, 2, 14, 6)]
    first_then_second = only(img, boxes, 'Flip', 0, order=[0, 1])
    assert first_then_second[2, :, 0].tolist() == [0, 1, 9, 8, 7, 6, 13, 12, 11, 10, 2, 3,
                                                   4, 5, 14, 15, 16, 17, 18, 19]
    second_then_first = only(img, boxes, 'Flip', 0, order=[1, 0])
    assert second_then_first[2, :, 0].tolist() == [0, 1, 10, 11, 12, 13, 5, 4, 3, 2, 9, 8,
                                                   7, 6, 14, 15, 16, 17, 18, 19]
    for out in (first_then_second, second_then_first):
        np.testing.assert_array_equal(out[:2], img[:2])
        np.testing.assert_array_equal(out[6:], img[6:])


def test_translate_only_bboxes_moves_content_inside_the_box():
    img = gradient()
    box = (10, 10, 21, 50)  # rows 10..49 (40), columns 10..20
    value = detection_value('TranslateY_Only_BBoxes', 0.2, 1.0)  # 24 px up
    assert value == 24
    out = only(img, [box], 'TranslateY', value)
    np.testing.assert_array_equal(out[10:26, 10:21], img[34:50, 10:21])
    assert (out[26:50, 10:21] == 128).all()
    outside_unchanged(out, img, [(10, 50, 10, 21)])
    out = only(img, [box], 'TranslateX', -12.0)  # level 1, negative: 12 px right
    assert (out[10:50, 10:21] == 128).all()  # an 11-px wide box: all of it is fill
    out = only(img, [(10, 10, 41, 21)], 'TranslateX', -12.0)  # 31 columns
    np.testing.assert_array_equal(out[10:21, 22:41], img[10:21, 10:29])
    assert (out[10:21, 10:22] == 128).all()


def test_shear_only_bboxes_hand_computed_rows():
    """ShearX v=0.3 in the crop's frame: output (i, j) reads column floor(j + .5 + .3 (i +
    .5)): rows 0-1 unchanged, rows 2-4 shifted left by 1, row 5 by 2 (fill at the end)."""
    img = gradient()
    out = only(img, [(20, 10, 40, 16)], 'ShearX', 0.3)  # crop rows 10..15, cols 20..39
    crop, src = out[10:16, 20:40], img[10:16, 20:40]
    np.testing.assert_array_equal(crop[0:2], src[0:2])
    np.testing.assert_array_equal(crop[2:5, :-1], src[2:5, 1:])
    assert (crop[2:5, -1] == 128).all()
    np.testing.assert_array_equal(crop[5, :-2], src[5, 2:])
    assert (crop[5, -2:] == 128).all()
    outside_unchanged(out, img, [(10, 16, 20, 40)])
    # ShearY is the transpose: columns 2-4 move up by 1, column 5 by 2
    out = only(img, [(10, 20, 16, 40)], 'ShearY', 0.3)
    crop, src = out[20:40, 10:16], img[20:40, 10:16]
    np.testing.assert_array_equal(crop[:, 0:2], src[:, 0:2])
    np.testing.assert_array_equal(crop[:-1, 2:5], src[1:, 2:5])
    np.testing.assert_array_equal(crop[:-2, 5], src[2:, 5])
    assert (crop[-2:, 5] == 128).all()


def test_rotate_only_bboxes_hand_computed_and_pil():
    """A 9x9 crop rotated 30 deg CCW about its centre (4.5, 4.5): the centre pixel stays,
    the four corners read outside (fill), output (2, 8) reads input (4, 8)."""
    img = noisy()
    out = only(img, [(40, 20, 49, 29)], 'Rotate', 30.0)  # rows 20..28, cols 40..48
    crop, src = out[20:29, 40:49], img[20:29, 40:49]
    np.testing.assert_array_equal(crop[4, 4], src[4, 4])
    for i, j in ((0, 0), (0, 8), (8, 0), (8, 8)):
        assert (crop[i, j] == 128).all()
    np.testing.assert_array_equal(crop[2, 8], src[4, 8])
    ref = np.asarray(Image.fromarray(np.ascontiguousarray(src)).rotate(
        30.0, fillcolor=(128,) * 3))
    assert np.any(crop != ref, axis=2).sum() <= 4  # exact sampling ties only
    outside_unchanged(out, img, [(20, 29, 40, 49)])


def test_colour_and_cutout_only_bboxes():
    img = noisy()
    box = (30, 40, 80, 70)  # rows 40..69 (30), columns 30..79 (50)
    out = only(img, [box], 'Solarize', 128.0)
    src = img[40:70, 30:80]
    np.testing.assert_array_equal(out[40:70, 30:80], np.where(src >= 128, 255 - src, src))
    outside_unchanged(out, img, [(40, 70, 30, 80)])
    out = only(img, [box], 'Equalize', 0)
    np.testing.assert_array_equal(out[40:70, 30:80], np.asarray(ImageOps.equalize(
        Image.fromarray(np.ascontiguousarray(src)))))
    outside_unchanged(out, img, [(40, 70, 30, 80)])
    # Cutout_Only_BBoxes level 2 -> pad 10: a 20 x 20 square at crop centre (15, 25)
    assert detection_value('Cutout_Only_BBoxes', 0.2) == 10
    out = only(img, [box], 'Cutout', 10, centers=np.array([[0.5, 0.5]]))
    assert (out[45:65, 45:65] == 128).all()
    outside_unchanged(out, img, [(45, 65, 45, 65)])
    # centre at the crop's corner: clipped to the crop, never outside the box
    out = only(img, [box], 'Cutout', 10, centers=np.array([[0.0, 0.0]]))
    assert (out[40:50, 30:40] == 128).all()
    outside_unchanged(out, img, [(40, 50, 30, 40)])


@pytest.mark.parametrize('name,level', [
    ('Flip_Only_BBoxes', 10), ('TranslateY_Only_BBoxes', 6), ('TranslateX_Only_BBoxes', 4),
    ('ShearX_Only_BBoxes', 4), ('ShearY_Only_BBoxes', 2), ('Rotate_Only_BBoxes', 10),
    ('Solarize_Only_BBoxes', 5), ('Equalize_Only_BBoxes', 8), ('Cutout_Only_BBoxes', 6)])
def test_box_only_through_the_transform(name, level):
    """Replays the transform's draws: the image equals apply_in_boxes with them, and no
    annotation changes (boxes, labels, flags, bitmap and polygon masks)."""
    _, BitmapMasks, PolygonMasks = _mmdet()
    img = noisy()
    boxes = [(10, 10, 60, 50), (40, 30, 90, 80), (120, 5, 190, 95)]  # 1st, 2nd overlap
    bitmap = np.zeros((3, H, W), np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        bitmap[k, y1:y2, x1:x2] = 1
    polys = [[np.array([x1, y1, x2, y1, x2, y2, x1, y2], np.float64)]
             for x1, y1, x2, y2 in boxes]
    aug = single(name, level, prob=1.0)
    spec = get_detection_op(name)
    seen = 0
    for seed in range(12):
        for masks in (BitmapMasks(bitmap.copy(), H, W), PolygonMasks(polys, H, W)):
            np.random.seed(seed)
            out = aug(det_results(img.copy(), boxes, masks))
            np.random.seed(seed)
            np.random.randint(1)
            u = np.random.rand(4)
            order = np.random.permutation(3)
            applied = np.random.rand(3) < 1.0 / 3
            centers = np.random.rand(3, 2) if spec.base == 'Cutout' else None
            sign = 1.0 if u[1] < 0.5 else -1.0  # the draw order of the module docstring
            published = tpu_value(name, level)  # [TPU] level_to_arg, not detection_ops
            value = 0.0 if published is None else published * (sign if name in SIGNED
                                                                else 1.0)
            want, changed = zoph_ops.apply_in_boxes(img, np.array(boxes, float), spec.base,
                                                    value, order, applied, centers, 128)
            np.testing.assert_array_equal(out['img'], want)
            assert out['dada_applied_ops'] == ([name] if changed else [])
            seen += changed > 0
            np.testing.assert_array_equal(boxes_of(out), np.array(boxes, np.float32))
            assert out['gt_bboxes_labels'].tolist() == [0, 1, 2]
            if isinstance(masks, BitmapMasks):
                np.testing.assert_array_equal(out['gt_masks'].masks, bitmap)
            else:
                assert [p[0].tolist() for p in out['gt_masks'].masks] == \
                    [p[0].tolist() for p in polys]
    assert seen > 0


def _shift_box_x(img, rows, x0, width, pixels):
    """By hand: a box's columns x0 .. x0 + width - 1 of ``rows`` translated by ``pixels``
    in the crop ([TPU] translate_x: content moves by -pixels), 128 where it reads outside."""
    out = img.copy()
    crop = img[rows, x0:x0 + width]
    out[rows, x0:x0 + width] = 128
    if pixels >= 0:
        out[rows, x0:x0 + width - pixels] = crop[:, pixels:]
    else:
        out[rows, x0 - pixels:x0 + width] = crop[:, :width + pixels]
    return out


def test_box_only_translate_one_sign_for_every_box_hand_computed():
    """Through the transform, no replay of its draws: TranslateX_Only_BBoxes level 1
    (12 px) on two separate boxes. Every output is one of the hand-computed outcomes
    with ONE sign for the boxes changed; both boxes changed occurs with either sign and
    never with mixed signs."""
    img = gradient()
    a = (slice(10, 20), 10, 40)  # box (10, 10, 50, 20): rows 10..19, columns 10..49
    b = (slice(50, 70), 100, 40)  # box (100, 50, 140, 70): rows 50..69, columns 100..139
    boxes = np.array([(10, 10, 50, 20), (100, 50, 140, 70)], np.float32)

    def outcome(sa, sb):  # sa / sb: +1, -1 or 0 (box unchanged)
        out = img
        for (rows, x0, width), s in ((a, sa), (b, sb)):
            if s:
                out = _shift_box_x(out, rows, x0, width, 12 * s)
        return out
    allowed = {(sa, sb): outcome(sa, sb) for sa, sb in
               [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1)]}
    mixed = [outcome(1, -1), outcome(-1, 1)]
    aug = single('TranslateX_Only_BBoxes', 1, prob=1.0)
    seen = set()
    for seed in range(300):
        np.random.seed(seed)
        out = aug(dict(img=img.copy(), gt_bboxes=boxes.copy()))
        assert not any(np.array_equal(out['img'], m) for m in mixed), seed
        hits = [k for k, want in allowed.items() if np.array_equal(out['img'], want)]
        assert len(hits) == 1, (seed, hits)
        seen.add(hits[0])
        assert out['dada_applied_ops'] == ([] if hits[0] == (0, 0) else
                                           ['TranslateX_Only_BBoxes'])
        np.testing.assert_array_equal(out['gt_bboxes'], boxes)
    assert {(1, 1), (-1, -1), (1, 0), (0, -1)} <= seen, seen


def test_box_only_visiting_order_is_random_hand_computed():
    """Flip_Only_BBoxes on boxes sharing columns 6..9: through the transform the two
    boxes are flipped in either order (the results differ), worked out by slicing."""
    row = np.arange(20)
    img = np.repeat(np.repeat(row[None, :, None], 10, 0), 3, 2).astype(np.uint8)
    boxes = np.array([(2, 2, 10, 6), (6, 2, 14, 6)], np.float32)

    def flip(im, x0, x1):  # rows 2..5, columns x0..x1 inclusive
        out = im.copy()
        out[2:6, x0:x1 + 1] = im[2:6, x0:x1 + 1][:, ::-1]
        return out
    first, second = (lambda im: flip(im, 2, 9)), (lambda im: flip(im, 6, 13))
    outcomes = {'none': img, 'first': first(img), 'second': second(img),
                'first, second': second(first(img)), 'second, first': first(second(img))}
    assert not np.array_equal(outcomes['first, second'], outcomes['second, first'])
    aug = single('Flip_Only_BBoxes', 10, prob=1.0)
    seen = set()
    for seed in range(400):
        np.random.seed(seed)
        out = aug(dict(img=img.copy(), gt_bboxes=boxes.copy()))['img']
        hits = [k for k, want in outcomes.items() if np.array_equal(out, want)]
        assert len(hits) == 1, (seed, hits)
        seen.add(hits[0])
    assert seen == set(outcomes), seen


def test_fill_and_cutout_fill_options_reach_their_ops():
    """``fill`` (R, G, B) is the fill of the warps, whole image and inside boxes;
    ``cutout_fill`` that of Cutout and Cutout_Only_BBoxes; both in the image's order."""
    img = np.zeros((H, W, 3), np.uint8)
    out = run(single('TranslateX_BBox', 2, fill=(10, 20, 30)), dict(img=img.copy()), 1.0)
    assert (out['img'][:, 150:] == (30, 20, 10)).all()  # BGR image
    out = run(single('TranslateX_BBox', 2, fill=(10, 20, 30), channel_order='rgb'),
              dict(img=img.copy()), 1.0)
    assert (out['img'][:, 150:] == (10, 20, 30)).all()
    out = single('Cutout', 1, fill=(10, 20, 30), cutout_fill=(1, 2, 3))(
        dict(img=img.copy()))['img']
    filled = (out == (3, 2, 1)).all(axis=2)
    assert filled.any() and (out[~filled] == 0).all()
    gray = single('Cutout', 1, cutout_fill=(1, 2, 3))(dict(img=img[..., 0].copy()))['img']
    assert set(np.unique(gray)) == {0, 1}  # the R value on a one-channel image
    boxes = np.array([(10, 10, 50, 50)], np.float32)
    for name, level, want in (('TranslateX_Only_BBoxes', 1, (30, 20, 10)),
                              ('Cutout_Only_BBoxes', 2, (3, 2, 1))):
        aug = single(name, level, fill=(10, 20, 30), cutout_fill=(1, 2, 3))
        for seed in range(50):
            np.random.seed(seed)
            res = aug(dict(img=img.copy(), gt_bboxes=boxes.copy()))
            if res['dada_applied_ops']:
                break
        out = res['img']
        filled = (out == want).all(axis=2)
        assert filled.any() and (out[~filled] == 0).all(), name
        assert not filled[:10].any() and not filled[:, :10].any()  # inside the box only


def test_box_only_ops_with_zero_boxes_do_nothing():
    img = noisy()
    for name in ('Flip_Only_BBoxes', 'TranslateY_Only_BBoxes', 'Cutout_Only_BBoxes',
                 'BBox_Cutout'):
        out = single(name, 6)(det_results(img.copy(), []))
        np.testing.assert_array_equal(out['img'], img)
        assert out['dada_applied_ops'] == [] and boxes_of(out).shape == (0, 4)


def test_per_box_probability_is_prob_over_three():
    """[TPU] _scale_bbox_only_op_probability: each box changes with prob / 3, and the op
    itself is always entered (its prob is not drawn a second time)."""
    img = np.zeros((40, 400, 3), np.uint8)
    img[:, ::2] = 255  # a flip changes every box
    boxes = np.array([(10 * k, 0, 10 * k + 10, 40) for k in range(40)], np.float32)
    aug = single('Flip_Only_BBoxes', 10, prob=0.6)
    np.random.seed(0)
    changed = []
    for _ in range(150):
        out = aug(dict(img=img.copy(), gt_bboxes=boxes.copy()))['img']
        changed += [not np.array_equal(out[:, 10 * k:10 * k + 10], img[:, 10 * k:10 * k + 10])
                    for k in range(40)]
    rate = np.mean(changed)
    assert abs(rate - 0.2) < 0.02, rate  # 0.6 / 3; 6000 boxes: sd 0.005


# ----------------------------------------------------------------------- cutouts
def test_cutout_absolute_pixels():
    img = noisy()
    assert detection_value('Cutout', 0.1) == 10  # pad 10: a 20 x 20 square
    out = zoph_ops.cutout_square(img, 10, (0.25, 0.5), 128)  # centre (25, 100)
    assert (out[15:35, 90:110] == 128).all()
    outside_unchanged(out, img, [(15, 35, 90, 110)])
    out = zoph_ops.cutout_square(img, 10, (0.0, 0.0), 128)  # clipped at the corner
    assert (out[0:10, 0:10] == 128).all()
    outside_unchanged(out, img, [(0, 10, 0, 10)])
    # through the transform: level 8 -> pad 80, a 160-px square clipped to 100 x 200
    np.random.seed(3)
    out = single('Cutout', 8)(dict(img=img.copy()))['img']
    np.random.seed(3)
    np.random.randint(1)
    _, _, uy, ux = np.random.rand(4)
    cy, cx = int(uy * H), int(ux * W)
    region = (max(0, cy - 80), min(H, cy + 80), max(0, cx - 80), min(W, cx + 80))
    assert (out[region[0]:region[1], region[2]:region[3]] == 128).all()
    outside_unchanged(out, img, [region])


def test_bbox_cutout_hand_computed():
    """Box (10, 20, 50, 60): pixel rows 20..59 and columns 10..49 (40 each); level 4 ->
    pad fraction 0.3 -> pad int(0.3 * 20) = 6; centre (20 + 20, 10 + 20) = (40, 30):
    rows 34..45, columns 24..35 filled with 128."""
    assert detection_value('BBox_Cutout', 0.4) == pytest.approx(0.3)
    region = zoph_ops.bbox_cutout_region((10, 20, 50, 60), 0.3, (0.5, 0.5), H, W)
    assert region == (34, 46, 24, 36)
    # the box's last pixel row / column is 59 / 49, not 60 / 50: the centre's range ends
    # there (u -> 1: centre (59, 49), square rows 53..64, columns 43..54)
    assert zoph_ops.bbox_cutout_region((10, 20, 50, 60), 0.3, (0.999, 0.999), H, W) == \
        (53, 65, 43, 55)
    # a box on the image's edge: the square is clipped to the image
    assert zoph_ops.bbox_cutout_region((0, 0, 40, 40), 0.75, (0.0, 0.0), H, W) == \
        (0, 15, 0, 15)
    # a zero-area box still gets one pixel, as in [TPU]: pad 0, nothing filled
    assert zoph_ops.bbox_cutout_region((5, 5, 5, 5), 0.75, (0.5, 0.5), H, W) == \
        (5, 5, 5, 5)
    # through the transform: which box and where come from three more uniforms
    img = noisy()
    boxes = [(10, 20, 50, 60), (100, 10, 180, 90)]
    aug = single('BBox_Cutout', 4)
    for seed in range(6):
        np.random.seed(seed)
        out = aug(det_results(img.copy(), boxes))
        np.random.seed(seed)
        np.random.randint(1)
        np.random.rand(4)
        ub, uy, ux = np.random.rand(3)
        region = zoph_ops.bbox_cutout_region(boxes[int(ub * 2)], 0.3, (uy, ux), H, W)
        assert (out['img'][region[0]:region[1], region[2]:region[3]] == 128).all()
        outside_unchanged(out['img'], img, [region])
        np.testing.assert_array_equal(boxes_of(out), np.array(boxes, np.float32))


# -------------------------------------------------------------- whole-image colour ops
def _pil(img):
    return Image.fromarray(np.ascontiguousarray(img[..., ::-1]))  # BGR -> RGB


def _back(pil):
    return np.asarray(pil)[..., ::-1]


@pytest.mark.parametrize('name,level,reference,tolerance', [
    ('AutoContrast', 0, lambda p: ImageOps.autocontrast(p), 0),
    ('Equalize', 10, lambda p: ImageOps.equalize(p), 0),
    ('Posterize', 10, lambda p: ImageOps.posterize(p, 4), 0),
    ('Posterize', 6, lambda p: ImageOps.posterize(p, 2), 0),
    # int(0.8) = 0 bits: [TPU] shifts by 8, clamped to 7 by TensorFlow: 1 bit kept
    ('Posterize', 2, lambda p: ImageOps.posterize(p, 1), 0),
    ('Solarize', 8, lambda p: ImageOps.solarize(p, 204), 0),
    ('Contrast', 10, lambda p: ImageEnhance.Contrast(p).enhance(10 / 10 * 1.8 + .1), 0),
    ('Brightness', 2, lambda p: ImageEnhance.Brightness(p).enhance(2 / 10 * 1.8 + .1), 0),
    ('Color', 6, lambda p: ImageEnhance.Color(p).enhance(6 / 10 * 1.8 + .1), 1),
    ('Sharpness', 8, lambda p: ImageEnhance.Sharpness(p).enhance(8 / 10 * 1.8 + .1), 1),
])
def test_whole_image_colour_ops_match_pil(name, level, reference, tolerance):
    img = noisy(37, 53, seed=level)
    out = single(name, level)(dict(img=img.copy()))['img']
    want = _back(reference(_pil(img)))
    assert np.abs(out.astype(int) - want.astype(int)).max() <= tolerance


def test_solarize_add_formula():
    """[TPU] solarize_add, level 4: addition int(0.4 * 110) = 44 to pixels below 128."""
    img = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, 2)
    out = single('SolarizeAdd', 4)(dict(img=img.copy()))['img']
    v = img.astype(int)
    np.testing.assert_array_equal(out, np.where(v < 128, np.minimum(v + 44, 255), v))
    flat = out.reshape(-1, 3)[:, 0].astype(int)
    assert (flat[0], flat[100], flat[127], flat[128], flat[255]) == (44, 144, 171, 128, 255)


def test_dada_augment_delegates_detection_policies():
    img = gradient()
    a = DADAAugment(policy=[[dict(op='TranslateX_BBox', prob=1.0, magnitude=0.2)]])
    assert a.fill == 128 and a.policy_meta['op_family'] == 'zoph-detection'
    np.random.seed(seed_with_sign(1.0))
    out = a(dict(img=img.copy()))['img']
    np.testing.assert_array_equal(out[:, :150], img[:, 50:])
    # shared names (Color, Cutout, ...) in an inline list default to the DADA ops ...
    dada = DADAAugment(policy=[[dict(op='Cutout', prob=1.0, magnitude=0.1)]])
    assert dada._detection is None and dada.fill == 0
    # ... unless the family is given
    det = DADAAugment(policy=[[dict(op='Cutout', prob=1.0, magnitude=0.1)]],
                      op_family='zoph-detection')
    assert det._detection is not None and det.cutout_fill == 128


def test_magnitude_scale_and_gray_images():
    img = gradient()[..., 0]
    out = single('TranslateX_BBox', 2, magnitude_scale=0.0)(dict(img=img.copy()))
    np.testing.assert_array_equal(out['img'], img)  # identity level 0
    out = run(single('TranslateX_BBox', 2), dict(img=img.copy()), 1.0)['img']
    assert out.shape == img.shape and (out[:, 150:] == 128).all()
    out = single('Flip_Only_BBoxes', 10, prob=1.0)
    np.random.seed(0)
    res = out(dict(img=img[..., None].copy(), gt_bboxes=np.zeros((0, 4), np.float32)))
    assert res['img'].shape == (H, W, 1)
    assert math.isclose(single('Color', 5)._scaled_sub_policies[0][0][2], 0.5)
