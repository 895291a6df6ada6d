# Copyright (c) tpr_mm contributors. All rights reserved.
"""Provenance: ported modules name their public source; no citation of files outside the repo.

Modules are found by file name under ``tpr_mm/`` (so a move between packages keeps the check),
and the ``<owner>/<repo>:<path>`` reference must sit in a docstring of the module, its classes or
its functions, not merely in a comment.
"""

import ast
import re
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / 'tpr_mm'

IRRA = 'anosorae/IRRA'
CFINE = 'shuanglinyan/CFine'
RDE = 'QinYang79/RDE'
CLUSTER_CONTRAST = 'alibaba/cluster-contrast-reid'
TIPCB = 'OrangeYHChen/TIPCB'
CLPC = 'LeviWeiZhi/CLPC'
OPEN_CLIP = 'mlfoundations/open_clip'

#: File name of every module that ports a formula or behaviour from public code -> the
#: repositories its docstrings must name (each as ``owner/repo:path``).
PORTED = {
    # IRRA (CLIP + SDM baseline, datasets, evaluation, optimiser)
    'sdm_loss.py': [IRRA],
    'id_loss.py': [IRRA],
    'itc_loss.py': [IRRA],
    'pseudo_sdm_loss.py': [IRRA],
    'irra_optim_constructor.py': [IRRA],
    'reference.py': [IRRA],
    'ranking.py': [IRRA],
    'feature_ranking.py': [IRRA],
    'retrieval_metric.py': [IRRA],
    'retrieval_loop.py': [IRRA],
    'base_text_reid.py': [IRRA],
    'cuhk_pedes.py': [IRRA],
    'icfg_pedes.py': [IRRA],
    'rstp_reid.py': [IRRA],
    'identity_sampler.py': [IRRA],
    'processing.py': [IRRA],
    'tokenize.py': [IRRA],
    'text_reid_preprocessor.py': [IRRA],
    'clip_weights.py': [IRRA],
    'open_clip_backbone.py': [OPEN_CLIP, IRRA],
    'clip_tokens.py': [OPEN_CLIP],
    # IRRA's implicit relation reasoning (masked captions, cross-modal encoder, MLM)
    'mask_caption.py': [IRRA],
    'irr_encoder.py': [IRRA],
    'mlm_head.py': [IRRA],
    'mlm_loss.py': [IRRA],
    'irra_head.py': [IRRA],
    'irra_retriever.py': [IRRA],
    # CFine
    'cmpm_loss.py': [CFINE],
    'cmpc_loss.py': [CFINE],
    'diversity_loss.py': [CFINE],
    'ranking_loss.py': [CFINE],
    'mgf_neck.py': [CFINE],
    'token_selection.py': [CFINE],
    'residual_cross_attention.py': [CFINE],
    'cfr_head.py': [CFINE],
    'fcd_head.py': [CFINE],
    'cfine_head.py': [CFINE],
    'cfine_retriever.py': [CFINE],
    # cluster-contrast and CLPC (CPCL's clustering, memory and prototype losses)
    'jaccard.py': [CLUSTER_CONTRAST],
    'pseudo_labels.py': [CLUSTER_CONTRAST],
    'pseudo_label_hook.py': [CLUSTER_CONTRAST],
    'prototype_memory.py': [CLUSTER_CONTRAST],
    'prototype_contrast_loss.py': [CLUSTER_CONTRAST],
    'oplm.py': [CLPC],
    # TIPCB (LCR²S's published ResNet-50 + BERT/TextCNN towers)
    'text_cnn.py': [TIPCB],
    'part_resnet.py': [TIPCB],
    'resnet_bert_textcnn.py': [TIPCB],
    # RDE
    'tal_loss.py': [RDE],
    'rde_head.py': [RDE],
    'rde_retriever.py': [RDE],
    'token_selection_embedding.py': [RDE],
    'clean_division.py': [RDE],
    'consensus_division_hook.py': [RDE],
    'loss_pass.py': [RDE],
    'caption_token_aug.py': [RDE],
    'noisy_correspondence.py': [RDE],
}

#: Spec notes that live outside the repository; product files must point at docs/ instead.
OUTSIDE_FILES = re.compile(r'methods\.md|peers\.md|shared/reference')
SCANNED = ('tpr_mm', 'configs', 'tools', 'docs', 'projects')
TEXT_SUFFIXES = {'.py', '.md', '.yml', '.yaml', '.txt', '.json', '.cfg', '.toml'}


def _docstrings(path: Path) -> str:
    """Every docstring of the module, its classes and functions (nested too), joined."""
    tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
    nodes = [tree] + [
        n
        for n in ast.walk(tree)
        if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    return '\n'.join(ast.get_docstring(n) or '' for n in nodes)


def _find_module(name: str) -> Path:
    matches = sorted(PACKAGE.rglob(name))
    assert len(matches) == 1, (
        f'expected exactly one {name} under tpr_mm/ (listed in PORTED of {__file__}), '
        f'found {[str(m.relative_to(ROOT)) for m in matches]}'
    )
    return matches[0]


def test_no_reference_to_files_outside_the_repository():
    offenders: List[str] = []
    files = [ROOT / 'README.md'] + [
        p
        for top in SCANNED
        if (ROOT / top).is_dir()
        for p in sorted((ROOT / top).rglob('*'))
        if p.is_file() and p.suffix in TEXT_SUFFIXES and '__pycache__' not in p.parts
    ]
    for path in files:
        for lineno, line in enumerate(path.read_text(encoding='utf-8').splitlines(), 1):
            if OUTSIDE_FILES.search(line):
                offenders.append(f'{path.relative_to(ROOT)}:{lineno}: {line.strip()}')
    assert not offenders, 'cite a docs/ page instead of files outside the repository:\n' + (
        '\n'.join(offenders)
    )


def test_scan_catches_a_citation():
    # The pattern the scan relies on matches the citation forms that used to be in the code.
    for text in ('(methods.md §4.2)', '(peers.md §1.4)', '/work/shared/reference/x.md'):
        assert OUTSIDE_FILES.search(text), text
    assert not OUTSIDE_FILES.search('docs/methods/cpcl.md#defaults-and-their-sources')


@pytest.mark.parametrize('name', sorted(PORTED))
def test_ported_module_names_its_source(name):
    path = _find_module(name)
    docs = _docstrings(path)
    for repo in PORTED[name]:
        # ``owner/repo:path/to/file.ext`` (the path may be wrapped onto the next line).
        pattern = re.escape(repo) + r':\s*[\w./-]+\.\w+'
        assert re.search(pattern, docs), (
            f'{path.relative_to(ROOT)}: no docstring names its source as `{repo}:<path>`'
        )
