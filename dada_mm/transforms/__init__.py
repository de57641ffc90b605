"""Transforms: apply a policy per image in mmpretrain / mmdet pipelines."""
from .dada_augment import DADAAugment

__all__ = ['DADAAugment']
