"""The batched detection path against the per-image DADAAugment, and boxes against
hand-computed coordinates."""
import numpy as np
import pytest
import torch

pytest.importorskip('mmdet')
from mmdet.structures.bbox import HorizontalBoxes  # noqa: E402
from mmdet.structures.mask import BitmapMasks  # noqa: E402

from dada_mm.ops.batched_detection import augment_detection_batch  # noqa: E402
from dada_mm.ops.table import OP_INDEX, OPS  # noqa: E402
from dada_mm.transforms import DADAAugment  # noqa: E402

GEOMETRIC = [op.name for op in OPS if op.kind == 'geometric']
SIZES = [(37, 53), (48, 40), (37, 53), (48, 40), (37, 53), (31, 31)]


def per_image(img_hwc, boxes, masks, ops, apply, levels, signs, centers):
    """DADAAugment on one image with exactly this draw (its random numbers replaced)."""
    t = DADAAugment(policy=[[dict(op=ops[j], prob=1.0 if apply[j] else 0.0,
                                  magnitude=float(levels[j])) for j in range(2)]])
    t._draw = lambda: (0, [(0.5, float(signs[j]), tuple(map(float, centers[j])))
                           for j in range(2)])
    h, w = img_hwc.shape[:2]
    results = dict(img=img_hwc.copy(), img_shape=(h, w),
                   gt_bboxes=HorizontalBoxes(torch.from_numpy(boxes.copy())),
                   gt_masks=BitmapMasks(masks.copy(), h, w))
    out = t(results)
    return out['img'], out['gt_bboxes'].tensor.numpy(), out['gt_masks'].masks


def draw_batch(seed):
    rng = np.random.default_rng(seed)
    images, boxes, masks = [], [], []
    for h, w in SIZES:
        images.append(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        n = int(rng.integers(0, 4))
        x1, y1 = rng.uniform(0, w - 4, n), rng.uniform(0, h - 4, n)
        bx = np.stack([x1, y1, x1 + rng.uniform(2, w / 2, n), y1 + rng.uniform(2, h / 2, n)],
                      1).astype(np.float32).reshape(n, 4)
        boxes.append(bx)
        masks.append((rng.random((n, h, w)) < 0.3).astype(np.uint8))
    b = len(SIZES)
    # every slot geometric in most images, so the annotations really move
    names = [[GEOMETRIC[int(rng.integers(len(GEOMETRIC)))] if rng.random() < 0.8
              else OPS[int(rng.integers(len(OPS)))].name for _ in range(2)] for _ in range(b)]
    apply = (rng.random((b, 2)) < 0.8).astype(np.float32)
    levels = rng.random((b, 2)).astype(np.float32)  # float32 levels, as the search has
    signs = np.where(rng.random((b, 2)) < 0.5, 1.0, -1.0).astype(np.float32)
    centers = rng.random((b, 2, 2)).astype(np.float32)
    return images, boxes, masks, names, apply, levels, signs, centers


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_batched_detection_equals_dada_augment_per_image(seed):
    images, boxes, masks, names, apply, levels, signs, centers = draw_batch(seed)
    out = augment_detection_batch(
        [torch.from_numpy(im).permute(2, 0, 1) for im in images],
        [torch.from_numpy(b) for b in boxes],
        torch.tensor([[OP_INDEX[n] for n in row] for row in names]),
        torch.from_numpy(apply), torch.from_numpy(levels), torch.from_numpy(signs),
        torch.from_numpy(centers), masks=[torch.from_numpy(m) for m in masks])
    moved = 0
    for i in range(len(images)):
        img, bx, mk = per_image(images[i], boxes[i], masks[i], names[i], apply[i],
                                levels[i], signs[i], centers[i])
        got = out.images[i].permute(1, 2, 0).round().to(torch.uint8).numpy()
        np.testing.assert_array_equal(got, img, err_msg=f'image {i} {names[i]}')
        np.testing.assert_allclose(out.boxes[i].numpy(), bx, atol=1e-4, rtol=0,
                                   err_msg=f'boxes {i} {names[i]}')
        np.testing.assert_array_equal(out.masks[i].numpy(), mk, err_msg=f'masks {i}')
        moved += int(not np.allclose(bx, boxes[i]))
    assert moved >= 2  # the draw really moves boxes


def test_translate_moves_a_box_by_hand_computed_pixels():
    # TranslateX at level 1 is +0.45 of the width with sign +1: PIL's affine reads input
    # x + 0.45 w, so the content (and the box) moves left by 0.45 * 40 = 18 px.
    img = torch.zeros(3, 20, 40)
    box = torch.tensor([[20.0, 2.0, 30.0, 12.0], [2.0, 2.0, 10.0, 5.0]])
    out = augment_detection_batch([img], [box], torch.tensor([[OP_INDEX['TranslateX'], 0]]),
                                  torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.5]]),
                                  torch.tensor([[1.0, 1.0]]))
    # the second box leaves the image: clipped to a degenerate box on the left border
    torch.testing.assert_close(out.boxes[0], torch.tensor([[2.0, 2.0, 12.0, 12.0],
                                                           [0.0, 2.0, 0.0, 5.0]]))


def test_rotate_keeps_a_centred_box_centred():
    img = torch.zeros(3, 21, 21)
    box = torch.tensor([[8.5, 8.5, 12.5, 12.5]])  # centred square, side 4
    out = augment_detection_batch([img], [box], torch.tensor([[OP_INDEX['Rotate'], 0]]),
                                  torch.tensor([[1.0, 0.0]]), torch.tensor([[0.75, 0.5]]),
                                  torch.tensor([[1.0, 1.0]]))
    # 15 degrees: half side 2 * (cos 15 + sin 15) = 2.4495 around the centre 10.5
    half = 2.0 * (np.cos(np.pi / 12) + np.sin(np.pi / 12))
    torch.testing.assert_close(out.boxes[0], torch.tensor(
        [[10.5 - half, 10.5 - half, 10.5 + half, 10.5 + half]], dtype=torch.float32))


@pytest.mark.parametrize('kwargs,match', [
    (dict(boxes=[torch.zeros(0, 4)] * 2), r'boxes must have one entry per image \(1\)'),
    (dict(masks=[torch.zeros(1, 5, 5)]), r'masks\[0\] must be \[M, 10, 12\]'),
    (dict(boxes=[torch.zeros(3)]), r'boxes\[0\] must be \[N, 4\]'),
    (dict(warp='cubic'), r"warp must be one of \['pil', 'floor', 'grid_sample'\]"),
])
def test_bad_input_names_the_field(kwargs, match):
    args = dict(images=[torch.zeros(3, 10, 12)], boxes=[torch.zeros(0, 4)],
                op_indices=torch.tensor([[0, 1]]), apply=torch.ones(1, 2),
                levels=torch.full((1, 2), 0.5))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        augment_detection_batch(**args)


def test_data_samples_move_gt_and_ignored_boxes_and_masks_and_keep_labels():
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    from dada_mm.ops.batched_detection import augment_det_data_samples
    images, boxes, masks, names, apply, levels, signs, centers = draw_batch(5)
    inputs = [torch.from_numpy(im).permute(2, 0, 1).contiguous() for im in images]
    samples, ignored, ignored_masks = [], [], []
    for i, (bx, mk) in enumerate(zip(boxes, masks)):
        h, w = images[i].shape[:2]
        s = DetDataSample()
        s.gt_instances = InstanceData(bboxes=HorizontalBoxes(torch.from_numpy(bx)),
                                      labels=torch.arange(len(bx)),
                                      masks=BitmapMasks(mk, h, w))
        ign = torch.tensor([[1.0, 1.0, 9.0, 7.0]])
        # a crowd region's mask (PackDetInputs gives ignored instances their masks too)
        ign_mask = np.zeros((1, h, w), np.uint8)
        ign_mask[0, 1:7, 1:9] = 1
        s.ignored_instances = InstanceData(bboxes=HorizontalBoxes(ign.clone()),
                                           labels=torch.tensor([3]),
                                           masks=BitmapMasks(ign_mask.copy(), h, w))
        samples.append(s)
        ignored.append(ign)
        ignored_masks.append(ign_mask)
    draw = (torch.tensor([[OP_INDEX[n] for n in row] for row in names]),
            torch.from_numpy(apply), torch.from_numpy(levels), torch.from_numpy(signs),
            torch.from_numpy(centers))
    got = augment_det_data_samples(inputs, samples, *draw)
    ref = augment_detection_batch(inputs, [torch.cat([torch.from_numpy(b), g]) for b, g in
                                           zip(boxes, ignored)], *draw,
                                  masks=[torch.from_numpy(np.concatenate([m, g]))
                                         for m, g in zip(masks, ignored_masks)])
    moved = 0
    for i, s in enumerate(samples):
        n = len(boxes[i])
        torch.testing.assert_close(got[i], ref.images[i], rtol=0, atol=0)
        assert isinstance(s.gt_instances.bboxes, HorizontalBoxes)
        torch.testing.assert_close(s.gt_instances.bboxes.tensor, ref.boxes[i][:n])
        torch.testing.assert_close(s.ignored_instances.bboxes.tensor, ref.boxes[i][n:])
        np.testing.assert_array_equal(s.gt_instances.masks.masks, ref.masks[i][:n].numpy())
        np.testing.assert_array_equal(s.ignored_instances.masks.masks,
                                      ref.masks[i][n:].numpy())
        moved += int(not np.array_equal(s.ignored_instances.masks.masks, ignored_masks[i]))
        assert s.gt_instances.labels.tolist() == list(range(n))
        assert s.ignored_instances.labels.tolist() == [3]
    assert moved >= 2  # the draw really moves the crowd masks


def test_mask_sets_keep_their_dtypes_and_may_be_empty_or_absent():
    """bool gt masks beside uint8 crowd masks come back as bool and uint8; an empty
    mask set and a sample whose gt has no masks pass through."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    from dada_mm.ops.batched_detection import augment_det_data_samples
    h, w = 10, 12
    box = torch.tensor([[2.0, 2.0, 8.0, 6.0]])
    mask = np.zeros((1, h, w), np.uint8)
    mask[0, 2:6, 2:8] = 1
    mixed = DetDataSample()
    mixed.gt_instances = InstanceData(bboxes=HorizontalBoxes(box.clone()),
                                      labels=torch.tensor([0]),
                                      masks=BitmapMasks(mask.astype(bool), h, w))
    mixed.ignored_instances = InstanceData(bboxes=HorizontalBoxes(box.clone()),
                                           labels=torch.tensor([1]),
                                           masks=BitmapMasks(mask.copy(), h, w))
    empty = DetDataSample()
    empty.gt_instances = InstanceData(bboxes=HorizontalBoxes(torch.zeros(0, 4)),
                                      labels=torch.zeros(0, dtype=torch.long),
                                      masks=BitmapMasks(np.zeros((0, h, w), np.uint8), h, w))
    crowd_only = DetDataSample()
    crowd_only.gt_instances = InstanceData(bboxes=HorizontalBoxes(box.clone()),
                                           labels=torch.tensor([0]))
    crowd_only.ignored_instances = InstanceData(bboxes=HorizontalBoxes(box.clone()),
                                                labels=torch.tensor([1]),
                                                masks=BitmapMasks(mask.copy(), h, w))
    samples = [mixed, empty, crowd_only]
    # TranslateX at level 1 with sign +1 moves everything 0.45 * 12 = 5.4 -> 5 px left
    augment_det_data_samples([torch.zeros(3, h, w, dtype=torch.uint8)] * 3, samples,
                             torch.tensor([[OP_INDEX['TranslateX'], 0]] * 3),
                             torch.tensor([[1.0, 0.0]] * 3), torch.tensor([[1.0, 0.5]] * 3),
                             torch.ones(3, 2))
    assert mixed.gt_instances.masks.masks.dtype == np.bool_
    assert mixed.ignored_instances.masks.masks.dtype == np.uint8
    np.testing.assert_array_equal(mixed.gt_instances.masks.masks,
                                  mixed.ignored_instances.masks.masks.astype(bool))
    assert mixed.ignored_instances.masks.masks[0].sum() < mask.sum()  # moved, partly out
    assert len(empty.gt_instances.masks) == 0
    assert 'masks' not in crowd_only.gt_instances
    np.testing.assert_array_equal(crowd_only.ignored_instances.masks.masks,
                                  mixed.ignored_instances.masks.masks)


def test_polygon_masks_are_refused_with_the_way_to_bitmaps():
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import PolygonMasks
    from mmengine.structures import InstanceData

    from dada_mm.ops.batched_detection import augment_det_data_samples
    s = DetDataSample()
    s.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(torch.tensor([[1.0, 1.0, 5.0, 5.0]])),
        labels=torch.tensor([0]),
        masks=PolygonMasks([[np.array([1.0, 1.0, 5.0, 1.0, 5.0, 5.0])]], 10, 12))
    with pytest.raises(TypeError, match=r'gt_instances.masks must be BitmapMasks '
                                         r'\(LoadAnnotations\(poly2mask=True\)\)'):
        augment_det_data_samples([torch.zeros(3, 10, 12)], [s], torch.tensor([[0, 1]]),
                                 torch.ones(1, 2), torch.full((1, 2), 0.5))
