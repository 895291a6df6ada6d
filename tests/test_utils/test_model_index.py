# Copyright (c) tpr_mm contributors. All rights reserved.
"""model-index.yml and configs/metafiles/*.yml agree with configs/ and with the published tables."""

import glob
import os

import pytest
import yaml

from tpr_mm.utils.model_index import (
    KINDS,
    imported_metafiles,
    load_metafile,
    load_model_index,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INDEX = os.path.join(ROOT, 'model-index.yml')
# Which metafile owns a config, by name prefix. lcr2s / irra / rde are written on other branches;
# a metafile that is absent here leaves its configs unchecked (listed below), never unowned.
OWNERS = {
    'clip_baseline.yml': ('clip_sdm_', 'clip_itc_weak_', 'clip_itc_pretrain_'),
    'cpcl.yml': ('cpcl_',),
    'cfine.yml': ('cfine_',),
    'lcr2s.yml': ('lcr2s_',),
    'irra.yml': ('irra_',),
    'rde.yml': ('rde_',),
}
EXPECTED_IMPORTS = [f'configs/metafiles/{name}' for name in OWNERS]
OPTIONAL = {'lcr2s.yml', 'irra.yml', 'rde.yml'}


def _leaf_configs():
    paths = glob.glob(os.path.join(ROOT, 'configs', '*.py'))
    paths += glob.glob(os.path.join(ROOT, 'configs', 'ablations', '*.py'))
    return sorted(os.path.relpath(p, ROOT) for p in paths)


def _owner(config):
    stem = os.path.splitext(os.path.basename(config))[0]
    owners = [m for m, prefixes in OWNERS.items() if stem.startswith(prefixes)]
    assert len(owners) == 1, f'{config}: no metafile family (or several) owns it: {owners}'
    return owners[0]


def test_index_imports_every_metafile_and_only_optional_ones_are_missing():
    assert imported_metafiles(INDEX) == EXPECTED_IMPORTS
    missing = {
        os.path.basename(p) for p in EXPECTED_IMPORTS if not os.path.isfile(os.path.join(ROOT, p))
    }
    assert missing <= OPTIONAL, missing
    if missing:  # a partial checkout: strict loading refuses, the default skips with a warning
        with pytest.raises(FileNotFoundError, match='does not exist'):
            load_model_index(INDEX, strict=True)
    assert load_model_index(INDEX, strict=not missing)


def test_every_leaf_config_is_listed_and_every_listed_config_exists():
    models = load_model_index(INDEX)
    by_config = {m.config: m for m in models.values()}
    unchecked = []
    for config in _leaf_configs():
        metafile = _owner(config)
        if not os.path.isfile(os.path.join(ROOT, 'configs', 'metafiles', metafile)):
            unchecked.append(config)
            continue
        assert config in by_config, f'{config} is not listed in configs/metafiles/{metafile}'
        entry = by_config[config]
        assert os.path.basename(entry.metafile) == metafile
        assert entry.name == os.path.splitext(os.path.basename(config))[0]
    for entry in models.values():
        assert os.path.isfile(os.path.join(ROOT, entry.config)), entry.config
    assert set(unchecked) <= {c for c in _leaf_configs() if _owner(c) in OPTIONAL}


def test_training_data_kind_and_results_follow_the_config():
    models = load_model_index(INDEX)
    suffix_data = {
        'cuhk': 'CUHK-PEDES',
        'icfg': 'ICFG-PEDES',
        'rstp': 'RSTPReid',
        'synthetic': 'Synthetic',
        'standin': 'Synthetic',  # the synthetic pretraining corpus of the CLIP stand-in
    }
    for name, entry in models.items():
        suffix = next(s for s in suffix_data if f'_{s}' in f'_{name}')
        assert entry.training_data == suffix_data[suffix], name
        assert entry.kind in KINDS
        if entry.training_data == 'Synthetic':
            assert not entry.published, name
        elif os.path.basename(entry.metafile) in ('clip_baseline.yml', 'cpcl.yml', 'cfine.yml'):
            assert {'Rank-1', 'Rank-5', 'Rank-10'} <= set(entry.published), name


def test_published_numbers_of_this_branch():
    models = load_model_index(INDEX)
    assert models['cfine_bert_published_icfg'].kind == 'published'
    assert models['cfine_bert_published_rstp'].published == {
        'Rank-1': 50.55,
        'Rank-5': 72.50,
        'Rank-10': 81.60,
    }
    assert models['cfine_cuhk'].kind == 'adaptation'
    assert models['cpcl_icfg'].published['mINP'] == 6.31
    assert models['clip_itc_weak_rstp'].published['Rank-1'] == 54.90
    assert models['clip_sdm_cuhk'].published['mAP'] == 61.12


def test_malformed_metafile_names_file_model_and_field(tmp_path):
    good = yaml.safe_load(open(os.path.join(ROOT, 'configs', 'metafiles', 'cfine.yml')))
    bad = dict(good, Models=[dict(good['Models'][0])])
    bad['Models'][0]['Metadata'] = dict(
        bad['Models'][0]['Metadata'], **{'Architecture Kind': 'ours'}
    )
    path = tmp_path / 'bad.yml'
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(
        ValueError, match=r"bad.yml: model 'cfine_bert_published_cuhk'.*Architecture Kind"
    ):
        load_metafile(str(path))
    bad['Models'][0] = dict(good['Models'][0], **{'In Collection': 'Nope'})
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match="collection 'Nope' is not in Collections"):
        load_metafile(str(path))
