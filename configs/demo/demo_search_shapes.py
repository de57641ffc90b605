# Demo, stage 1: DADA search on the built-in shapes set (small ResNet, 32 px images).
# Data: `python tools/generate_data.py` writes data/shapes (mmpretrain folder layout).
_base_ = ['mmpretrain::_base_/default_runtime.py']

custom_imports = dict(imports=['dada_mm'], allow_failed_imports=False)
default_scope = 'mmpretrain'

data_root = 'data/shapes'
num_classes = 6
# 32 px images, 400 per class (tools/run_demo.py): at this budget more, smaller images
# train the classifier far better than fewer 64 px ones (docs/demo.md, "Why this
# classifier recipe")
img_size = 32
crop = img_size

model = dict(
    type='ImageClassifier',
    # stem_channels = base_channels, as mmdet's ResNet: the backbone transfers unchanged to
    # the demo detector (configs/demo/demo_retinanet_shapes.py)
    backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ),
                  base_channels=16, stem_channels=16, style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=128,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, )))

data_preprocessor = dict(num_classes=num_classes, mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)

# the paper's search-train pipeline, minus the policy (the hook applies it on device)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=crop, crop_ratio_range=(0.35, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=img_size, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=crop),
    dict(type='PackInputs'),
]

dataset_type = 'CustomDataset'
train_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='train',
                 ann_file='meta/search_train.txt', with_label=True,
                 pipeline=train_pipeline))
search_val_dataloader = dict(
    batch_size=32, num_workers=2,
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='train',
                 ann_file='meta/search_val.txt', with_label=True,
                 pipeline=test_pipeline))
val_dataloader = dict(
    batch_size=64, num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='val',
                 ann_file='meta/val.txt', with_label=True, pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# network: SGD + cosine, as the paper's search (scaled down)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4),
                     clip_grad=dict(max_norm=5.0))
param_scheduler = dict(type='CosineAnnealingLR', T_max=6, by_epoch=True, eta_min=1e-3)
train_cfg = dict(by_epoch=True, max_epochs=6, val_interval=6)
val_cfg = dict()
test_cfg = dict()

custom_hooks = [
    dict(type='DADASearchHook', val_dataloader=search_val_dataloader,
         search_epochs=None, top_k=25),  # the defaults: candidate scoring
]
default_hooks = dict(logger=dict(type='LoggerHook', interval=5),
                     checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2))
randomness = dict(seed=0, deterministic=False)
