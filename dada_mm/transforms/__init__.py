"""Transforms: apply a policy per image in mmpretrain / mmdet pipelines."""
from .dada_augment import DADAAugment
from .zoph_augment import ZophDetectionAugment

__all__ = ['DADAAugment', 'ZophDetectionAugment']
