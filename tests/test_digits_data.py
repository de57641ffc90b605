"""The real digits set on disk: splits, shifts and errors."""
import os.path as osp

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from dada_mm.datasets.digits import SHIFT_OPS, SHIFTS, make_digits_set


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('digits'))
    files = make_digits_set(root, train_per_class=20, size=16,
                            shifts=('clean', 'invert', 'dark'))
    return root, files


def rows(path):
    return [line.split() for line in open(path).read().split('\n') if line]


def test_splits_are_stratified_disjoint_and_cover_the_set(digits):
    root, files = digits
    train, test = rows(files['train']), rows(files['test'])
    st, sv = rows(files['search_train']), rows(files['search_val'])
    assert len(train) == 200 and len(train) + len(test) == 1797
    for split in (train, st, sv):
        labels = [int(lab) for _, lab in split]
        assert np.bincount(labels).tolist() == [len(split) // 10] * 10
    names = lambda split: {name for name, _ in split}  # noqa: E731
    assert names(st) | names(sv) == names(train) and not names(st) & names(sv)
    assert not names(train) & names(test)
    assert all(name.split('/')[0] == lab for name, lab in train + test)


def test_shifted_copies_are_the_clean_image_corrupted(digits):
    root, files = digits
    name = rows(files['test'])[0][0]
    clean = Image.open(osp.join(root, 'clean', name))
    assert clean.size == (16, 16) and clean.mode == 'RGB'
    inv = np.asarray(Image.open(osp.join(root, 'invert', name)))
    assert np.array_equal(inv, 255 - np.asarray(clean))
    dark = np.asarray(Image.open(osp.join(root, 'dark', name)))
    assert np.array_equal(dark, np.asarray(ImageEnhance.Brightness(clean).enhance(0.3)))
    assert dark.mean() < 0.4 * np.asarray(clean).mean() + 1


def test_deterministic_and_bad_input(tmp_path, digits):
    root, files = digits
    again = make_digits_set(str(tmp_path / 'again'), train_per_class=20, size=16)
    assert open(again['train']).read() == open(files['train']).read()
    with pytest.raises(ValueError, match='shifts: unknown'):
        make_digits_set(str(tmp_path / 'x'), shifts=('clean', 'fog'))
    with pytest.raises(ValueError, match='train_per_class'):
        make_digits_set(str(tmp_path / 'y'), train_per_class=500)
    assert set(SHIFTS) == {'clean', 'invert', 'contrast', 'dark', 'solarize', 'rotate',
                           'shear', 'translate', 'bright', 'blur', 'translate_x',
                           'shear_y'}
    assert set(SHIFT_OPS) == set(SHIFTS) - {'clean'}


def test_op_shifts_are_their_op_with_either_sign():
    """Solarize and the shifts made by their op are exactly that op at the recorded level;
    the signed ones take sign +1 on some images and -1 on others, as the op does."""
    from dada_mm.transforms.image_ops import apply_op
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
              for _ in range(12)]
    for shift in ('solarize', 'rotate', 'shear', 'translate', 'bright', 'blur',
                  'translate_x', 'shear_y'):
        op, level = SHIFT_OPS[shift]
        signs = []
        for img in images:
            out = np.asarray(SHIFTS[shift](img))
            matches = [sign for sign in (1.0, -1.0) if np.array_equal(
                out, apply_op(np.asarray(img), op, 0.5 if level is None else level, sign=sign,
                          channel_order='rgb'))]
            assert matches, (shift, op)
            signs.append(matches[0])
            assert not np.array_equal(out, np.asarray(img)), shift
        if shift in ('rotate', 'shear', 'translate', 'translate_x', 'shear_y'):
            assert set(signs) == {1.0, -1.0}, (shift, signs)
