# RetinaNet R-50-FPN, mmdet's 1x schedule on COCO, with the learned detection policy v0
# of Zoph et al. ("Learning Data Augmentation Strategies for Object Detection", 2019)
# as the training augmentation: the paper's comparison point (RetinaNet R-50, COCO
# 36.7 -> 39.0 mAP with v0, on its own 640 px schedule, not this one).
# Everything else is the baseline configs/retinanet_baseline_coco.py (mmdet's stock config,
# ImageNet backbone from torchvision; `data_root` is set there); the policy switch is in
# configs/_base_/zoph_detection.py. DADA's own policy: configs/retinanet_dada_coco.py.
_base_ = ['./retinanet_baseline_coco.py', './_base_/zoph_detection.py']

# the policy on the image as loaded: right after LoadAnnotations, before Resize
train_pipeline = [*_base_.train_pipeline[:2], *_base_.zoph_train_transforms,
                  *_base_.train_pipeline[2:]]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
