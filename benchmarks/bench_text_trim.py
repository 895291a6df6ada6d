# Copyright (c) tpr_mm contributors. All rights reserved.
"""Text tower speed with the padding trimmed to the batch's longest caption.

One process, one CLIP ViT-B/16 text tower (random weights; the cost does not
depend on them): every batch of 64 captions is encoded at the full context of
77 tokens (``trim_text_padding=False``, the reference) and trimmed to its
longest caption (ours), alternating, best of ``--repeat`` each. Caption
lengths: CUHK-PEDES captions average ~23.5 words (its paper); tokens are
drawn as ``round(1.2 * words) + 2`` (BPE pieces and punctuation, SOT/EOT) with
``words ~ Normal(23.5, 7)`` clipped to [6, 70]; also fixed lengths 19 and 40.

    PYTHONPATH=. python benchmarks/bench_text_trim.py [--threads 2] [--repeat 3] [--train]

``--train`` times forward + backward instead of the no-grad forward.
"""

import argparse
import os
import time

import numpy as np
import torch

from tpr_mm.models.backbones import OpenCLIPBackbone


def captions(lengths, context_length=77, seed=0):
    gen = torch.Generator().manual_seed(seed)
    text = torch.zeros(len(lengths), context_length, dtype=torch.long)
    for row, n in enumerate(lengths):
        text[row, 0] = 49406
        text[row, 1 : n - 1] = torch.randint(1, 49405, (n - 2,), generator=gen)
        text[row, n - 1] = 49407
    return text


def realistic_lengths(batch, seed=0):
    rng = np.random.default_rng(seed)
    words = np.clip(rng.normal(23.5, 7.0, batch), 6, 70)
    return np.minimum(np.round(1.2 * words).astype(int) + 2, 77).tolist()


def timed(backbone, text, train, repeat):
    best = float('inf')
    for _ in range(repeat):
        t0 = time.perf_counter()
        if train:
            backbone.encode_text(text)['global'].square().sum().backward()
        else:
            with torch.no_grad():
                backbone.encode_text(text)
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--train', action='store_true')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    backbone = OpenCLIPBackbone('ViT-B-16', img_size=(384, 128), trim_text_padding=False)
    backbone.train(args.train)
    cases = [('realistic (CUHK-like)', realistic_lengths(args.batch))]
    cases += [(f'all {n} tokens', [n] * args.batch) for n in (19, 40)]
    print(
        f'text tower ViT-B/16 (width 512, 12 layers), batch {args.batch}, '
        f'{"forward+backward" if args.train else "no-grad forward"}, {args.threads} threads, '
        f'1-min load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores'
    )
    print(f'{"case":<24}{"longest":>8}{"mean":>7}{"77 tokens":>11}{"trimmed":>10}{"speed-up":>10}')
    for name, lengths in cases:
        text = captions(lengths)
        times = {}
        for trim in (False, True, False, True):  # interleaved: load drifts hit both
            backbone.trim_text_padding = trim
            times[trim] = min(times.get(trim, float('inf')), timed(backbone, text, args.train, 1))
        for _ in range(args.repeat - 1):
            for trim in (False, True):
                backbone.trim_text_padding = trim
                times[trim] = min(times[trim], timed(backbone, text, args.train, 1))
        print(
            f'{name:<24}{max(lengths):>8}{np.mean(lengths):>7.1f}{times[False]:>10.3f}s'
            f'{times[True]:>9.3f}s{times[False] / times[True]:>9.2f}x'
        )


if __name__ == '__main__':
    main()
