# Demo, stage 2: train the classifier from scratch on the whole shapes training set with
# the searched DADA policy (the paper's recipe: search on a reduced split, then retrain
# with the learned top-k policy). The backbone is then exported for the detector.
#
#   python tools/train.py configs/demo/demo_pretrain_shapes.py --cfg-options \
#       "train_dataloader.dataset.pipeline.3.policy=<search work_dir>/dada_policy.json"
#
# Baseline (same recipe, no policy): configs/demo/demo_pretrain_shapes_baseline.py
_base_ = ['./demo_search_shapes.py']

# written by the search (stage 1); tools/run_demo.py passes its own path
dada_policy = 'work_dirs/demo/search/dada_policy.json'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale={{_base_.crop}}, crop_ratio_range=(0.5, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # index 3: the learned policy, after crop and flip as in the paper
    # (tools/run_demo.py finds it by its type)
    dict(type='DADAAugment', policy=dada_policy),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=True,
    dataset=dict(ann_file='meta/train.txt', pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, persistent_workers=True)
test_dataloader = val_dataloader

max_epochs = 24
# AdamW: on this set SGD (lr 0.1, batch 16 or 32) gave 40-75 % top-1 depending on the seed,
# AdamW 54-67 % (docs/demo.md)
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=0.002,
                                    weight_decay=0.05),
                     clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, by_epoch=True, begin=1,
         end=max_epochs, eta_min=1e-4),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=4)

custom_hooks = []  # no search: the policy is fixed
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval=4, max_keep_ckpts=1,
                                     save_last=True))
