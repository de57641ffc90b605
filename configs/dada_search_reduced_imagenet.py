# The paper's search stage: ResNet-50 on reduced ImageNet (120 classes, ~6,000 images,
# split 50/50 per class into search-train and search-val), 20 epochs, batch 32, SGD
# lr 0.00125 (cosine to 0.001), weight decay 1e-4; the search with the paper's settings
# (preset='paper': RELAX, policy Adam lr 0.005 betas (0.5, 0.999), tau 0.5;
# docs/method.md). Writes dada_policy.json (top 25) for
# `configs/dada_retrain_resnet50_imagenet.py`.
#
# The class subset is drawn with `split_seed` (the official hard-coded list is not
# reproduced). Data and pipelines (the paper's search pipeline; the hook applies the policy
# on the training device, after it): configs/_base_/dada_imagenet.py, where `data_root` is
# set.
_base_ = './_base_/dada_imagenet.py'

num_classes = 120
num_images = 6000
split_seed = 0
epochs = 20

model = dict(head=dict(num_classes=num_classes, topk=(1, 5)))
data_preprocessor = dict(num_classes=num_classes)

imagenet_train = dict(type='ImageNet', data_root=_base_.data_root, split='train',
                      pipeline=_base_.train_pipeline)

train_dataloader = dict(
    batch_size=32,
    dataset=dict(_delete_=True, type='ReducedSearchSplit', dataset=imagenet_train,
                 part='search_train', num_classes=num_classes, num_images=num_images,
                 seed=split_seed))
search_val_dataset = dict(type='ReducedSearchSplit', dataset=imagenet_train,
                          part='search_val', num_classes=num_classes,
                          num_images=num_images, seed=split_seed,
                          pipeline=_base_.test_pipeline)
search_val_dataloader = dict(batch_size=32, num_workers=4, dataset=search_val_dataset)
# held-out accuracy of the proxy network, on the search-val half
val_dataloader = dict(batch_size=64, dataset=dict(_delete_=True, **search_val_dataset))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.00125, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=5.0))
param_scheduler = dict(_delete_=True, type='CosineAnnealingLR', T_max=epochs,
                       by_epoch=True, eta_min=1e-3)
train_cfg = dict(max_epochs=epochs, val_interval=epochs)
auto_scale_lr = dict(base_batch_size=32)

custom_hooks = [
    # the paper's settings (RELAX, one draw per image, policy Adam lr 0.005, ...); leave
    # out preset='paper' for this project's defaults (candidate scoring)
    dict(type='DADASearchHook', val_dataloader=search_val_dataloader,
         search_epochs=None, top_k=25, preset='paper'),
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2))
randomness = dict(seed=2, deterministic=False)
