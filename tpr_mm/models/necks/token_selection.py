# Copyright (c) tpr_mm contributors. All rights reserved.
"""Attention-ranked token selection (CFine's informative patch / word mining).

Source: shuanglinyan/CFine:models/model.py (``Model.forward``, ``topk`` over attention scores).
"""

from typing import Tuple

import torch

__all__ = ['select_informative_tokens', 'gather_tokens']


def select_informative_tokens(
    scores: torch.Tensor, candidate_mask: torch.Tensor, num_tokens: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Indices of the ``num_tokens`` highest-scoring candidate tokens, best first.

    Non-candidates (the global token itself, padding, special tokens) rank
    after every candidate; when a sequence has fewer candidates than
    ``num_tokens`` the tail of its ranking holds non-candidates, flagged
    invalid.

    Args:
        scores (Tensor): (B, L) informativeness, e.g. the global token's row
            of the last-layer attention.
        candidate_mask (Tensor): (B, L) bool, True for selectable tokens.
        num_tokens (int): How many to return (<= L).

    Returns:
        tuple: ``index`` (B, num_tokens) int64 positions in rank order and
        ``valid`` (B, num_tokens) bool, whether each is a candidate.
    """
    if scores.shape != candidate_mask.shape:
        raise ValueError(
            f'scores {tuple(scores.shape)} and candidate_mask {tuple(candidate_mask.shape)} differ'
        )
    if not 0 < num_tokens <= scores.shape[1]:
        raise ValueError(f'cannot select {num_tokens} of {scores.shape[1]} tokens')
    # Non-candidates get -inf: they can only fill slots left after all candidates.
    ranked = scores.detach().float().masked_fill(~candidate_mask, float('-inf'))
    index = ranked.topk(num_tokens, dim=1, sorted=True).indices
    return index, torch.gather(candidate_mask, 1, index)


def gather_tokens(tokens: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``tokens[b, index[b]]`` for every b: (B, L, D), (B, K) -> (B, K, D)."""
    return torch.gather(tokens, 1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
