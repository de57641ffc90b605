"""The search over the detection family (``learner=dict(search_space='zoph-detection')``):
the per-image applier moves pixels, boxes (ignored ones too) and masks as hand-computed,
its per-box draws repeat with the learner's, and a classifier is refused (the RetinaNet
search over it is in test_search_detection.py)."""
import numpy as np
import pytest
import torch

pytest.importorskip('mmdet')
from dada_mm.search.zoph_detection import augment_zoph_det_data_samples  # noqa: E402
from dada_mm.search_space import ZOPH_DETECTION_SEARCH_SPACE as ZOPH  # noqa: E402


def _sample(shape=(40, 60)):
    from mmdet.structures import DetDataSample
    from mmdet.structures.bbox import HorizontalBoxes
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    h, w = shape
    s = DetDataSample(metainfo=dict(img_shape=shape))
    masks = np.zeros((1, h, w), np.uint8)
    masks[0, 10:20, 30:40] = 1
    s.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(torch.tensor([[30.0, 10.0, 40.0, 20.0]])),
        labels=torch.tensor([2]), masks=BitmapMasks(masks, h, w))
    s.ignored_instances = InstanceData(
        bboxes=HorizontalBoxes(torch.tensor([[5.0, 5.0, 15.0, 25.0]])),
        labels=torch.tensor([1]))
    return s


def _image(shape=(40, 60)):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (3, *shape), generator=g, dtype=torch.uint8)


def _one_op(name, level, sign=1.0, apply=1.0, centers=None):
    ops = torch.tensor([[ZOPH.index_of(name), ZOPH.index_of('Equalize')]])
    return (ops, torch.tensor([[apply, 0.0]]), torch.tensor([[level, 0.5]]),
            torch.tensor([[sign, 1.0]]),
            torch.full((1, 2, 2), 0.5) if centers is None else centers)


def test_translate_bbox_moves_pixels_boxes_ignored_boxes_and_masks():
    """TranslateX_BBox at level 0.04: [TPU]'s 250 px * 0.04 = 10 px; with sign +1 the
    output samples the input 10 px to the right (output x = input x - 10), grey 128 fills
    the right edge; boxes, ignored boxes and masks move left by 10 px."""
    img, sample = _image(), _sample()
    out, = augment_zoph_det_data_samples([img], [sample], *_one_op('TranslateX_BBox', 0.04),
                                         space=ZOPH)
    ref = img.float()
    assert torch.equal(out[:, :, :50], ref[:, :, 10:])
    assert bool((out[:, :, 50:] == 128).all())
    assert sample.gt_instances.bboxes.tensor.tolist() == [[20.0, 10.0, 30.0, 20.0]]
    assert sample.ignored_instances.bboxes.tensor.tolist() == [[0.0, 5.0, 5.0, 25.0]]
    mask = np.asarray(sample.gt_instances.masks.masks)[0]
    assert mask[10:20, 20:30].all() and mask.sum() == 100
    assert sample.gt_instances.labels.tolist() == [2]


def test_a_slot_that_is_off_or_at_identity_changes_nothing():
    img, sample = _image(), _sample()
    out, = augment_zoph_det_data_samples([img], [sample],
                                         *_one_op('Rotate_BBox', 0.9, apply=0.0), space=ZOPH)
    assert torch.equal(out, img.float())
    assert sample.gt_instances.bboxes.tensor.tolist() == [[30.0, 10.0, 40.0, 20.0]]
    # Brightness at level 0.5: factor (5 / 10) * 1.8 + 0.1 = 1.0, the identity
    out, = augment_zoph_det_data_samples([img], [_sample()], *_one_op('Brightness', 0.5),
                                         space=ZOPH)
    assert torch.equal(out, img.float())


def test_a_box_only_op_changes_boxes_alone_and_repeats_with_the_learners_draws():
    """Flip_Only_BBoxes: each box (ground truth and ignored) flipped with probability 1/3
    (the slot is on), pixels outside the boxes and every annotation unchanged; the same
    centres give the same boxes, and over many centres both outcomes occur."""
    img = _image()
    outcomes = set()
    for k in range(12):
        centers = torch.rand(1, 2, 2, generator=torch.Generator().manual_seed(k))
        sample = _sample()
        out, = augment_zoph_det_data_samples([img], [sample],
                                             *_one_op('Flip_Only_BBoxes', 0.5,
                                                      centers=centers), space=ZOPH)
        again, = augment_zoph_det_data_samples([img], [_sample()],
                                               *_one_op('Flip_Only_BBoxes', 0.5,
                                                        centers=centers), space=ZOPH)
        assert torch.equal(out, again)
        outside = torch.ones(40, 60, dtype=torch.bool)
        outside[10:20, 30:40] = False
        outside[5:25, 5:15] = False
        assert torch.equal(out[:, outside], img.float()[:, outside])
        gt = torch.equal(out[:, 10:20, 30:40], img.float()[:, 10:20, 30:40].flip(-1))
        ign = torch.equal(out[:, 5:25, 5:15], img.float()[:, 5:25, 5:15].flip(-1))
        assert gt or torch.equal(out[:, 10:20, 30:40], img.float()[:, 10:20, 30:40])
        assert ign or torch.equal(out[:, 5:25, 5:15], img.float()[:, 5:25, 5:15])
        outcomes.add((gt, ign))
        assert sample.gt_instances.bboxes.tensor.tolist() == [[30.0, 10.0, 40.0, 20.0]]
    assert len(outcomes) >= 2


def test_a_classifier_is_refused_the_detection_family():
    from types import SimpleNamespace

    from dada_mm.search import DADASearchHook
    hook = DADASearchHook(val_dataloader=dict(batch_size=2),
                          learner=dict(search_space='zoph-detection'))
    model = torch.nn.Linear(2, 2)
    model.data_preprocessor = SimpleNamespace(batch_augments=None)
    with pytest.raises(ValueError, match=r"search_space='zoph-detection'.*Linear is not an "
                                         r"mmdet detector: use search_space='dada'"):
        hook._build(SimpleNamespace(model=model, seed=0))
    with pytest.raises(ValueError, match=r"search_space must be one of \['dada', "
                                         r"'zoph-detection'\], got 'coco'"):
        DADASearchHook(val_dataloader=dict(batch_size=2), learner=dict(search_space='coco'))
