# The switches of the detection search configs, in one place: each of
# configs/{retinanet,faster-rcnn,mask-rcnn}_dada-search_coco.py is its baseline
# (configs/<detector>_baseline_coco.py: data, model, schedule) plus this file, and learns the
# DADA policy on the detector's own loss while it fine-tunes on COCO. Read when the configs
# are parsed: edit the values here.
custom_imports = dict(imports=['dada_mm'], allow_failed_imports=False)

# the policy is searched from epoch `search_begin` until `search_epochs`, then frozen (top
# 25 sub-policies) for the rest of the schedule; dada_policy.json in the work_dir. The first
# epoch trains the new heads without a search: the reward is the detector's own loss, and
# on a detector that has not learnt yet it does not point to the op a shift needs
# (docs/benchmarks.md, "The search inside a detector")
search_begin = 1
search_epochs = 5
# images of train2017 held out of training: the held-out loss the policy is optimised on
# (never val2017, which stays the test set)
held_out_images = 2000
split_seed = 0
# a policy update every `update_interval` iterations: the held-out gradient on one batch,
# then `num_images` training images scored under their candidates (each a batch of one
# through the detector, at w +- R v: 2 * num_images * (1 + 3 num_draws + 2 num_draws)
# forward passes)
update_interval = 8
search_estimator = dict(type='candidates', num_images=2, num_draws=2, magnitude_ops=1)
