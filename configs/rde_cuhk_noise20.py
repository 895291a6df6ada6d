# RDE on CUHK-PEDES with 0.2 of the training captions shuffled among pairs (noisy correspondence).
# RDE's index file is read when present (data/noiseindex/, docs/methods/rde.md); otherwise
# the same permutation is generated (noisy_seed=1 reproduces RDE's files).
_base_ = ['./rde_cuhk.py']
train_dataloader = dict(
    dataset=dict(noisy_rate=0.2, noisy_file='data/noiseindex/CUHK-PEDES_0.2.npy', noisy_seed=1)
)
