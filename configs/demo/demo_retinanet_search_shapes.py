# Demo: the DADA search inside RetinaNet's training on the built-in shapes_coco set. The
# detector of configs/demo/demo_retinanet_shapes.py (same model, data and schedule) learns
# the policy on its own loss while it trains: DADASearchHook augments every batch on the
# device (boxes moved with the pixels), scores candidates of 2 training images by the
# detector's loss on 8 held-out training images from epoch `search_begin`, and freezes the
# top-25 policy after `search_epochs`. Writes dada_policy.json to the work_dir.
#
#   python tools/train.py configs/demo/demo_retinanet_search_shapes.py \
#       --cfg-options model.backbone.init_cfg=None     # from scratch, without stage 2
_base_ = './demo_retinanet_shapes.py'

# 4 epochs train the new heads before the search (a detector that has not learnt yet
# gives no usable reward), then 8 epochs of search, then the frozen policy
search_begin = 4
search_epochs = 12
held_out_images = 8
split_seed = 0

# the hook applies the policy: the pipeline without DADAAugment
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=_base_.img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
held_out_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=_base_.img_scale, keep_ratio=True),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    dataset=dict(_delete_=True, type='HeldOutSplit', part='train', held_out=held_out_images,
                 seed=split_seed,
                 dataset=dict(_base_.train_dataloader.dataset, pipeline=train_pipeline)))
held_out_dataloader = dict(
    batch_size=4, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='HeldOutSplit', part='held_out', held_out=held_out_images,
                 seed=split_seed,
                 dataset=dict(_base_.train_dataloader.dataset, pipeline=held_out_pipeline)))
custom_hooks = [
    dict(type='DADASearchHook', val_dataloader=held_out_dataloader,
         search_epochs=search_epochs, update_interval=2, top_k=25,
         estimator=dict(type='candidates', num_images=2, num_draws=2, magnitude_ops=1),
         learner=dict(search_begin=search_begin)),
]
