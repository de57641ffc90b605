# Pretraining on your own images with the policy found by configs/dada_search_own_data.py,
# from which it takes `data_root`, `num_classes` and the model: ResNet-50 from scratch on
# the whole folder (both halves of the search), DADAAugment applying the searched top-25
# policy per image after RandomResizedCrop and flip, and the rest of the paper's ImageNet
# retraining recipe (configs/dada_retrain_resnet50_imagenet.py): ColorJitter, PCA lighting,
# SGD (nesterov) at lr 0.2 for a total batch of 1024 (`--auto-scale-lr` scales it to yours),
# a 3-epoch warm-up, 270 epochs. No validation: every image trains the network.
# `tools/export_backbone.py` turns a checkpoint into detection weights.
#
# `policy` is where the search writes its policy when run without --work-dir; for a search
# run with --work-dir DIR, pass
#   --cfg-options train_dataloader.dataset.pipeline.3.policy=DIR/dada_policy.json
_base_ = './dada_search_own_data.py'

policy = 'work_dirs/dada_search_own_data/dada_policy.json'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='DADAAugment', policy=policy),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='Lighting', eigval=[55.4625, 4.7940, 1.1475],
         eigvec=[[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140],
                 [-0.5836, -0.6948, 0.4203]], alphastd=0.1, to_rgb=True),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=_base_.data_root,
                 pipeline=train_pipeline))
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None

optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.2, momentum=0.9, weight_decay=1e-4, nesterov=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.5, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[90, 180, 240], gamma=0.1),
]
train_cfg = dict(max_epochs=270)
auto_scale_lr = dict(base_batch_size=1024)

custom_hooks = [dict(type='ClassCountCheckHook')]  # no search: the policy is fixed
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
