# The switches of the Zoph et al. detection-policy configs, in one place: each of
# configs/{retinanet,faster-rcnn}_zoph-v0_coco.py is its baseline
# (configs/<detector>_baseline_coco.py, i.e. mmdet's stock config with its ImageNet
# backbone) plus this file. The values are read when the configs are parsed: edit them here.
# This file inherits nothing, so it adds keys the baselines do not have (MMEngine refuses a
# key defined in two `_base_` files).
custom_imports = dict(imports=['dada_mm'], allow_failed_imports=False)

# ---- switches ----------------------------------------------------------------------
# 'zoph-det-v0' (the paper's), 'zoph-det-v1', 'zoph-det-v2', 'zoph-det-v3', or a policy file
# with meta.op_family 'zoph-detection'
zoph_policy = 'zoph-det-v0'

# What the zoph configs insert into the baseline's training pipeline right after
# LoadAnnotations. The policy acts on the image as loaded, before Resize and RandomFlip, as
# in the reference input pipeline (tensorflow/tpu retinanet_parser: autoaugment right after
# decoding): its translations and cutouts are in absolute pixels of COCO-sized images.
# Box-moving ops project + clip boxes and drop nothing; FilterAnnotations then removes the
# boxes pushed out of the image (zero width or height).
zoph_train_transforms = [
    dict(type='DADAAugment', policy=zoph_policy),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
]
