# Faster R-CNN R-50-FPN, 1x schedule on COCO: the baseline of configs/faster-rcnn_dada_coco.py.
# Identical except for the two DADA points: the backbone is mmdet's default ImageNet
# initialisation (torchvision://resnet50) and there is no DADAAugment.
# To use another COCO copy change only `data_root`.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

data_root = 'data/coco/'
dada_train_transforms = []  # the DADA config inserts DADAAugment here

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
