# Demo, stage 3: RetinaNet fine-tuned on the built-in shapes_coco set (COCO format, 4
# classes, 128x160 images) with the DADA-pretrained backbone and the DADA policy.
# A scaled-down copy of configs/retinanet_dada_coco.py: ResNet-18 with base_channels=16
# (the demo classifier's backbone), a 32-channel FPN and a light head.
#
#   python tools/export_backbone.py <pretrain work_dir>/epoch_N.pth backbone.pth \
#       --depth 18 --base-channels 16
#   python tools/train.py configs/demo/demo_retinanet_shapes.py --cfg-options \
#       backbone_checkpoint=... (see tools/run_demo.py for the exact command)
#
# Baseline: configs/demo/demo_retinanet_shapes_baseline.py
_base_ = ['mmdet::_base_/default_runtime.py']
custom_imports = dict(imports=['dada_mm'], allow_failed_imports=False)
default_scope = 'mmdet'

data_root = 'data/shapes_coco/'
classes = ('circle', 'square', 'triangle', 'cross')
# written by tools/export_backbone.py from the stage-2 classifier
backbone_checkpoint = 'work_dirs/demo/backbone_dada.pth'
# a policy file or preset; tools/export_backbone.py writes <backbone>_policy.json
dada_policy = 'work_dirs/demo/backbone_dada_policy.json'
img_scale = (160, 128)  # (w, h)

model = dict(
    type='RetinaNet',
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                           pad_size_divisor=32),
    backbone=dict(type='ResNet', depth=18, base_channels=16, num_stages=4,
                  out_indices=(1, 2, 3), frozen_stages=1,
                  norm_cfg=dict(type='BN', requires_grad=True), norm_eval=True,
                  style='pytorch',
                  init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint)),
    neck=dict(type='FPN', in_channels=[32, 64, 128], out_channels=32, start_level=0,
              add_extra_convs='on_input', num_outs=4),
    bbox_head=dict(
        type='RetinaHead', num_classes=len(classes), in_channels=32, stacked_convs=2,
        feat_channels=32,
        # objects are 15-60 px: anchors of 16..128 px on strides 8..64
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=2,
                              scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                              strides=[8, 16, 32, 64]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                        target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                      min_pos_iou=0, ignore_iof_thr=-1),
        sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1,
        debug=False),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))

# as configs/retinanet_dada_coco.py: the policy after the flip, then drop boxes that the
# geometric ops pushed out of the image
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='DADAAugment', policy=dada_policy),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(type='CocoDataset', data_root=data_root, metainfo=dict(classes=classes),
                 ann_file='annotations/instances_train2017.json',
                 data_prefix=dict(img='train2017/'),
                 filter_cfg=dict(filter_empty_gt=True, min_size=4),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CocoDataset', data_root=data_root, metainfo=dict(classes=classes),
                 ann_file='annotations/instances_val2017.json',
                 data_prefix=dict(img='val2017/'), test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric',
                     ann_file=data_root + 'annotations/instances_val2017.json',
                     metric='bbox', format_only=False)
test_evaluator = val_evaluator

max_epochs = 16
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
                     clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.05, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[int(max_epochs * 0.75)], gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval=max_epochs,
                                     max_keep_ckpts=1, save_last=True))
# no fixed visualizer name: several runs can share one process (tools/run_demo.py)
visualizer = dict(_delete_=True, type='DetLocalVisualizer',
                  vis_backends=[dict(type='LocalVisBackend')])
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True)
randomness = dict(seed=0, deterministic=False)
