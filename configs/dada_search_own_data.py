# DADA search on your own images. The data: a folder with one sub-folder of images per class
# (jpg, png, bmp, ... of any size; the sub-folders' names, sorted, are the classes), read by
# mmpretrain's CustomDataset without an annotation file. Set `data_root` and `num_classes`
# here; configs/dada_retrain_own_data.py (pretraining with the found policy) reads both from
# this file. ClassCountCheckHook stops before training if `num_classes` is not the number of
# sub-folders.
#
# The paper's search protocol (configs/dada_search_reduced_imagenet.py) on that folder:
# ReducedSearchSplit cuts the images 50/50 per class (seeded) into search-train, on which
# ResNet-50 trains for 20 epochs, and search-val, the held-out half on which DADASearchHook
# optimises the policy (test pipeline: resize and centre crop, nothing random). Writes
# dada_policy.json (top 25) and dada_search_history.json to the work_dir
# (work_dirs/dada_search_own_data by default) and reports the accuracy on the held-out half.
# Model and pipelines (ResNet-50, 224 px, the paper's search pipeline; the hook applies the
# policy on the training device, after it): configs/_base_/dada_imagenet.py.
_base_ = './_base_/dada_imagenet.py'

data_root = 'data/flower_photos'
num_classes = 5

split_seed = 0
# None: search on every image; a number: on a sample of that many images, the same number
# from each class (at most all of a class; the paper searched on 6,000 ImageNet images)
search_images = None
epochs = 20

model = dict(head=dict(num_classes=num_classes, topk=(1, )))
data_preprocessor = dict(num_classes=num_classes)

own_data = dict(type='CustomDataset', data_root=data_root, pipeline=_base_.train_pipeline)
search_split = dict(type='ReducedSearchSplit', dataset=own_data, num_classes=None,
                    num_images=search_images, seed=split_seed)
train_dataloader = dict(
    batch_size=32, dataset=dict(_delete_=True, part='search_train', **search_split))
held_out = dict(part='search_val', pipeline=_base_.test_pipeline, **search_split)
held_out_dataloader = dict(batch_size=32, num_workers=4, dataset=held_out)
# accuracy of the proxy network on the held-out half (top-1 only: a folder may hold
# fewer than 5 classes)
val_dataloader = dict(batch_size=64, dataset=dict(_delete_=True, **held_out))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# the network's schedule of the paper's search (configs/dada_search_reduced_imagenet.py)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.00125, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=5.0))
param_scheduler = dict(_delete_=True, type='CosineAnnealingLR', T_max=epochs,
                       by_epoch=True, eta_min=1e-3)
train_cfg = dict(max_epochs=epochs, val_interval=epochs)
auto_scale_lr = dict(base_batch_size=32)

custom_hooks = [
    dict(type='ClassCountCheckHook'),
    dict(type='DADASearchHook', val_dataloader=held_out_dataloader,
         search_epochs=None, top_k=25),  # the defaults: candidate scoring
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2))
randomness = dict(seed=0, deterministic=False)
