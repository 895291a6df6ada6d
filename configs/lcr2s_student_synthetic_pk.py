# LCR²S student distilled from the in-batch-support teacher (lcr2s_teacher_synthetic_pk.py); the
# teacher's targets use the same P x K batches.
_base_ = ['./lcr2s_student_synthetic.py']
model = dict(
    teacher=dict(support_source='batch', batch_img_support=3, batch_text_support=3),
    teacher_checkpoint='work_dirs/lcr2s_teacher_synthetic_pk',
)
train_dataloader = dict(
    sampler=dict(_delete_=True, type='IdentitySampler', num_instances=8),
    dataset=dict(num_img_support=0, num_text_support=0),
)
