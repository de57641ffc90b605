# RetinaNet R-50-FPN on COCO, learning the DADA policy on the detector's own loss
# while it fine-tunes: the baseline configs/retinanet_baseline_coco.py (data, model,
# schedule; `data_root` is set there) plus the search switches of
# configs/_base_/dada_detection_search.py.
#
# DADASearchHook augments every training batch on the device (boxes moved with the
# pixels) with the policy it is learning, and scores candidates of a few training images by
# the detector's loss on a held-out part of train2017, from its second epoch. After
# `search_epochs` the top-25 policy is frozen and training goes on with it. Outputs in the
# work_dir: dada_policy.json, dada_search_history.json.
_base_ = ['./retinanet_baseline_coco.py', './_base_/dada_detection_search.py']

# the baseline's training set, minus the held-out images
train_dataloader = dict(
    dataset=dict(_delete_=True, type='HeldOutSplit', part='train',
                 held_out=_base_.held_out_images, seed=_base_.split_seed,
                 dataset=_base_.train_dataloader.dataset))
# the held-out images, through the training pipeline without its random flip
held_out_pipeline = [*_base_.train_pipeline[:3], _base_.train_pipeline[-1]]
held_out_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='HeldOutSplit', part='held_out', held_out=_base_.held_out_images,
                 seed=_base_.split_seed,
                 dataset=dict(_base_.train_dataloader.dataset, pipeline=held_out_pipeline)))
custom_hooks = [
    dict(type='DADASearchHook', val_dataloader=held_out_dataloader,
         search_epochs=_base_.search_epochs, update_interval=_base_.update_interval,
         top_k=25, estimator=_base_.search_estimator,
         learner=dict(search_begin=_base_.search_begin)),
]
