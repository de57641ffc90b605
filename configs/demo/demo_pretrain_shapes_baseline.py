# Demo baseline for stage 2: the same classifier, data, schedule and seed as
# demo_pretrain_shapes.py, without the DADA policy (crop + flip only). Its backbone
# initialises the baseline detector (configs/demo/demo_retinanet_shapes_baseline.py).
_base_ = ['./demo_pretrain_shapes.py']

# the DADA recipe's pipeline without its policy (the same recipe by construction)
train_pipeline = [t for t in _base_.train_pipeline if t['type'] != 'DADAAugment']
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
