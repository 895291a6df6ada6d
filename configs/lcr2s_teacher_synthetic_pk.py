# LCR²S teacher with in-batch support sets: P x K identity batches (8 identities x 8 pairs = all
# pairs of an identity, so an epoch still visits every training pair once, like the baseline); each
# pair's supports are the other images / captions of its identity in the batch (up to 3 each).
# Costs what the baseline costs (no extra encodings); lcr2s_teacher_synthetic.py draws supports from
# the whole training set instead (the reconstruction's default), at ~3.5x the encoding cost.
_base_ = ['./lcr2s_teacher_synthetic.py']
model = dict(support_source='batch', batch_img_support=3, batch_text_support=3)
train_dataloader = dict(
    sampler=dict(_delete_=True, type='IdentitySampler', num_instances=8),
    # Keep the wrapper's index but load no extra views: supports come from the batch.
    dataset=dict(num_img_support=0, num_text_support=0),
)
