"""`DADAAugment`: apply a learned DADA policy in any OpenMMLab data pipeline.

Per image it picks one sub-policy at random, with equal chance (the retraining semantics
of the paper, Fast AutoAugment's ``Augmentation``) or, for a policy file that carries
``weights`` (a search that exports its selection weights), with the chance they give; then
it applies each of the sub-policy's ops with the op's probability at the op's magnitude
(level), in stored order. Randomness is drawn from
``numpy.random`` like mmcv's own transforms, so MMEngine's seeding (``randomness=dict(
seed=...)``, per-worker seeds) makes a run repeat exactly.
"""
from __future__ import annotations

import functools
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.registry import TRANSFORMS

from ..ops import image_ops
from ..policy import policy_op_family, resolve_policy
from ..search_space import (
    CUTOUT_FILL_RGB,
    GEOMETRIC_OPS,
    get_op,
    inverse_output_to_input_matrix,
    level_to_value,
    scale_level,
)
from .annotations import move_with_image
from .options import (
    as_fill,
    check_image,
    check_options,
    draw_cdf,
    draw_sub_policy,
    fill_in_image_order,
    image_of,
)

__all__ = ['DADAAugment']



@functools.lru_cache(maxsize=2048)
def _forward_matrix(name: str, value: float, height: int, width: int) -> np.ndarray:
    """Cached (read-only) inverse of the op's output -> input matrix: a policy has few
    (op, value) pairs and a dataset few image sizes, and the inverse costs ~20 us a call."""
    m = np.linalg.inv(inverse_output_to_input_matrix(name, value, height, width))
    m.flags.writeable = False
    return m


@TRANSFORMS.register_module()
class DADAAugment(BaseTransform):
    """Apply a DADA policy (preset, policy file or inline list) to ``results['img']``.

    Args:
        policy: a preset name (``'dada-imagenet'``, ``'dada-cifar10'``, ...), a path to a
            policy file, or an inline list of sub-policies, e.g.
            ``[[dict(op='ShearX', prob=0.5, magnitude=0.7), dict(op='Color', prob=0.3,
            magnitude=0.2)]]``.
        top_k: use only the first ``top_k`` sub-policies (files are ranked by the search).
        weighted: draw the sub-policies by the policy's ``weights`` when it has them
            (renormalised over the first ``top_k``); False draws each with equal chance.
        magnitude_scale: scales every op's strength about its identity level; 1 keeps the
            paper's magnitudes, 0 makes every levelled op the identity.
        fill: fill value of the geometric ops, int or (R, G, B); the paper used black
            (None: 0 for DADA policies, 128 for detection ones).
        cutout_fill: fill colour of Cutout in (R, G, B); the paper used (125, 123, 114)
            (None: that for DADA policies, 128 for detection ones).
        interpolation: of the geometric ops: 'nearest' (paper), 'bilinear' or 'bicubic'.
        channel_order: channel order of the images; OpenMMLab loads 'bgr'.
        op_family: None (take the policy's: ``meta.op_family``, or inferred from the op
            names of an inline list), 'dada' or 'zoph-detection' (required). A detection
            policy (``'zoph-det-v0'`` ...) is handed to
            :class:`~dada_mm.transforms.zoph_augment.ZophDetectionAugment`.
    """

    def __init__(self,
                 policy: Union[str, Sequence, Dict] = 'dada-imagenet',
                 top_k: Optional[int] = None,
                 weighted: bool = True,
                 magnitude_scale: float = 1.0,
                 fill: Union[None, int, Sequence[int]] = None,
                 cutout_fill: Union[None, int, Sequence[int]] = None,
                 interpolation: str = 'nearest',
                 channel_order: str = 'bgr',
                 op_family: Optional[str] = None) -> None:
        doc = resolve_policy(policy, op_family=op_family)
        self._detection = None
        if policy_op_family(doc) != 'dada':
            from .zoph_augment import ZophDetectionAugment
            self._detection = ZophDetectionAugment(
                doc, top_k=top_k, weighted=weighted, magnitude_scale=magnitude_scale,
                fill=fill,
                cutout_fill=cutout_fill, interpolation=interpolation,
                channel_order=channel_order)
            for key in ('policy_meta', 'sub_policies', 'top_k', 'weighted', 'weights',
                        'magnitude_scale', 'fill', 'cutout_fill', 'interpolation',
                        'channel_order'):
                setattr(self, key, getattr(self._detection, key))
            return
        fill = 0 if fill is None else fill
        cutout_fill = CUTOUT_FILL_RGB if cutout_fill is None else cutout_fill
        sub_policies = doc['sub_policies']
        sub_policies = check_options(sub_policies, top_k, magnitude_scale, interpolation,
                                     channel_order)
        self._cdf = draw_cdf(doc, top_k, weighted)
        self.policy_meta = doc['meta']
        self.sub_policies = sub_policies
        self.top_k, self.weighted = top_k, weighted
        #: each sub-policy's chance of being drawn (None: equal chances)
        self.weights = None if self._cdf is None else np.diff(self._cdf, prepend=0.0)
        self.magnitude_scale = float(magnitude_scale)
        self.fill = as_fill(fill, 'fill')
        self.cutout_fill = as_fill(cutout_fill, 'cutout_fill')
        self.interpolation = interpolation
        self.channel_order = channel_order
        # (op name, prob, scaled level) per sub-policy, resolved once
        self._scaled_sub_policies: List[List[Tuple[str, float, float]]] = [
            [(op['op'], op['prob'],
              scale_level(get_op(op['op']), op['magnitude'], self.magnitude_scale))
             for op in sub] for sub in sub_policies]

    # -- helpers ---------------------------------------------------------------------
    def _draw(self) -> Tuple[int, List[Tuple[bool, float, Tuple[float, float]]]]:
        """All random numbers of one call, in a fixed order whatever gets applied."""
        index = draw_sub_policy(len(self._scaled_sub_policies), self._cdf)
        # One rand(4 n) call gives the same numbers as 4 n successive rand() calls
        # (apply, sign, centre x, centre y per op), at a fraction of the call overhead.
        u = np.random.rand(4 * len(self._scaled_sub_policies[index])).tolist()
        draws = [(u[k], 1.0 if u[k + 1] < 0.5 else -1.0, (u[k + 2], u[k + 3]))
                 for k in range(0, len(u), 4)]
        return index, draws

    def _apply_to_image(self, img: np.ndarray, name: str, level: float, sign: float,
                        center: Tuple[float, float]) -> np.ndarray:
        alpha = None
        if img.ndim == 3 and img.shape[2] == 4:  # keep alpha out of colour ops
            img, alpha = img[..., :3], img[..., 3:]
        out = image_ops.apply_op(
            img, name, level, sign=sign, center=center,
            fill=fill_in_image_order(self.fill, img, self.channel_order),
            cutout_fill=fill_in_image_order(self.cutout_fill, img, self.channel_order),
            interpolation=self.interpolation, channel_order=self.channel_order)
        if alpha is not None:
            if name in GEOMETRIC_OPS:
                alpha = image_ops.apply_op(alpha, name, level, sign=sign, fill=255,
                                           interpolation=self.interpolation)
                alpha = alpha.reshape(out.shape[:2] + (1,))
            out = np.concatenate([out, alpha], axis=2)
        return out

    def geometric_matrix(self, name: str, level: float, sign: float, height: int,
                         width: int) -> np.ndarray:
        """Forward (input -> output) 3x3 matrix of a geometric op, for annotations."""
        return _forward_matrix(name, level_to_value(name, level, sign), height, width)

    # -- transform -------------------------------------------------------------------
    def transform(self, results: Dict) -> Dict:
        img = image_of(results, 'DADAAugment')
        if self._detection is not None:
            return self._detection.transform(results)
        img = check_image(img, 'DADAAugment', (1, 3, 4))
        index, draws = self._draw()
        applied = []
        for (name, prob, level), (apply_u, sign, center) in zip(self._scaled_sub_policies[index],
                                                              draws):
            if apply_u >= prob:
                continue
            height, width = img.shape[:2]
            img = self._apply_to_image(img, name, level, sign, center)
            if name in GEOMETRIC_OPS:
                self._warp_annotations(results, name, level, sign, height, width)
            applied.append(name)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['dada_sub_policy'] = index
        results['dada_applied_ops'] = applied
        return results

    def _warp_annotations(self, results: Dict, name: str, level: float, sign: float,
                          height: int, width: int) -> None:
        """Record the homography and move boxes/masks/seg maps with the image."""
        move_with_image(results, self.geometric_matrix(name, level, sign, height, width),
                        (height, width), interpolation=self.interpolation)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_sub_policies={len(self.sub_policies)}, '
                f'top_k={self.top_k}, weighted={self.weights is not None}, '
                f'magnitude_scale={self.magnitude_scale}, '
                f'fill={self.fill}, cutout_fill={self.cutout_fill}, '
                f'interpolation={self.interpolation!r}, '
                f'channel_order={self.channel_order!r})')
