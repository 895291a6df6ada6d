# Copyright (c) tpr_mm contributors. All rights reserved.
"""CFR / FCD scores of CFine against explicit loops, and the CFine head's switches."""

import pytest
import torch

from tpr_mm.models.heads import CFineHead, CFRHead, FCDHead
from tpr_mm.models.heads.cfr_head import cross_grained_scores
from tpr_mm.models.heads.fcd_head import fine_grained_scores
from tpr_mm.structures import RetrievalFeatures, TextReIDDataSample


def _unit(x):
    return x / x.norm()


def _softpool(values):
    m = max(values)
    w = [torch.exp(torch.tensor(v - m)).item() for v in values]
    z = sum(w)
    return sum(wi / z * v for wi, v in zip(w, values))


def _loop_cfr(gi, pi, gt, wt, pmask, wmask, tau):
    n_i, n_t = gi.shape[0], gt.shape[0]
    out = torch.zeros(n_i, n_t, dtype=torch.float64)
    for i in range(n_i):
        for j in range(n_t):
            iw = [
                float(_unit(gi[i]) @ _unit(wt[j, k])) / tau
                for k in range(wt.shape[1])
                if wmask[j, k]
            ]
            pt = [
                float(_unit(pi[i, k]) @ _unit(gt[j])) / tau
                for k in range(pi.shape[1])
                if pmask[i, k]
            ]
            out[i, j] = ((_softpool(iw) if iw else 0.0) + (_softpool(pt) if pt else 0.0)) / 2
    return out


def _loop_fcd(patches, words, pmask, wmask, tau, kw, kp):
    n = patches.shape[0]
    omega, omega_ok, pi, pi_ok = [], [], [], []
    for i in range(n):
        pv = [p for p in range(patches.shape[1]) if pmask[i, p]]
        wv = [w for w in range(words.shape[1]) if wmask[i, w]]
        c = {}
        for p in pv:
            cos = {w: float(_unit(patches[i, p]) @ _unit(words[i, w])) for w in wv}
            z = sum(torch.exp(torch.tensor(v)).item() for v in cos.values())
            for w in wv:
                c[p, w] = torch.exp(torch.tensor(cos[w])).item() / z
        om, ok = [], []
        for p in range(patches.shape[1]):
            best = sorted(wv, key=lambda w: -c[p, w])[:kw] if p in pv else []
            om.append(_unit(sum(words[i, w] for w in best) / len(best)) if best else None)
            ok.append(bool(best))
        pp, pok = [], []
        for w in range(words.shape[1]):
            best = sorted(pv, key=lambda p: -c[p, w])[:kp] if w in wv else []
            pp.append(_unit(sum(patches[i, p] for p in best) / len(best)) if best else None)
            pok.append(bool(best))
        omega.append(om), omega_ok.append(ok), pi.append(pp), pi_ok.append(pok)
    out = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            pw = [
                float(_unit(patches[i, p]) @ omega[j][p])
                for p in range(patches.shape[1])
                if pmask[i, p] and omega_ok[j][p]
            ]
            wp = [
                float(pi[i][w] @ _unit(words[j, w]))
                for w in range(words.shape[1])
                if pi_ok[i][w] and wmask[j, w]
            ]
            s_pw = sum(pw) / len(pw) if pw else 0.0
            s_wp = sum(wp) / len(wp) if wp else 0.0
            out[i, j] = (s_pw + s_wp) / (2 * tau)
    return out


@pytest.mark.parametrize('n_i,n_t,kv,kt', [(1, 1, 1, 1), (3, 5, 4, 7), (4, 2, 5, 3)])
def test_cfr_matches_loop(n_i, n_t, kv, kt):
    g = torch.Generator().manual_seed(n_i * 7 + kt)
    gi, gt = torch.randn(n_i, 6, generator=g).double(), torch.randn(n_t, 6, generator=g).double()
    pi = torch.randn(n_i, kv, 6, generator=g).double()
    wt = torch.randn(n_t, kt, 6, generator=g).double()
    pmask = torch.rand(n_i, kv, generator=g) > 0.3
    wmask = torch.rand(n_t, kt, generator=g) > 0.3
    wmask[:, 0] = True
    got = cross_grained_scores(gi, pi, gt, wt, pmask, wmask, temperature=0.07)
    want = _loop_cfr(gi, pi, gt, wt, pmask, wmask, 0.07)
    assert torch.allclose(got, want, atol=1e-9)
    full = cross_grained_scores(gi, pi, gt, wt, None, None, temperature=0.5)
    ones_p, ones_w = torch.ones(n_i, kv, dtype=torch.bool), torch.ones(n_t, kt, dtype=torch.bool)
    assert torch.allclose(full, _loop_cfr(gi, pi, gt, wt, ones_p, ones_w, 0.5), atol=1e-9)


def test_cfr_text_without_valid_word_is_finite():
    g = torch.Generator().manual_seed(0)
    gi, gt = torch.randn(2, 4, generator=g), torch.randn(2, 4, generator=g)
    pi, wt = torch.randn(2, 3, 4, generator=g), torch.randn(2, 2, 4, generator=g)
    wmask = torch.tensor([[True, False], [False, False]])
    out = cross_grained_scores(gi, pi, gt, wt, None, wmask)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize('n,kv,kt,k', [(1, 3, 4, 3), (4, 5, 6, 3), (3, 7, 4, 2), (5, 4, 9, 5)])
@pytest.mark.parametrize('masked', [False, True])
def test_fcd_matches_loop(n, kv, kt, k, masked):
    g = torch.Generator().manual_seed(n * 100 + kv * 10 + kt + masked)
    patches = torch.randn(n, kv, 5, generator=g).double()
    words = torch.randn(n, kt, 5, generator=g).double()
    pmask = torch.ones(n, kv, dtype=torch.bool)
    wmask = torch.ones(n, kt, dtype=torch.bool)
    if masked:  # short captions: trailing word slots invalid, and a patch slot too
        for i in range(n):
            wmask[i, max(2, kt - i - 1) :] = False  # >= 2 words: one word ties all patches
        pmask[0, -1] = False
    got = fine_grained_scores(
        patches,
        words,
        pmask if masked else None,
        wmask if masked else None,
        temperature=0.01,
        k_word=k,
        k_patch=k,
    )
    want = _loop_fcd(patches, words, pmask, wmask, 0.01, k, k)
    assert torch.allclose(got, want, atol=1e-7, rtol=1e-9)


def test_fcd_is_position_indexed_not_rematched():
    # Reordering the word slots of text 0 keeps its own pair's score (partners move with the
    # words) but changes its scores against other images: word w of text 0 now meets the
    # patches matched to a different word slot of pair i.
    g = torch.Generator().manual_seed(3)
    patches, words = torch.randn(3, 4, 6, generator=g), torch.randn(3, 4, 6, generator=g)
    base = fine_grained_scores(patches, words)
    perm = words.clone()
    perm[0] = words[0, [1, 0, 3, 2]]
    moved = fine_grained_scores(patches, perm)
    assert torch.allclose(base[0, 0], moved[0, 0], atol=1e-5)
    assert not torch.allclose(base[1:, 0], moved[1:, 0], atol=1e-3)
    assert torch.allclose(base[1:, 1:], moved[1:, 1:], atol=1e-5)  # pair 0 not involved


def _mgf_dict(n, k, groups, d, seed):
    g = torch.Generator().manual_seed(seed)
    return dict(
        global_token=torch.randn(n, d, generator=g),
        selected=torch.randn(n, groups * k, d, generator=g),
        selected_mask=torch.ones(n, groups * k, dtype=torch.bool),
        group_size=k,
        feats=[torch.randn(n, d, generator=g) for _ in range(groups + 1)],
    )


def test_heads_consume_mgf_dicts():
    img, txt = _mgf_dict(4, 3, 2, 8, 0), _mgf_dict(4, 5, 2, 8, 1)
    cfr = CFRHead(temperature=0.07)(img, txt)
    assert torch.allclose(
        cfr,
        cross_grained_scores(
            img['global_token'], img['selected'], txt['global_token'], txt['selected']
        ),
    )
    fcd = FCDHead(temperature=0.01)(img, txt)
    assert torch.allclose(fcd, fine_grained_scores(img['selected'][:, :3], txt['selected'][:, :5]))


def _head(**switch):
    scorers = dict(cfr=dict(type='CFRHead'), fcd=dict(type='FCDHead'))
    losses = dict(
        cmpm=dict(type='CMPMLoss'),
        cmpc=dict(type='CMPCLoss', in_channels=8, num_classes=3),
        diversity=dict(type='DiversityLoss'),
        ranking=dict(type='HardestNegativeRankingLoss'),
    )
    for key, value in switch.items():
        (scorers if key in scorers else losses)[key] = value
    return CFineHead(losses=losses, **scorers)


def _feats(img, txt):
    return RetrievalFeatures(
        img['feats'][0],
        txt['feats'][0],
        img_levels=img['feats'],
        text_levels=txt['feats'],
        extras={'img_mgf': img, 'text_mgf': txt},
    )


def _samples(labels):
    return [TextReIDDataSample(metainfo=dict(pid=int(p))) for p in labels]


def test_cfine_head_switches():
    img, txt = _mgf_dict(4, 3, 2, 8, 0), _mgf_dict(4, 5, 2, 8, 1)
    labels = torch.tensor([0, 1, 2, 1])
    full = _head()
    out = full.loss(_feats(img, txt), _samples(labels))
    assert set(out) == {'loss_cmpm', 'loss_cmpc', 'loss_div', 'loss_rank'}
    assert torch.allclose(full.scores(img, txt), full.cfr(img, txt) + full.fcd(img, txt))
    no_cfr = _head(cfr=None)
    assert torch.allclose(no_cfr.scores(img, txt), full.fcd(img, txt))
    no_fcd = _head(fcd=None)
    assert torch.allclose(no_fcd.scores(img, txt), full.cfr(img, txt))
    only = _head(cfr=None, fcd=None, ranking=None, diversity=None)
    assert set(only.loss(_feats(img, txt), _samples(labels))) == {'loss_cmpm', 'loss_cmpc'}
    # MGF off: only the global level reaches the losses.
    img1, txt1 = dict(img, feats=img['feats'][:1]), dict(txt, feats=txt['feats'][:1])
    out = full.loss(_feats(img1, txt1), _samples(labels))
    assert out['loss_div'].item() == 0.0 and torch.isfinite(out['loss_cmpm'])
    with pytest.raises(ValueError, match=r"needs \['scores'\]"):
        _head(cfr=None, fcd=None)
    with pytest.raises(ValueError, match='only used by the ranking'):
        _head(ranking=None)
