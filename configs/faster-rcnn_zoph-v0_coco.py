# Faster R-CNN R-50-FPN, mmdet's 1x schedule on COCO, with the learned detection policy v0
# of Zoph et al. ("Learning Data Augmentation Strategies for Object Detection", 2019)
# as the training augmentation. The paper's comparison point is RetinaNet
# (configs/retinanet_zoph-v0_coco.py); this is the same policy on Faster R-CNN.
# Everything else is the baseline configs/faster-rcnn_baseline_coco.py (mmdet's stock
# config, ImageNet backbone from torchvision; `data_root` is set there); the policy switch
# is in configs/_base_/zoph_detection.py. DADA's own policy: configs/faster-rcnn_dada_coco.py.
_base_ = ['./faster-rcnn_baseline_coco.py', './_base_/zoph_detection.py']

# the policy on the image as loaded: right after LoadAnnotations, before Resize
train_pipeline = [*_base_.train_pipeline[:2], *_base_.zoph_train_transforms,
                  *_base_.train_pipeline[2:]]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
