"""DADAAugment in detection pipelines: boxes, masks and seg maps move with the image.

Geometry (derived from ``dada_mm/search_space/ops.py``): the op matrices map an *output*
pixel position to the *input* position it reads (PIL ``Image.transform(AFFINE)``), so the
annotations move with the *inverse*, the forward map input -> output. With the signed
value ``v = level * (high - low) + low`` (times the random sign):

* ShearX, ``x_in = x_out + v * y_out``        ->  ``x_out = x_in - v * y_in``
* ShearY, ``y_in = v * x_out + y_out``        ->  ``y_out = y_in - v * x_in``
* TranslateX, ``x_in = x_out + v * W``        ->  ``x_out = x_in - v * W``
* TranslateY, ``y_in = y_out + v * H``        ->  ``y_out = y_in - v * H``
* Rotate by ``v`` degrees counter-clockwise (PIL ``rotate``) about ``c = (W/2, H/2)``:
  ``out - c = [[cos v, sin v], [-sin v, cos v]] @ (in - c)`` (y points down, so a point
  right of the centre moves up). An axis-aligned box with centre offset ``(dx, dy)`` and
  half sizes ``(a, b)`` becomes the box with centre offset
  ``(cos v dx + sin v dy, -sin v dx + cos v dy)`` and half sizes
  ``(a |cos v| + b |sin v|, a |sin v| + b |cos v|)``.

Boxes are then clipped to the image and never filtered (mmdet's ``GeomTransform``).
The expected values below come from these formulas (or were worked out by hand), not
from the matrices of ``ops.py``.
"""
import math

import numpy as np
import pytest
import torch

from dada_mm import DADAAugment
from dada_mm.transforms.annotations import project_boxes, warp_annotations


def _mmdet_structures():
    try:
        import mmcv.ops  # noqa: F401
        from mmdet.structures.bbox import HorizontalBoxes
        from mmdet.structures.mask import BitmapMasks, PolygonMasks
    except ImportError as e:  # mmcv built without ops: mmdet structures unavailable
        pytest.skip(f'mmdet structures need mmcv.ops: {e}')
    return HorizontalBoxes, BitmapMasks, PolygonMasks


H, W = 96, 128
RANGES = dict(ShearX=(-0.3, 0.3), ShearY=(-0.3, 0.3), TranslateX=(-0.45, 0.45),
              TranslateY=(-0.45, 0.45), Rotate=(-30.0, 30.0))
GEOMETRIC = tuple(RANGES)


def value(op, level, sign):
    lo, hi = RANGES[op]
    return sign * (level * (hi - lo) + lo)


def expected_box(op, level, sign, box, h=H, w=W, clip=True):
    """Closed-form forward motion of an axis-aligned box, clipped to the image."""
    v = value(op, level, sign)
    x1, y1, x2, y2 = box
    if op == 'ShearX':
        xs = [x - v * y for x in (x1, x2) for y in (y1, y2)]
        out = [min(xs), y1, max(xs), y2]
    elif op == 'ShearY':
        ys = [y - v * x for x in (x1, x2) for y in (y1, y2)]
        out = [x1, min(ys), x2, max(ys)]
    elif op == 'TranslateX':
        out = [x1 - v * w, y1, x2 - v * w, y2]
    elif op == 'TranslateY':
        out = [x1, y1 - v * h, x2, y2 - v * h]
    else:
        t = math.radians(v)
        c, s = math.cos(t), math.sin(t)
        dx, dy = (x1 + x2) / 2 - w / 2, (y1 + y2) / 2 - h / 2
        a, b = (x2 - x1) / 2, (y2 - y1) / 2
        ncx, ncy = w / 2 + c * dx + s * dy, h / 2 - s * dx + c * dy
        ha, hb = a * abs(c) + b * abs(s), a * abs(s) + b * abs(c)
        out = [ncx - ha, ncy - hb, ncx + ha, ncy + hb]
    if not clip:
        return out
    return [min(max(out[0], 0), w), min(max(out[1], 0), h),
            min(max(out[2], 0), w), min(max(out[3], 0), h)]


def single(op, level):
    return DADAAugment(policy=[[dict(op=op, prob=1.0, magnitude=level)]])


def seed_for(aug, signs):
    """A numpy seed under which ``aug`` draws the given signs (one per op)."""
    for seed in range(1000):
        np.random.seed(seed)
        _, draws = aug._draw()
        if tuple(d[1] for d in draws) == tuple(signs):
            return seed
    raise AssertionError('no seed found')


def run(aug, results, signs):
    np.random.seed(seed_for(aug, signs))
    return aug(results)


def image(h=H, w=W, value=60):
    return np.full((h, w, 3), value, dtype=np.uint8)


# --------------------------------------------------------------------------- boxes
# (op, level, sign, box, expected) worked out by hand from the formulas in the docstring
HAND = [
    # ShearX v=0.3: x' = x - 0.3 y
    ('ShearX', 1.0, 1, (50, 20, 70, 40), (38, 20, 64, 40)),
    ('ShearX', 1.0, -1, (50, 20, 70, 40), (56, 20, 82, 40)),
    ('ShearX', 0.75, 1, (50, 20, 70, 40), (44, 20, 67, 40)),    # v = 0.15
    ('ShearX', 0.25, 1, (50, 20, 70, 40), (53, 20, 76, 40)),    # v = -0.15
    ('ShearX', 1.0, 1, (10, 20, 30, 40), (0, 20, 24, 40)),      # x1 = -2 clipped
    # ShearY v=0.3: y' = y - 0.3 x
    ('ShearY', 1.0, 1, (10, 40, 30, 60), (10, 31, 30, 57)),
    ('ShearY', 1.0, -1, (10, 40, 30, 60), (10, 43, 30, 69)),
    ('ShearY', 0.75, 1, (10, 40, 30, 60), (10, 35.5, 30, 58.5)),
    ('ShearY', 1.0, 1, (100, 10, 120, 30), (100, 0, 120, 0)),   # pushed out at the top
    # TranslateX: x' = x - v * 128
    ('TranslateX', 1.0, 1, (80, 20, 100, 40), (22.4, 20, 42.4, 40)),
    ('TranslateX', 0.75, 1, (80, 20, 100, 40), (51.2, 20, 71.2, 40)),
    ('TranslateX', 0.75, -1, (80, 20, 100, 40), (108.8, 20, 128, 40)),
    ('TranslateX', 1.0, -1, (80, 20, 100, 40), (128, 20, 128, 40)),  # fully out
    # TranslateY: y' = y - v * 96
    ('TranslateY', 1.0, 1, (10, 50, 30, 70), (10, 6.8, 30, 26.8)),
    ('TranslateY', 1.0, -1, (10, 50, 30, 70), (10, 93.2, 30, 96)),
    ('TranslateY', 0.75, 1, (10, 50, 30, 70), (10, 28.4, 30, 48.4)),
    # Rotate 30 deg CCW about (64, 48); cos = .8660254, sin = .5
    ('Rotate', 1.0, 1, (54, 38, 74, 58),
     (50.339746, 34.339746, 77.660254, 61.660254)),
    ('Rotate', 1.0, 1, (84, 43, 94, 53),        # centre (89, 48) -> (85.650635, 35.5)
     (78.820508, 28.669873, 92.480762, 42.330127)),
    ('Rotate', 1.0, -1, (84, 43, 94, 53),       # centre -> (85.650635, 60.5)
     (78.820508, 53.669873, 92.480762, 67.330127)),
]


@pytest.mark.parametrize('op,level,sign,box,expected', HAND)
def test_hand_computed_boxes(op, level, sign, box, expected):
    HorizontalBoxes, _, _ = _mmdet_structures()
    assert expected_box(op, level, sign, box) == pytest.approx(expected, abs=1e-5)
    results = dict(img=image(), img_shape=(H, W),
                   gt_bboxes=HorizontalBoxes(torch.tensor([box], dtype=torch.float32)),
                   gt_bboxes_labels=np.array([3]), gt_ignore_flags=np.array([False]))
    out = run(single(op, level), results, [sign])
    assert out['dada_applied_ops'] == [op]
    assert isinstance(out['gt_bboxes'], HorizontalBoxes)
    assert out['gt_bboxes'].tensor.dtype == torch.float32
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy()[0], expected, atol=1e-4)
    assert out['gt_bboxes_labels'].tolist() == [3]
    assert out['gt_ignore_flags'].tolist() == [False]


MANY = np.array([[5, 5, 25, 15], [40, 30, 90, 70], [100, 60, 127, 95], [60, 10, 61, 11],
                 [0, 0, 128, 96], [20, 50, 35, 90]], dtype=np.float32)


@pytest.mark.parametrize('op', GEOMETRIC)
@pytest.mark.parametrize('level', [1.0, 0.8, 0.3, 0.0])
@pytest.mark.parametrize('sign', [1, -1])
def test_many_boxes_closed_form(op, level, sign):
    HorizontalBoxes, _, _ = _mmdet_structures()
    labels = np.arange(len(MANY))
    ignore = np.array([False, True, False, False, True, False])
    results = dict(img=image(), gt_bboxes=HorizontalBoxes(torch.from_numpy(MANY.copy())),
                   gt_bboxes_labels=labels.copy(), gt_ignore_flags=ignore.copy())
    out = run(single(op, level), results, [sign])
    expected = np.array([expected_box(op, level, sign, b) for b in MANY.tolist()])
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), expected, atol=1e-3)
    # nothing filtered or reordered
    assert out['gt_bboxes_labels'].tolist() == labels.tolist()
    assert out['gt_ignore_flags'].tolist() == ignore.tolist()
    # the same through the numpy path
    np_results = dict(img=image(), gt_bboxes=MANY.copy())
    np_out = run(single(op, level), np_results, [sign])
    assert isinstance(np_out['gt_bboxes'], np.ndarray)
    assert np_out['gt_bboxes'].dtype == np.float32
    np.testing.assert_allclose(np_out['gt_bboxes'], expected, atol=1e-3)


def test_numpy_boxes_without_mmdet_structures():
    """Plain (N, 4) arrays work even where mmdet's structures cannot be imported."""
    aug = single('ShearX', 1.0)
    out = run(aug, dict(img=image(), gt_bboxes=np.array([[50, 20, 70, 40]], np.float32),
                        gt_seg_map=np.zeros((H, W), np.uint8)), [1])
    np.testing.assert_allclose(out['gt_bboxes'], [[38, 20, 64, 40]])
    assert project_boxes(np.zeros((0, 4), np.float32), np.eye(3), (H, W)).shape == (0, 4)
    with pytest.raises(ValueError, match=r'\(N, 4\)'):
        project_boxes(np.zeros((3, 5)), np.eye(3), (H, W))


def test_zero_boxes():
    HorizontalBoxes, BitmapMasks, PolygonMasks = _mmdet_structures()
    for masks in (BitmapMasks(np.zeros((0, H, W), np.uint8), H, W),
                  PolygonMasks([], H, W)):
        results = dict(img=image(), gt_bboxes=HorizontalBoxes(torch.zeros(0, 4)),
                       gt_bboxes_labels=np.zeros(0, np.int64),
                       gt_ignore_flags=np.zeros(0, bool), gt_masks=masks)
        out = run(single('Rotate', 0.9), results, [1])
        assert out['gt_bboxes'].tensor.shape == (0, 4)
        assert len(out['gt_masks']) == 0
        assert (out['gt_masks'].height, out['gt_masks'].width) == (H, W)
        assert out['gt_bboxes_labels'].shape == (0,)
    out = run(single('ShearX', 1.0), dict(img=image(), gt_bboxes=np.zeros((0, 4),
                                                                           np.float32)),
              [-1])
    assert out['gt_bboxes'].shape == (0, 4)


def test_boxes_pushed_out_are_kept_degenerate_and_aligned():
    """TranslateX at its largest magnitude pushes right-hand boxes out of the image."""
    HorizontalBoxes, BitmapMasks, PolygonMasks = _mmdet_structures()
    boxes = np.array([[2, 2, 20, 20], [70, 30, 90, 50], [110, 60, 126, 80]], np.float32)
    labels, ignore = np.array([0, 1, 2]), np.array([False, False, True])
    masks = np.zeros((3, H, W), np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
        masks[i, y1:y2, x1:x2] = 1
    results = dict(img=image(), gt_bboxes=HorizontalBoxes(torch.from_numpy(boxes)),
                   gt_bboxes_labels=labels, gt_ignore_flags=ignore,
                   gt_masks=BitmapMasks(masks, H, W))
    out = run(single('TranslateX', 1.0), results, [-1])  # x' = x + 57.6
    got = out['gt_bboxes'].tensor.numpy()
    np.testing.assert_allclose(got, [[59.6, 2, 77.6, 20], [127.6, 30, 128, 50],
                                     [128, 60, 128, 80]], atol=1e-4)
    assert len(got) == 3 and out['gt_bboxes_labels'].tolist() == [0, 1, 2]
    assert out['gt_ignore_flags'].tolist() == [False, False, True]
    assert len(out['gt_masks']) == 3
    areas = out['gt_masks'].areas
    # the image moved by round(57.6) = 58 px: box 1's pixels all left the image, its
    # continuous box keeps a 0.4 px sliver (see the annotations module docstring)
    assert areas.tolist() == [18 * 18, 0, 0]
    # mmdet's own follow-up filter (what the DADA configs add) drops the empty ones
    # and keeps every instance key aligned
    from mmdet.datasets.transforms import FilterAnnotations
    kept = FilterAnnotations(min_gt_bbox_wh=(1e-2, 1e-2))(out)
    assert kept['gt_bboxes_labels'].tolist() == [0, 1]
    assert kept['gt_ignore_flags'].tolist() == [False, False]
    assert len(kept['gt_masks']) == 2 and kept['gt_masks'].areas[0] == 18 * 18


# --------------------------------------------------------------------------- masks
CASES = [(op, level, sign) for op in GEOMETRIC for level in (1.0, 0.7, 0.15)
         for sign in (1, -1)]
RECTS = [(30, 20, 70, 50), (5, 60, 40, 90), (90, 10, 120, 40), (60, 55, 100, 80),
         (45, 35, 58, 62), (100, 70, 127, 95)]
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255),
           (0, 255, 255)]


def _scene(h=H, w=W):
    img = np.zeros((h, w, 3), np.uint8)
    img[...] = 60
    masks = np.zeros((len(RECTS), h, w), np.uint8)
    for i, ((x1, y1, x2, y2), c) in enumerate(zip(RECTS, COLOURS)):
        img[y1:y2, x1:x2] = c
        masks[i] = 0
        masks[i, y1:y2, x1:x2] = 1
    # later rectangles paint over earlier ones: keep masks = visible pixels
    for i, c in enumerate(COLOURS):
        masks[i] = (img == c).all(-1)
    return img, masks


def _inside(op, level, sign, masks):
    """Rectangles fully visible in the scene whose moved box needs no clipping."""
    keep = []
    for i, (x1, y1, x2, y2) in enumerate(RECTS):
        if masks[i].sum() != (x2 - x1) * (y2 - y1):
            continue
        e = expected_box(op, level, sign, (x1, y1, x2, y2), clip=False)
        if min(e[0], e[1]) <= 0 or e[2] >= W or e[3] >= H:
            continue  # clipped
        keep.append(i)
    return keep


@pytest.mark.parametrize('op,level,sign', CASES)
def test_bitmap_masks_move_exactly_like_image_pixels(op, level, sign):
    HorizontalBoxes, BitmapMasks, _ = _mmdet_structures()
    img, masks = _scene()
    results = dict(img=img, gt_bboxes=HorizontalBoxes(torch.tensor(
        RECTS, dtype=torch.float32)), gt_masks=BitmapMasks(masks, H, W))
    out = run(single(op, level), results, [sign])
    warped = out['img']
    assert isinstance(out['gt_masks'], BitmapMasks)
    assert out['gt_masks'].masks.dtype == np.uint8
    for i, c in enumerate(COLOURS):
        np.testing.assert_array_equal(out['gt_masks'].masks[i], (warped == c).all(-1),
                                      err_msg=f'mask {i}')
    # boxes agree with where the pixels went (within the nearest-neighbour rounding),
    # for the fully visible rectangles that stay inside the image
    for i in _inside(op, level, sign, masks):
        ys, xs = np.nonzero(out['gt_masks'].masks[i])
        pix = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        np.testing.assert_allclose(pix, out['gt_bboxes'].tensor.numpy()[i], atol=1.01)


def test_bitmap_masks_with_bilinear_interpolation_stay_binary():
    _, BitmapMasks, _ = _mmdet_structures()
    img, masks = _scene()
    aug = DADAAugment(policy=[[dict(op='Rotate', prob=1.0, magnitude=0.9)]],
                      interpolation='bilinear')
    out = run(aug, dict(img=img, gt_masks=BitmapMasks(masks, H, W)), [1])
    m = out['gt_masks'].masks
    assert m.shape == masks.shape and set(np.unique(m)) <= {0, 1}
    ref = run(single('Rotate', 0.9), dict(img=img, gt_masks=BitmapMasks(masks, H, W)),
              [1])['gt_masks'].masks
    assert (m != ref).mean() < 0.01


@pytest.mark.parametrize('op,level,sign', CASES)
def test_polygon_masks_follow_the_continuous_map(op, level, sign):
    _, BitmapMasks, PolygonMasks = _mmdet_structures()
    polys = [[np.array([x1, y1, x2, y1, x2, y2, x1, y2], np.float64)]
             for x1, y1, x2, y2 in RECTS]
    results = dict(img=image(), gt_masks=PolygonMasks(polys, H, W))
    out = run(single(op, level), results, [sign])
    got = out['gt_masks']
    assert isinstance(got, PolygonMasks) and len(got) == len(RECTS)
    v = value(op, level, sign)
    for (x1, y1, x2, y2), poly in zip(RECTS, got.masks):
        pts = poly[0].reshape(-1, 2)
        for (x, y), (gx, gy) in zip([(x1, y1), (x2, y1), (x2, y2), (x1, y2)], pts):
            if op == 'ShearX':
                ex, ey = x - v * y, y
            elif op == 'ShearY':
                ex, ey = x, y - v * x
            elif op == 'TranslateX':
                ex, ey = x - v * W, y
            elif op == 'TranslateY':
                ex, ey = x, y - v * H
            else:
                t = math.radians(v)
                dx, dy = x - W / 2, y - H / 2
                ex = W / 2 + math.cos(t) * dx + math.sin(t) * dy
                ey = H / 2 - math.sin(t) * dx + math.cos(t) * dy
            assert gx == pytest.approx(min(max(ex, 0), W), abs=1e-6)
            assert gy == pytest.approx(min(max(ey, 0), H), abs=1e-6)
    # rasterised, the moved polygons cover the pixels the image moved (IoU ~ 1)
    img, masks = _scene()
    full = _inside(op, level, sign, masks)
    warped = run(single(op, level), dict(img=img), [sign])['img']
    raster = got.to_ndarray()
    for i in full:
        pix = (warped == COLOURS[i]).all(-1)
        if pix.sum() < 50:
            continue
        inter = np.logical_and(pix, raster[i]).sum()
        union = np.logical_or(pix, raster[i]).sum()
        assert inter / union > 0.85, (i, inter / union)


def test_polygons_are_clipped_to_the_image():
    _, _, PolygonMasks = _mmdet_structures()
    poly = PolygonMasks([[np.array([100, 60, 126, 60, 126, 80, 100, 80], np.float32)]],
                        H, W)
    out = run(single('TranslateX', 1.0), dict(img=image(), gt_masks=poly), [-1])
    pts = out['gt_masks'].masks[0][0]
    assert pts.dtype == np.float32
    np.testing.assert_allclose(pts, [128, 60, 128, 60, 128, 80, 128, 80])


# --------------------------------------------------------------------------- seg map
@pytest.mark.parametrize('op,level,sign', CASES[::3])
def test_seg_map_nearest_with_ignore_fill(op, level, sign):
    img, masks = _scene()
    seg = np.zeros((H, W), np.uint8)
    for i in range(len(COLOURS)):
        seg[masks[i].astype(bool)] = i + 1
    out = run(single(op, level), dict(img=img, gt_seg_map=seg), [sign])
    warped, wseg = out['img'], out['gt_seg_map']
    assert wseg.dtype == np.uint8 and wseg.shape == (H, W)
    for i, c in enumerate(COLOURS):
        np.testing.assert_array_equal(wseg == i + 1, (warped == c).all(-1))
    outside = (warped == 0).all(-1)  # the image's fill (black); no pixel was black
    np.testing.assert_array_equal(wseg == 255, outside)
    assert set(np.unique(wseg)) <= set(range(len(COLOURS) + 1)) | {255}


def test_warp_annotations_seg_fill_argument_and_int32_maps():
    aug = single('TranslateY', 1.0)
    m = aug.geometric_matrix('TranslateY', 1.0, 1.0, H, W)  # y' = y - 43.2
    seg = np.arange(H * W, dtype=np.int32).reshape(H, W)
    results = warp_annotations(dict(gt_seg_map=seg), m, (H, W), seg_fill=-1)
    out = results['gt_seg_map']
    assert out.dtype == np.int32
    shift = int(math.floor(0.5 + 0.45 * H))  # the image moves by round(43.2) = 43 rows
    np.testing.assert_array_equal(out[:H - shift], seg[shift:])
    assert (out[H - shift:] == -1).all()


# --------------------------------------------------------------------------- homography
def test_homography_composes_and_matches_point_motion():
    HorizontalBoxes, _, _ = _mmdet_structures()
    aug = DADAAugment(policy=[[dict(op='ShearX', prob=1.0, magnitude=0.9),
                               dict(op='Rotate', prob=1.0, magnitude=0.2)]])
    points = np.array([[30, 40], [64, 48], [100, 20], [40, 80]], np.float32)
    boxes = np.concatenate([points, points], axis=1)  # degenerate point boxes
    results = dict(img=image(), gt_bboxes=HorizontalBoxes(torch.from_numpy(boxes)))
    out = run(aug, results, [1, -1])
    m1 = aug.geometric_matrix('ShearX', 0.9, 1, H, W)
    m2 = aug.geometric_matrix('Rotate', 0.2, -1, H, W)
    hom = out['homography_matrix']
    np.testing.assert_allclose(hom, m2 @ m1, atol=1e-6)
    # closed form: shear v = 0.24, then rotate v = -(-18) = +18 degrees CCW
    t = math.radians(18.0)
    for (x, y), got in zip(points, out['gt_bboxes'].tensor.numpy()):
        sx, sy = x - 0.24 * y, y
        dx, dy = sx - W / 2, sy - H / 2
        ex = W / 2 + math.cos(t) * dx + math.sin(t) * dy
        ey = H / 2 - math.sin(t) * dx + math.cos(t) * dy
        assert 0 < sx < W and 0 < ex < W and 0 < ey < H  # no clipping on the way
        mapped = hom @ np.array([x, y, 1.0])
        np.testing.assert_allclose(mapped[:2], [ex, ey], atol=1e-3)
        np.testing.assert_allclose(got[:2], [min(max(ex, 0), W), min(max(ey, 0), H)],
                                   atol=1e-3)
        np.testing.assert_allclose(got[:2], got[2:])


def test_homography_starts_from_earlier_transforms():
    """A homography recorded upstream (e.g. by mmdet's RandomFlip) is composed onto."""
    aug = single('TranslateX', 1.0)
    flip = np.array([[-1, 0, W], [0, 1, 0], [0, 0, 1]], np.float32)
    out = run(aug, dict(img=image(), homography_matrix=flip.copy()), [1])
    np.testing.assert_allclose(out['homography_matrix'],
                               aug.geometric_matrix('TranslateX', 1.0, 1, H, W) @ flip,
                               atol=1e-5)


# --------------------------------------------------------------------------- non-geometric
@pytest.mark.parametrize('op,level', [('Cutout', 1.0), ('Color', 0.1), ('Equalize', 0.5),
                                      ('Invert', 0.5), ('Brightness', 0.1),
                                      ('Solarize', 0.3)])
def test_cutout_and_colour_ops_leave_annotations_alone(op, level):
    HorizontalBoxes, BitmapMasks, PolygonMasks = _mmdet_structures()
    img, masks = _scene()
    seg = masks.argmax(0).astype(np.uint8)
    polys = PolygonMasks([[np.array([1., 2, 30, 2, 30, 40])]], H, W)
    for gt_masks in (BitmapMasks(masks.copy(), H, W), polys):
        results = dict(img=img.copy(), gt_bboxes=HorizontalBoxes(torch.from_numpy(
            MANY.copy())), gt_masks=gt_masks, gt_seg_map=seg.copy(),
            gt_bboxes_labels=np.arange(len(MANY)))
        out = run(single(op, level), results, [1])
        assert out['dada_applied_ops'] == [op]
        assert not np.array_equal(out['img'], img)
        np.testing.assert_array_equal(out['gt_bboxes'].tensor.numpy(), MANY)
        assert out['gt_masks'] is gt_masks
        np.testing.assert_array_equal(out['gt_seg_map'], seg)
        assert 'homography_matrix' not in out


def test_level_at_identity_moves_nothing():
    HorizontalBoxes, BitmapMasks, _ = _mmdet_structures()
    img, masks = _scene()
    for op in GEOMETRIC:
        results = dict(img=img.copy(), gt_bboxes=HorizontalBoxes(torch.from_numpy(
            MANY.copy())), gt_masks=BitmapMasks(masks.copy(), H, W))
        out = run(single(op, 0.5), results, [1])
        np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), MANY, atol=1e-5)
        np.testing.assert_array_equal(out['gt_masks'].masks, masks)
        np.testing.assert_array_equal(out['img'], img)


def test_rejects_wrong_types_and_shapes():
    _, BitmapMasks, _ = _mmdet_structures()
    m = np.eye(3)
    with pytest.raises(TypeError, match='gt_bboxes'):
        warp_annotations(dict(gt_bboxes=[[1, 2, 3, 4]]), m, (H, W))
    with pytest.raises(ValueError, match='masks must match'):
        warp_annotations(dict(gt_masks=BitmapMasks(np.zeros((1, 10, 10), np.uint8), 10,
                                                   10)), m, (H, W))
    with pytest.raises(ValueError, match='3x3'):
        warp_annotations(dict(), np.eye(2), (H, W))
