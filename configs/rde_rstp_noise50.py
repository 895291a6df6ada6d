# RDE on RSTPReid with 0.5 of the training captions shuffled among pairs (noisy correspondence).
# RDE's index file is read when present (data/noiseindex/, docs/methods/rde.md); otherwise
# the same permutation is generated (noisy_seed=1 reproduces RDE's files).
_base_ = ['./rde_rstp.py']
train_dataloader = dict(
    dataset=dict(noisy_rate=0.5, noisy_file='data/noiseindex/RSTPReid_0.5.npy', noisy_seed=1)
)
