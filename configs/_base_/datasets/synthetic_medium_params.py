# Generator parameters of the medium synthetic benchmark (docs/evidence.md), as one variable so
# that method configs can layer it over their own dataset (configs/evidence/*.py) and the
# pretraining corpus can exclude its identities (configs/clip_itc_pretrain_standin.py).
# CUHK-PEDES statistics: 3 images per identity, 2 captions per image; every caption names only
# part of the person; 30 % of the identities come in pairs differing in one attribute. 480
# held-out test identities give 2,880 text queries. Seed 1: other identities than the demo set.
medium_dataset = dict(
    data_root='data/synthetic_medium',
    num_train_ids=400,
    num_val_ids=60,
    num_test_ids=480,
    images_per_id=3,
    captions_per_image=2,
    image_size=(128, 48),
    seed=1,
    generator_options=dict(partial_captions=True, sibling_fraction=0.3),
)
