# RetinaNet R-50-FPN, mmdet's 1x schedule on COCO, with the learned detection policy v0
# of Zoph et al. ("Learning Data Augmentation Strategies for Object Detection", 2019)
# as the training augmentation: the paper's comparison point (RetinaNet R-50, COCO
# 36.7 -> 39.0 mAP with v0, on its own 640 px schedule, not this one).
# Everything else is mmdet's stock config (ImageNet backbone from torchvision).
# Baseline: the stock config itself; DADA's own policy: configs/retinanet_dada_coco.py.
# To use another COCO copy change only `data_root`.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['dada_mm'], allow_failed_imports=False)

# ---- switches ----------------------------------------------------------------------
data_root = 'data/coco/'
# 'zoph-det-v0' (the paper's), 'zoph-det-v1', 'zoph-det-v2', 'zoph-det-v3', or a policy file
# with meta.op_family 'zoph-detection'
zoph_policy = 'zoph-det-v0'

# The policy acts on the image as loaded, before Resize and RandomFlip, as in the reference
# input pipeline (tensorflow/tpu retinanet_parser: autoaugment right after decoding): its
# translations and cutouts are in absolute pixels of COCO-sized images. Box-moving ops
# project + clip boxes and drop nothing; FilterAnnotations then removes the boxes pushed
# out of the image (zero width or height).
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='DADAAugment', policy=zoph_policy),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]

# ---- data: mmdet's COCO layout under data_root ({train,val}2017/, annotations/) ------
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
