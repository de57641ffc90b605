# Demo baseline for stage 3: the same detector, data and schedule as
# demo_retinanet_shapes.py, without the DADA policy, its backbone initialised from the
# classifier trained with the same recipe but no policy
# (configs/demo/demo_pretrain_shapes_baseline.py).
_base_ = ['./demo_retinanet_shapes.py']

backbone_checkpoint = 'work_dirs/demo/backbone_baseline.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=backbone_checkpoint)))

# the DADA detector's pipeline without the policy and the box filter that follows it
train_pipeline = [t for t in _base_.train_pipeline
                  if t['type'] not in ('DADAAugment', 'FilterAnnotations')]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
