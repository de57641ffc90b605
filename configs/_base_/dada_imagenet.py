# ImageNet as the DADA ImageNet configs use it (configs/dada_resnet50_imagenet.py,
# configs/dada_search_reduced_imagenet.py, configs/dada_retrain_resnet50_imagenet.py, which
# read `data_root` and the pipelines from this file): mmpretrain's ResNet-50 config with the
# pipelines of Fast AutoAugment's recipe (pillow, bicubic) used by DADA.
#
# A user with ImageNet in mmpretrain's layout (data/imagenet/{train,val,meta}) changes only
# `data_root`, here: the search and the retraining then read the same copy.
_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'

custom_imports = dict(imports=['dada_mm'], allow_failed_imports=False)

data_root = 'data/imagenet'

# the paper's ImageNet search pipeline; the policy itself is applied by the search hook, on
# the training device, after these transforms
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
