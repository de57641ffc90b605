# Demo baseline for stage 3: the same detector, data and schedule as
# demo_retinanet_shapes.py, without the DADA policy, its backbone initialised from the
# classifier trained with the same recipe but no policy
# (configs/demo/demo_pretrain_shapes_baseline.py).
_base_ = ['./demo_retinanet_shapes.py']

backbone_checkpoint = 'work_dirs/demo/backbone_baseline.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=backbone_checkpoint)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale={{_base_.img_scale}}, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
