# The DADA switches of the detection configs, in one place: each of
# configs/{retinanet,faster-rcnn,mask-rcnn}_dada_coco.py is its baseline
# (configs/<detector>_baseline_coco.py: data, model, schedule) plus this file, so a switch
# set here holds for all three detectors. The values are read when the configs are parsed:
# edit them here (a child config that overrides one must also redo what is derived from it).
# This file inherits nothing, so it adds keys the baselines do not have (MMEngine refuses a
# key defined in two `_base_` files).
custom_imports = dict(imports=['dada_mm'], allow_failed_imports=False)

# ---- switches ----------------------------------------------------------------------
# written by: python tools/export_backbone.py <classifier ckpt> <this path>
backbone_checkpoint = 'work_dirs/dada_resnet50_imagenet/backbone.pth'
use_dada_policy = True
# a preset ('dada-imagenet', ...) or a policy file, e.g. the exported
# 'work_dirs/dada_resnet50_imagenet/backbone_policy.json'
dada_policy = 'dada-imagenet'

# What the DADA configs insert into the baseline's training pipeline after RandomFlip.
# Geometric ops move boxes/masks like mmdet's GeomTransform (project + clip, nothing
# dropped); as mmdet's own augmentation configs do, FilterAnnotations then removes boxes
# that were pushed out of the image (zero width or height).
dada_train_transforms = [
    dict(type='DADAAugment', policy=dada_policy),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
] if use_dada_policy else []
