# Copyright (c) tpr_mm contributors. All rights reserved.
"""faiss factory strings for gallery indexes sized by the gallery."""

import math


def ivfpq_factory(
    num_vectors: int, dim: int, max_nlist: int = 4096, pq_bytes: int = 64, refine: str = 'RFlat'
) -> str:
    """faiss factory string of an IVF-PQ index sized for ``num_vectors``.

    ``nlist`` is the power of two nearest ``4 * sqrt(N)`` (capped at
    ``max_nlist`` and at ``N / 39`` so k-means has enough points per centroid);
    PQ uses up to ``pq_bytes`` sub-quantizers of at least 4 dimensions each
    (the largest divisor of ``dim`` allowed) of 8 bits, or fewer bits when
    there are under 256 vectors.

    Args:
        num_vectors (int): Vectors the index is trained on.
        dim (int): Embedding dimension.
        max_nlist (int): Most inverted lists. Defaults to 4096.
        pq_bytes (int): Target PQ code size. Defaults to 64.
        refine (str): ``'RFlat'`` re-ranks candidates with exact vectors,
            ``'Refine(SQ8)'`` with 8-bit scalar-quantized ones, ``''`` not at all.

    Returns:
        str: e.g. ``'IVF4096,PQ64x8,RFlat'`` for 1M 512-d vectors.
    """
    if num_vectors < 1 or dim < 1:
        raise ValueError(
            f'ivfpq_factory needs num_vectors >= 1 and dim >= 1, got {num_vectors} and {dim}'
        )
    nlist = 2 ** round(math.log2(max(1.0, 4 * math.sqrt(num_vectors))))
    nlist = max(1, min(nlist, max_nlist, num_vectors // 39))
    m = max(d for d in range(1, max(1, min(pq_bytes, dim // 4)) + 1) if dim % d == 0)
    nbits = max(1, min(8, int(math.log2(num_vectors))))
    spec = f'IVF{nlist},PQ{m}x{nbits}'
    return f'{spec},{refine}' if refine else spec
