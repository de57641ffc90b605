# Faster R-CNN R-50-FPN, 1x schedule on COCO with a DADA-pretrained ResNet-50 backbone and the
# DADA policy as a training augmentation (after RandomFlip).
# Baseline: configs/faster-rcnn_baseline_coco.py (mmdet's ImageNet backbone, no DADAAugment).
# To use another COCO copy change only `data_root`.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['dada_mm'], allow_failed_imports=False)

# ---- switches ----------------------------------------------------------------------
data_root = 'data/coco/'
# written by: python tools/export_backbone.py <classifier ckpt> <this path>
backbone_checkpoint = 'work_dirs/dada_resnet50_imagenet/backbone.pth'
use_dada_policy = True
# a preset ('dada-imagenet', ...) or a policy file, e.g. the exported
# 'work_dirs/dada_resnet50_imagenet/backbone_policy.json'
dada_policy = 'dada-imagenet'

model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint)))

# Geometric ops move boxes/masks like mmdet's GeomTransform (project + clip, nothing
# dropped); as mmdet's own augmentation configs do, FilterAnnotations then removes boxes
# that were pushed out of the image (zero width or height).
dada_train_transforms = [
    dict(type='DADAAugment', policy=dada_policy),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
] if use_dada_policy else []

# ---- data: mmdet's COCO layout under data_root ({train,val}2017/, annotations/) ------
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    *dada_train_transforms,
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
