# ResNet-50 ImageNet pretraining during which the DADA policy is learned.
#
# Epochs [0, search_epochs): the DADASearchHook learns alpha/p/m on a held-out 2% of
# ImageNet train (never the val split) while the network trains on the other 98%.
# From search_epochs on, the top-25 policy is frozen and training continues with it.
# Outputs in the work_dir: dada_policy.json (the policy), dada_search_history.json,
# epoch_*.pth (classifier; `tools/export_backbone.py` turns it into detection weights).
#
# Data and pipelines (the paper's search pipeline; the hook applies the policy on the
# training device, after it): configs/_base_/dada_imagenet.py, where `data_root` is set.
_base_ = './_base_/dada_imagenet.py'

search_epochs = 20
held_out_fraction = 0.02
split_seed = 0

train_dataloader = dict(
    dataset=dict(
        _delete_=True, type='HeldOutSplit', part='train', held_out=held_out_fraction,
        seed=split_seed,
        dataset=dict(type='ImageNet', data_root=_base_.data_root, split='train',
                     pipeline=_base_.train_pipeline)))
# The cost of the search (docs/benchmarks.md, "Amortised search"): the policy is updated every
# `update_interval` iterations, on a held-out batch half the training batch (32). Measured on
# the CPU: about 1.135x plain pretraining end to end, against 1.63x when updating every
# iteration with a full-size held-out batch; policy quality within one seed std of that.
update_interval = 4
held_out_dataloader = dict(
    batch_size=16, num_workers=4,
    dataset=dict(
        type='HeldOutSplit', part='held_out', held_out=held_out_fraction, seed=split_seed,
        dataset=dict(type='ImageNet', data_root=_base_.data_root, split='train',
                     pipeline=_base_.test_pipeline)))

custom_hooks = [
    dict(type='DADASearchHook', val_dataloader=held_out_dataloader,
         search_epochs=search_epochs, update_interval=update_interval,
         top_k=25, estimator=dict(type='relax'),
         reward=dict(type='BilevelReward', order='second', magnitude_grad='straight_through'),
         learner=dict(temperature=0.5,
                      policy_optimizer=dict(type='Adam', lr=0.005, betas=(0.5, 0.999),
                                            weight_decay=0.0))),
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
randomness = dict(seed=0, deterministic=False)
