# The paper's retraining stage: ResNet-50 on full ImageNet with a fixed DADA policy,
# applied per image AutoAugment-style after RandomResizedCrop + flip and before
# ColorJitter and PCA lighting (Fast AutoAugment's recipe used by DADA): 270 epochs,
# lr 0.2 for a total batch of 1024 (x0.1 at 90/180/240), 3-epoch warm-up, wd 1e-4.
#
# `policy` is a policy file written by `configs/dada_search_reduced_imagenet.py`
# (work_dirs/dada_search_reduced_imagenet/dada_policy.json) or the preset
# 'dada-imagenet' (the paper's published policy, the default).
# Data and test pipeline: configs/_base_/dada_imagenet.py, where `data_root` is set.
_base_ = './_base_/dada_imagenet.py'

policy = 'dada-imagenet'

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
train_dataloader = dict(batch_size=128, dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.2, momentum=0.9, weight_decay=1e-4,
                                    nesterov=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.5, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[90, 180, 240], gamma=0.1),
]
train_cfg = dict(max_epochs=270, val_interval=5)
auto_scale_lr = dict(base_batch_size=1024)
