"""Pictures of a DADA policy and of its search.

* :func:`policy_sample_grid`: rows = the top sub-policies (labelled with their ops,
  probabilities and magnitudes), columns = each input image followed by several random
  draws of that sub-policy through :class:`~dada_mm.transforms.DADAAugment` (the
  retraining transform itself, so what you see is what training sees), each captioned
  with the ops that fired in it. Boxes given with the images are moved by the geometric
  ops exactly as in a detection pipeline and drawn (``tools/vis_policy.py``).
  Detection-family policies (``zoph-det-v0`` ...) are drawn the same way; their
  box-only ops act inside the given boxes (none given: they do nothing).
* :func:`plot_search_weights` / :func:`plot_probs_magnitudes`: how the sub-policy
  selection weights, the op probabilities and the magnitudes moved during the search,
  from the ``dada_search_history.json`` that ``DADASearchHook`` writes
  (``tools/plot_search.py``).
* :func:`write_policy_figures`: all of them as PNG files, also sent to MMEngine's
  visualizer backends (``LocalVisBackend`` by default) with ``add_image``.

Images are handled in OpenCV's BGR order (what OpenMMLab pipelines load); the visualizer
receives RGB, as MMEngine expects.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ..policy import policy_op_family, resolve_policy

__all__ = ['top_sub_policies', 'augment_samples', 'draw_boxes', 'fired_ops',
           'policy_sample_grid', 'load_search_history', 'check_search_history',
           'plot_search_weights', 'plot_probs_magnitudes', 'save_image', 'build_visualizer',
           'write_policy_figures']

BOX_COLOUR = (0, 255, 0)  # BGR
_BG = 255


# --------------------------------------------------------------------------- policies
def top_sub_policies(policy: Any, top_k: Optional[int] = None
                     ) -> Tuple[List[List[Dict[str, float]]], List[Optional[float]]]:
    """``(sub_policies, selection_probs)`` of a preset / file / inline policy, first
    ``top_k``; selection probabilities come from the file's meta when the search wrote
    them (else ``None``)."""
    doc = resolve_policy(policy)
    subs = list(doc['sub_policies'])
    sel = (doc.get('meta') or {}).get('selection_probs')
    weights: List[Optional[float]] = [None] * len(subs)
    if isinstance(sel, list) and len(sel) == len(subs):
        weights = [float(x) for x in sel]
    if top_k is not None:
        subs, weights = subs[:top_k], weights[:top_k]
    return subs, weights


def _boxes_container(boxes: np.ndarray):
    """mmdet ``HorizontalBoxes`` when mmdet imports (the detection path), else numpy."""
    try:
        import torch
        from mmdet.structures.bbox import HorizontalBoxes
        return HorizontalBoxes(torch.as_tensor(boxes, dtype=torch.float32))
    except Exception:  # noqa: BLE001 - mmdet missing or broken: numpy boxes
        return boxes.astype(np.float32)


def _boxes_array(boxes) -> np.ndarray:
    if boxes is None:
        return np.zeros((0, 4), np.float32)
    if hasattr(boxes, 'tensor'):
        return boxes.tensor.detach().cpu().numpy().astype(np.float32)
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def augment_samples(sub_policies: Any, image: np.ndarray,
                    boxes: Optional[Sequence[Sequence[float]]] = None, draws: int = 4,
                    seed: int = 0, **dada_kwargs) -> List[Dict[str, Any]]:
    """``draws`` random outputs of ``DADAAugment(policy=sub_policies)`` on one image.

    Each item: ``img`` (uint8, same layout as ``image``), ``boxes`` ((N, 4) float array,
    moved with the image), ``applied`` (op names applied) and ``sub_policy`` (index).
    Draw ``i`` is reproducible (numpy seeded with ``seed + i``); numpy's global random
    state is restored afterwards.
    """
    from ..transforms import DADAAugment
    transform = DADAAugment(policy=sub_policies, **dada_kwargs)
    box_array = None if boxes is None else np.asarray(boxes, np.float32).reshape(-1, 4)
    # detection box ops need gt_bboxes: without boxes they get an empty set (no effect)
    det_boxes = box_array if box_array is not None else np.zeros((0, 4), np.float32)
    detection = transform._detection is not None
    state = np.random.get_state()
    out = []
    try:
        for i in range(draws):
            np.random.seed((int(seed) + i) % (2 ** 32))
            results = dict(img=image.copy(), img_shape=image.shape[:2],
                           ori_shape=image.shape[:2])
            if box_array is not None or detection:
                results['gt_bboxes'] = _boxes_container(det_boxes)
                results['gt_bboxes_labels'] = np.zeros(len(det_boxes), np.int64)
                results['gt_ignore_flags'] = np.zeros(len(det_boxes), bool)
            results = transform(results)
            out.append(dict(img=results['img'],
                            boxes=(None if box_array is None
                                   else _boxes_array(results['gt_bboxes'])),
                            applied=list(results.get('dada_applied_ops', [])),
                            sub_policy=int(results.get('dada_sub_policy', 0))))
    finally:
        np.random.set_state(state)
    return out


def draw_boxes(img: np.ndarray, boxes: Optional[np.ndarray], scale: Tuple[float, float]
               = (1.0, 1.0), colour=BOX_COLOUR, thickness: int = 1) -> np.ndarray:
    """Draw ``(x1, y1, x2, y2)`` boxes (image frame, scaled by ``scale=(sx, sy)``) with
    lines ``thickness`` pixels wide, inside the box from its edge (OpenCV's own thick
    lines are centred on the edge and wider than asked)."""
    img = np.ascontiguousarray(img)
    if boxes is None:
        return img
    sx, sy = scale
    for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4):
        left, top = int(round(x1 * sx)), int(round(y1 * sy))
        right, bottom = int(round(x2 * sx)) - 1, int(round(y2 * sy)) - 1
        for i in range(max(1, int(thickness))):
            if left + i > right - i or top + i > bottom - i:
                break
            cv2.rectangle(img, (left + i, top + i), (right - i, bottom - i), colour, 1)
    return img


def _to_bgr3(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 1:
        return cv2.cvtColor(img[..., 0], cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return np.ascontiguousarray(img[..., :3])
    return img


def _op_text(op: Dict[str, float], detection: bool = False) -> str:
    if detection:  # the published level (magnitude = level / 10)
        return f"{op['op']} p={op['prob']:.2f} L={op['magnitude'] * 10:g}"
    return f"{op['op']} p={op['prob']:.2f} m={op['magnitude']:.2f}"


def _put_lines(canvas: np.ndarray, lines: Sequence[str], x: int, y: int,
               scale: float = 0.42, colour=(0, 0, 0), step: Optional[int] = None) -> None:
    step = int(round(22 * scale / 0.42)) if step is None else step
    for i, line in enumerate(lines):
        cv2.putText(canvas, line, (x, y + i * step), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    colour, 1, cv2.LINE_AA)


def _fired_text(op: Dict[str, float], detection: bool = False) -> str:
    """An applied op and its magnitude, as written under a drawn cell."""
    if detection:
        return f"{op['op']} L={op['magnitude'] * 10:g}"
    return f"{op['op']} m={op['magnitude']:.2f}"


def fired_ops(sub_policy: Sequence[Dict[str, float]], applied: Sequence[str]
              ) -> List[Dict[str, float]]:
    """The ops of ``sub_policy`` that were applied (``results['dada_applied_ops']``, in
    the sub-policy's order), with their probabilities and magnitudes."""
    fired, rest = [], list(applied)
    for op in sub_policy:
        if rest and rest[0] == op['op']:
            fired.append(op)
            rest.pop(0)
    if rest:
        raise ValueError(f'applied ops {list(applied)} are not in the sub-policy '
                         f"{[op['op'] for op in sub_policy]}")
    return fired


_CAPTION_SCALE = 0.36  # font scale of the captions, shrunk to fit narrow cells
_CAPTION_MIN_SCALE = 0.25


def _caption_scale(texts: Sequence[str], width: int) -> float:
    """The largest font scale up to ``_CAPTION_SCALE`` at which every text fits."""
    widest = max((cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, _CAPTION_SCALE, 1)[0][0]
                  for t in texts), default=1)
    return max(_CAPTION_MIN_SCALE, min(_CAPTION_SCALE, _CAPTION_SCALE * width / widest))


def _fit(text: str, scale: float, width: int) -> str:
    """``text``, shortened with '..' if it is wider than ``width`` at ``scale``."""
    while (len(text) > 3 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
           [0][0] > width):
        text = text[:-3] + '..'
    return text


def policy_sample_grid(policy: Any, images: Sequence[np.ndarray],
                       boxes: Optional[Sequence[Optional[Sequence]]] = None,
                       top_k: int = 5, draws: int = 3, seed: int = 0, cell: int = 96,
                       label_width: Optional[int] = None, title: Optional[str] = None,
                       box_colour: Sequence[int] = BOX_COLOUR, box_thickness: int = 1,
                       **dada_kwargs) -> Tuple[np.ndarray, List[Dict[str, Any]]]:
    """A labelled grid (BGR uint8) and the layout of its cells.

    Rows: the first ``top_k`` sub-policies of ``policy``. Columns: for each image, the
    input then ``draws`` random draws of the row's sub-policy. Under each draw is written
    which ops fired in it, each with its magnitude (``m``; the published level ``L`` for
    a detection-family policy), or ``no op fired``. ``boxes[i]`` (optional, ``(N, 4)``
    x1, y1, x2, y2 in image ``i``'s pixels) are moved with the image and drawn in
    ``box_colour`` (BGR) with lines ``box_thickness`` pixels wide (inside the box). Each
    cell is scaled to ``cell`` pixels on its longer side; the layout lists, per cell, its
    ``row``, ``col``, ``x0``, ``y0``, ``width``, ``height``, ``scale`` (sx, sy), the
    ``boxes`` in image pixels, the ``applied`` ops and the ``caption`` lines under it.
    """
    if not images:
        raise ValueError('policy_sample_grid needs at least one image')
    box_colour = tuple(int(c) for c in box_colour)
    if len(box_colour) != 3 or not all(0 <= c <= 255 for c in box_colour):
        raise ValueError(f'box_colour must be three integers in 0..255 (B, G, R), got '
                         f'{box_colour}')
    if int(box_thickness) < 1:
        raise ValueError(f'box_thickness must be >= 1, got {box_thickness}')
    subs, weights = top_sub_policies(policy, top_k)
    family = policy_op_family(resolve_policy(policy))
    detection = family != 'dada'
    if detection:  # the rows' inline sub-policies keep the family (shared op names)
        dada_kwargs.setdefault('op_family', family)
    if label_width is None:
        label_width = 320 if detection else 230
    images = [_to_bgr3(np.asarray(img)) for img in images]
    boxes = list(boxes) if boxes is not None else [None] * len(images)
    if len(boxes) != len(images):
        raise ValueError(f'{len(boxes)} box lists for {len(images)} images')
    h0, w0 = images[0].shape[:2]
    ratio = cell / max(h0, w0)
    cw, ch = max(1, int(round(w0 * ratio))), max(1, int(round(h0 * ratio)))
    pad, header = 4, (44 if title else 24)
    cols = len(images) * (1 + draws)
    gap = 8  # between image groups
    # captions under the cells: one line per op that can fire (at least one line)
    caption_scale = _caption_scale(
        ['no op fired'] + [_fired_text(op, detection) for sub in subs for op in sub], cw)
    caption_step = int(math.ceil(28 * caption_scale))
    caption_h = max([len(sub) for sub in subs] + [1]) * caption_step + 2
    row_h = ch + caption_h + pad
    width = label_width + cols * (cw + pad) + (len(images) - 1) * gap + pad
    height = header + len(subs) * row_h + pad
    canvas = np.full((height, width, 3), _BG, np.uint8)
    if title:
        _put_lines(canvas, [title], pad, 18, scale=0.5)
    col_x = []
    for i in range(len(images)):
        for j in range(1 + draws):
            col_x.append(label_width + (i * (1 + draws) + j) * (cw + pad) + i * gap)
    for c, x in enumerate(col_x):
        name = 'input' if c % (1 + draws) == 0 else f'draw {c % (1 + draws)}'
        _put_lines(canvas, [name], x + 2, header - 7, scale=0.38, colour=(80, 80, 80))
    layout = []
    for r, sub in enumerate(subs):
        y0 = header + r * row_h
        head = f'#{r + 1}' + (f'  w={weights[r]:.4f}' if weights[r] is not None else '')
        _put_lines(canvas, [head] + [_op_text(op, detection) for op in sub], pad, y0 + 16)
        for i, img in enumerate(images):
            samples = [dict(img=img, boxes=(None if boxes[i] is None else
                                             np.asarray(boxes[i], np.float32)
                                             .reshape(-1, 4)),
                            applied=[], sub_policy=r)]
            samples += augment_samples([sub], img, boxes[i], draws=draws,
                                       seed=seed * 7919 + r * 101 + i * 13,
                                       **dada_kwargs)
            for j, s in enumerate(samples):
                out = _to_bgr3(s['img'])
                hh, ww = out.shape[:2]
                sx, sy = cw / ww, ch / hh
                interp = cv2.INTER_NEAREST if sx >= 1 else cv2.INTER_AREA
                tile = cv2.resize(out, (cw, ch), interpolation=interp)
                tile = draw_boxes(tile, s['boxes'], (sx, sy), colour=box_colour,
                                  thickness=int(box_thickness))
                x0 = col_x[i * (1 + draws) + j]
                canvas[y0:y0 + ch, x0:x0 + cw] = tile
                caption = []
                if j > 0:
                    caption = [_fired_text(op, detection)
                               for op in fired_ops(sub, s['applied'])] or ['no op fired']
                _put_lines(canvas, [_fit(t, caption_scale, cw) for t in caption], x0,
                           y0 + ch + caption_step - 1, scale=caption_scale,
                           step=caption_step)
                layout.append(dict(row=r, col=i * (1 + draws) + j, image=i, draw=j,
                                   x0=int(x0), y0=int(y0), width=cw, height=ch,
                                   scale=[float(sx), float(sy)],
                                   boxes=(None if s['boxes'] is None
                                          else s['boxes'].tolist()),
                                   applied=s['applied'], caption=caption,
                                   sub_policy=[op['op'] for op in sub]))
    return canvas, layout


# --------------------------------------------------------------------------- history
_HISTORY_EPOCH_KEYS = ('epoch', 'selection_probs', 'probs', 'magnitudes')


def load_search_history(path: str) -> Dict[str, Any]:
    """Read a ``dada_search_history.json`` and check that it holds what the plots draw.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file and
    what is wrong (not JSON, a missing key, an entry of the wrong shape).
    """
    with open(path) as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'{path}: not a DADA search history: not JSON ({e})') from None
    check_search_history(doc, path)
    return doc


def check_search_history(doc: Any, source: str = 'the search history') -> None:
    """Raise ``ValueError`` (naming ``source`` and the key) unless ``doc`` has the layout
    ``dada_mm.search.history.SearchHistory`` writes: ``sub_policies`` (pairs of op names)
    and ``epochs`` (entries with ``epoch``, ``selection_probs`` [N], ``probs`` [N, 2] and
    ``magnitudes`` [N, 2])."""
    if not isinstance(doc, dict):
        raise ValueError(f'{source}: not a DADA search history: a JSON object with keys '
                         f'"sub_policies" and "epochs" is expected, got {type(doc).__name__}')
    for key in ('sub_policies', 'epochs'):
        if key not in doc:
            raise ValueError(f'{source}: not a DADA search history: missing key "{key}"')
        if not isinstance(doc[key], list):
            raise ValueError(f'{source}: "{key}" must be a list, got '
                             f'{type(doc[key]).__name__}')
    n = len(doc['sub_policies'])
    for i, sub in enumerate(doc['sub_policies']):
        if not (isinstance(sub, list) and len(sub) == 2
                and all(isinstance(name, str) for name in sub)):
            raise ValueError(f'{source}: sub_policies[{i}] must be a pair of op names, '
                             f'got {sub!r}')
    shapes = dict(selection_probs=(n, ), probs=(n, 2), magnitudes=(n, 2))
    for i, entry in enumerate(doc['epochs']):
        if not isinstance(entry, dict):
            raise ValueError(f'{source}: epochs[{i}] must be an object, got '
                             f'{type(entry).__name__}')
        for key in _HISTORY_EPOCH_KEYS:
            if key not in entry:
                raise ValueError(f'{source}: epochs[{i}] has no key "{key}"')
        for key, shape in shapes.items():
            try:
                values = np.asarray(entry[key], np.float64)
            except (TypeError, ValueError):
                values = None
            if values is None or values.shape != shape:
                got = 'not numbers' if values is None else f'shape {values.shape}'
                raise ValueError(f'{source}: epochs[{i}]["{key}"] must be numbers of shape '
                                 f'{shape} ({n} sub-policies), got {got}')


def _history_arrays(history: Dict[str, Any]):
    epochs = history['epochs']
    if not epochs:
        raise ValueError('the search history has no epochs: no search epoch had ended '
                         'when it was written')
    x = np.array([e['epoch'] for e in epochs], np.float64)
    sel = np.array([e['selection_probs'] for e in epochs], np.float64)   # (T, 105)
    probs = np.array([e['probs'] for e in epochs], np.float64)           # (T, 105, 2)
    mags = np.array([e['magnitudes'] for e in epochs], np.float64)       # (T, 105, 2)
    return x, sel, probs, mags


def _figure_to_bgr(fig) -> np.ndarray:
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    import matplotlib.pyplot as plt
    plt.close(fig)
    return cv2.cvtColor(np.ascontiguousarray(rgba[..., :3]), cv2.COLOR_RGB2BGR)


def _pyplot():
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    return plt


def _integer_ticks(ax) -> None:
    """Epochs are whole numbers: no ticks between them."""
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _name(history, k) -> str:
    a, b = history['sub_policies'][k]
    return f'{a} + {b}'


def plot_search_weights(history: Dict[str, Any], top: int = 8) -> np.ndarray:
    """Selection weights softmax(alpha) per epoch of the ``top`` final sub-policies, the
    range of all others, and the final distribution over all sub-policies (BGR)."""
    plt = _pyplot()
    x, sel, _, _ = _history_arrays(history)
    n = sel.shape[1]
    order = np.argsort(-sel[-1], kind='stable')
    top_idx = order[:top]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.8),
                                 gridspec_kw=dict(width_ratios=[1.35, 1]))
    rest = order[top:]
    if len(rest):
        ax.fill_between(x, sel[:, rest].min(1), sel[:, rest].max(1), color='0.85',
                        label=f'other {len(rest)} (min-max)')
    for rank, k in enumerate(top_idx):
        ax.plot(x, sel[:, k], marker='o', ms=3, label=f'#{rank + 1} {_name(history, k)}')
    ax.axhline(1.0 / n, color='k', ls='--', lw=1, label=f'uniform 1/{n}')
    ax.set_xlabel('search epoch')
    _integer_ticks(ax)
    ax.set_ylabel('selection weight softmax(alpha)')
    ax.set_title('Sub-policy selection weights during the search')
    ax.legend(fontsize=7, loc='upper left')
    ax.grid(alpha=0.3)
    colours = ['tab:orange' if k in set(top_idx.tolist()) else 'tab:blue' for k in order]
    bx.bar(np.arange(n), sel[-1][order], color=colours, width=1.0)
    bx.axhline(1.0 / n, color='k', ls='--', lw=1)
    entropy = float(-(sel[-1] * np.log(np.clip(sel[-1], 1e-12, None))).sum())
    bx.set_title(f'Final weights, sorted (entropy {entropy:.3f} / max {math.log(n):.3f})')
    bx.set_xlabel('sub-policy (rank)')
    bx.set_ylabel('selection weight')
    lo = sel[-1].min()
    bx.set_ylim(max(0.0, lo - 0.2 * (sel[-1].max() - lo)), None)
    bx.grid(alpha=0.3)
    fig.tight_layout()
    return _figure_to_bgr(fig)


def plot_probs_magnitudes(history: Dict[str, Any], top: int = 5) -> np.ndarray:
    """Probabilities and magnitudes of both ops of the ``top`` final sub-policies per
    epoch (solid: first op, dashed: second op) (BGR)."""
    plt = _pyplot()
    x, sel, probs, mags = _history_arrays(history)
    top_idx = np.argsort(-sel[-1], kind='stable')[:top]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharex=True)
    cmap = plt.get_cmap('tab10')
    for ax, values, what in ((axes[0], probs, 'probability p'),
                             (axes[1], mags, 'magnitude m')):
        for rank, k in enumerate(top_idx):
            a, b = history['sub_policies'][k]
            c = cmap(rank % 10)
            ax.plot(x, values[:, k, 0], color=c, marker='o', ms=3,
                    label=f'#{rank + 1} {a}')
            ax.plot(x, values[:, k, 1], color=c, marker='s', ms=3, ls='--',
                    label=f'#{rank + 1} {b}')
        ax.axhline(0.5, color='k', lw=0.8, ls=':')
        ax.set_xlabel('search epoch')
        _integer_ticks(ax)
        ax.set_ylabel(what)
        ax.set_title(f'{what} of the top-{len(top_idx)} sub-policies')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return _figure_to_bgr(fig)


# --------------------------------------------------------------------------- output
def build_visualizer(save_dir: str, name: Optional[str] = None):
    """An MMEngine ``Visualizer`` writing to ``save_dir`` through ``LocalVisBackend``."""
    from mmengine.visualization import Visualizer
    name = name or f'dada_policy_vis_{uuid.uuid4().hex[:8]}'
    return Visualizer.get_instance(name, vis_backends=[dict(type='LocalVisBackend')],
                                   save_dir=save_dir)


def save_image(img_bgr: np.ndarray, path: str, visualizer=None,
               name: Optional[str] = None, step: int = 0) -> str:
    """Write a BGR image as PNG and, if given, send it (RGB) to the visualizer."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, img_bgr):
        raise OSError(f'could not write {path}')
    if visualizer is not None:
        visualizer.add_image(name or osp.splitext(osp.basename(path))[0],
                             cv2.cvtColor(img_bgr, cv2.COLOR_BGR2RGB), step=step)
    return path


def write_policy_figures(out_dir: str, policy: Any,
                         history: Union[None, str, Dict[str, Any]] = None,
                         images: Optional[Sequence[np.ndarray]] = None,
                         boxes: Optional[Sequence[Optional[Sequence]]] = None,
                         top_k: int = 5, draws: int = 3, seed: int = 0,
                         visualizer=None, title: Optional[str] = None) -> Dict[str, str]:
    """``policy_samples.png`` (if ``images``), ``search_weights.png`` and
    ``search_probs_magnitudes.png`` (if ``history``) in ``out_dir``; each also goes to
    ``visualizer.add_image``. Returns ``{name: path}``."""
    paths = {}
    if images:
        grid, _ = policy_sample_grid(policy, images, boxes=boxes, top_k=top_k,
                                     draws=draws, seed=seed, title=title)
        paths['policy_samples'] = save_image(
            grid, osp.join(out_dir, 'policy_samples.png'), visualizer, 'policy_samples')
    if history is not None:
        if isinstance(history, str):
            history = load_search_history(history)
        paths['search_weights'] = save_image(
            plot_search_weights(history), osp.join(out_dir, 'search_weights.png'),
            visualizer, 'search_weights')
        paths['search_probs_magnitudes'] = save_image(
            plot_probs_magnitudes(history, top=top_k),
            osp.join(out_dir, 'search_probs_magnitudes.png'), visualizer,
            'search_probs_magnitudes')
    return paths
