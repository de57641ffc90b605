# Faster R-CNN R-50-FPN, 1x schedule on COCO with a DADA-pretrained ResNet-50 backbone and the
# DADA policy as a training augmentation (after RandomFlip): the baseline
# configs/faster-rcnn_baseline_coco.py (data, model, schedule; `data_root` is set there) plus
# the DADA switches of configs/_base_/dada_detection.py (`backbone_checkpoint`,
# `use_dada_policy`, `dada_policy`).
_base_ = ['./faster-rcnn_baseline_coco.py', './_base_/dada_detection.py']

model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=_base_.backbone_checkpoint)))

# the baseline's pipeline with the DADA transforms before PackDetInputs (after RandomFlip)
train_pipeline = [*_base_.train_pipeline[:-1], *_base_.dada_train_transforms,
                  _base_.train_pipeline[-1]]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
