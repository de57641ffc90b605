# Demo baseline for stage 2: the same classifier, data, schedule and seed as
# demo_pretrain_shapes.py, without the DADA policy (crop + flip only). Its backbone
# initialises the baseline detector (configs/demo/demo_retinanet_shapes_baseline.py).
_base_ = ['./demo_pretrain_shapes.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale={{_base_.crop}}, crop_ratio_range=(0.5, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
