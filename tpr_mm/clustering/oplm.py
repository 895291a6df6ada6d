# Copyright (c) tpr_mm contributors. All rights reserved.
"""Outlier Pseudo Label Mining (OPLM): recover outliers through their pair.

Two rules (``rule=``):

* ``'paired'`` (default): both modalities; an outlier copies the label of the
  most similar *clustered* sample among the pairs of its partner's cluster;
  reads the labels before mining (order-independent); optional gate.
* ``'clpc'``: the rule of CLPC's public code (LeviWeiZhi/CLPC:
  utils/cluster_utils.py ``pseudo_labels_mining``): image labels only, in
  index order and in place, from the most similar image of the caption's
  cluster whether or not that image is clustered.

Source: LeviWeiZhi/CLPC:utils/cluster_utils.py (``pseudo_labels_mining``).
"""

from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]
# Entries of one query-by-candidate similarity block (16 MiB of float32).
_SIM_BLOCK = 1 << 22
OPLM_RULES = ('paired', 'clpc')


def _as_numpy(x: ArrayLike, dtype) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _normalised_means(feats: np.ndarray, labels: np.ndarray) -> np.ndarray:
    num = int(labels.max()) + 1 if labels.size else 0
    sums = np.zeros((max(num, 0), feats.shape[1]), dtype=np.float64)
    keep = labels >= 0
    np.add.at(sums, labels[keep], feats[keep])
    return _unit_rows(sums)


def mine_one_modality(
    labels: np.ndarray,
    paired_labels: np.ndarray,
    feats: np.ndarray,
    gate_threshold: Optional[float] = None,
) -> np.ndarray:
    """Fill one modality's outliers using the clusters of the paired modality.

    For pair i with ``labels[i] == -1`` and ``paired_labels[i] == c != -1``,
    the candidates are the pairs j with ``paired_labels[j] == c`` and
    ``labels[j] != -1``; i takes ``labels[j*]`` with
    ``j* = argmax_j cos(feats[i], feats[j])`` (first j on ties). With a
    gate, the new label is kept only if ``cos(feats[i], proto[label]) >=
    gate_threshold`` where ``proto`` are the normalised cluster means before
    mining. Only the labels given as input are read, so the result does not
    depend on the order of the outliers.

    Args:
        labels (np.ndarray): (N,) labels of the modality to fill.
        paired_labels (np.ndarray): (N,) labels of the other modality.
        feats (np.ndarray): (N, D) unit features of the modality to fill.
        gate_threshold (float, optional): delta of the reliability gate.

    Returns:
        np.ndarray: (N,) int64 mined labels.
    """
    out = labels.copy()
    todo = np.flatnonzero((labels < 0) & (paired_labels >= 0))
    if todo.size == 0:
        return out
    protos = _normalised_means(feats, labels) if gate_threshold is not None else None
    order = np.argsort(paired_labels, kind='stable')
    sorted_groups = paired_labels[order]
    for c in np.unique(paired_labels[todo]):
        lo, hi = np.searchsorted(sorted_groups, [c, c + 1])
        members = order[lo:hi]  # ascending index order (stable sort)
        cands = members[labels[members] >= 0]
        if cands.size == 0:
            continue
        queries = todo[paired_labels[todo] == c]
        # Queries in chunks: one giant cluster must not build a |Q| x |C| matrix.
        step = max(1, _SIM_BLOCK // cands.size)
        best = np.concatenate(
            [
                cands[np.argmax(feats[queries[s : s + step]] @ feats[cands].T, axis=1)]
                for s in range(0, queries.size, step)
            ]
        )
        new = labels[best]
        if protos is not None:
            accept = np.einsum('nd,nd->n', feats[queries], protos[new]) >= gate_threshold
            queries, new = queries[accept], new[accept]
        out[queries] = new
    return out


def mine_images_clpc(
    img_labels: np.ndarray, txt_labels: np.ndarray, img_feats: np.ndarray
) -> np.ndarray:
    """CLPC's ``pseudo_labels_mining`` (LeviWeiZhi/CLPC: utils/cluster_utils.py).

    Visits the pairs in index order. Pair i with image label -1 and text
    label ``c != -1`` finds, among the other pairs j of text cluster c, the
    one whose image feature has the largest dot product with its own, and
    copies that pair's *current* image label in place: it may still be -1
    (then i stays an outlier), or a label mined earlier in the same pass.
    Text labels are not changed. The similarity is the plain dot product of
    the given features (the hook passes L2-normalised ones: cosine); on exact
    ties the lowest index wins (CLPC's ``torch.argsort`` leaves ties
    unspecified).

    Args:
        img_labels (np.ndarray): (N,) image labels (-1 = outlier).
        txt_labels (np.ndarray): (N,) text labels.
        img_feats (np.ndarray): (N, D) image features.

    Returns:
        np.ndarray: (N,) int64 mined image labels.
    """
    out = img_labels.copy()
    todo = np.flatnonzero((img_labels < 0) & (txt_labels >= 0))
    if todo.size == 0:
        return out
    # The chosen partner depends on features and text labels only, never on
    # the labels being mined: find it per text cluster, then copy in order.
    partner = np.full(img_labels.shape[0], -1, dtype=np.int64)
    for c in np.unique(txt_labels[todo]):
        members = np.flatnonzero(txt_labels == c)
        if members.size < 2:
            continue
        bank = img_feats[members]
        queries = todo[txt_labels[todo] == c]
        step = max(1, _SIM_BLOCK // members.size)  # bounded (step, M) similarity blocks
        for start in range(0, queries.size, step):
            q = queries[start : start + step]
            sims = img_feats[q] @ bank.T
            sims[q[:, None] == members[None, :]] = -np.inf  # j != i
            partner[q] = members[np.argmax(sims, axis=1)]
    for i in todo:  # sequential: a later outlier may copy an earlier mined label
        if partner[i] >= 0:
            out[i] = out[partner[i]]
    return out


def outlier_pseudo_label_mining(
    img_labels: ArrayLike,
    txt_labels: ArrayLike,
    img_feats: ArrayLike,
    txt_feats: ArrayLike,
    gate_threshold: Optional[float] = None,
    rule: str = 'paired',
) -> Tuple[np.ndarray, np.ndarray, Dict[str, int]]:
    """OPLM of CPCL: fill outliers of one modality through the paired one.

    ``rule='paired'`` (default; CPCL's mechanism is not public, this is the
    reconstruction of its description "recovers valuable outlier samples of
    each modality"): an image outlier whose caption is clustered takes the
    image label of the most similar clustered image in its caption's text
    cluster; symmetrically for text outliers whose image is clustered. Both
    directions read the labels before mining. Pairs that are outliers in
    both modalities stay outliers.

    ``rule='clpc'``: :func:`mine_images_clpc`, CLPC's published code (image
    labels only; no gate). Features are L2-normalised here, so its dot
    product is a cosine (CLPC compares raw [CLS] features; the hook passes
    normalised ones either way).

    Args:
        img_labels (np.ndarray | Tensor): (N,) image labels per pair (-1 = outlier).
        txt_labels (np.ndarray | Tensor): (N,) text labels per pair.
        img_feats (np.ndarray | Tensor): (N, D) image features (normalised here).
        txt_feats (np.ndarray | Tensor): (N, D) text features.
        gate_threshold (float, optional): Reliability gate delta (cosine to the
            assigned cluster's prototype; e.g. 0.5). None disables the gate
            (default). ``'paired'`` only.
        rule (str): ``'paired'`` or ``'clpc'``.

    Returns:
        tuple: mined image labels (N,), mined text labels (N,) (int64), and
        ``dict(img_recovered=..., txt_recovered=...)`` counts.
    """
    if rule not in OPLM_RULES:
        raise ValueError(
            f'outlier_pseudo_label_mining: rule must be one of {OPLM_RULES}, got {rule!r}'
        )
    if rule == 'clpc' and gate_threshold is not None:
        raise ValueError(
            "outlier_pseudo_label_mining: rule='clpc' has no reliability gate; "
            'set gate_threshold=None'
        )
    yv = _as_numpy(img_labels, np.int64)
    yt = _as_numpy(txt_labels, np.int64)
    fv = _unit_rows(_as_numpy(img_feats, np.float32))
    ft = _unit_rows(_as_numpy(txt_feats, np.float32))
    n = yv.shape[0]
    if yv.shape != (n,) or yt.shape != (n,) or fv.shape[0] != n or ft.shape[0] != n:
        raise ValueError(
            'outlier_pseudo_label_mining: img_labels, txt_labels (N,) and '
            f'img_feats, txt_feats (N, D) must agree in N; got {yv.shape}, '
            f'{yt.shape}, {fv.shape}, {ft.shape}'
        )
    if rule == 'clpc':
        new_v, new_t = mine_images_clpc(yv, yt, fv), yt.copy()
    else:
        new_v = mine_one_modality(yv, yt, fv, gate_threshold)
        new_t = mine_one_modality(yt, yv, ft, gate_threshold)
    stats = {
        'img_recovered': int(((yv < 0) & (new_v >= 0)).sum()),
        'txt_recovered': int(((yt < 0) & (new_t >= 0)).sum()),
    }
    return new_v, new_t, stats
