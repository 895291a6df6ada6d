# Copyright (c) tpr_mm contributors. All rights reserved.
"""Every MMEngine checkpoint scheme (URLs, model-zoo names, s3) reads weights-only."""

import os
import shutil

import pytest
import torch
from mmengine.runner import CheckpointLoader
from mmengine.runner import checkpoint as mmengine_checkpoint

from tpr_mm.fileio import UnsafeCheckpointError, checkpoint_schemes, download_checkpoint


class _Reduce:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A fake web server: URL ``https://host/<name>`` serves ``tmp_path/served/<name>``."""
    served = tmp_path / 'served'
    served.mkdir()
    downloads = []

    def download(url, dst, **kwargs):
        downloads.append(url)
        shutil.copy(served / os.path.basename(url), dst)

    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    monkeypatch.setattr(torch.hub, 'download_url_to_file', download)
    return served, downloads


def _crafted(served, tmp_path, name='evil.pth'):
    marker = tmp_path / 'marker'
    torch.save(
        {'state_dict': {'w': torch.ones(1)}, 'x': _Reduce(open, str(marker), 'w')}, served / name
    )
    return marker


def _weights(path, **state):
    torch.save({'state_dict': {k: torch.full((2,), float(v)) for k, v in state.items()}}, path)


@pytest.mark.parametrize('forced_unsafe', [False, True])
def test_a_crafted_file_behind_a_url_is_refused_and_never_run(
    server, tmp_path, monkeypatch, forced_unsafe
):
    served, _ = server
    marker = _crafted(served, tmp_path)
    if forced_unsafe:
        monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with pytest.raises(UnsafeCheckpointError, match='Unsupported global: GLOBAL io.open'):
        CheckpointLoader.load_checkpoint('https://host/evil.pth')
    assert not marker.exists()
    # MMEngine's own loader would have run it: torch.hub passes weights_only=False.
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', raising=False)
    mmengine_checkpoint.load_from_http('https://host/evil.pth', map_location='cpu')
    assert marker.exists()


def test_urls_are_downloaded_once_into_the_hub_cache(server, tmp_path):
    served, downloads = server
    _weights(served / 'good.pth', w=3)
    for _ in range(2):
        ckpt = CheckpointLoader.load_checkpoint('https://host/good.pth', map_location='cpu')
        assert torch.equal(ckpt['state_dict']['w'], torch.full((2,), 3.0))
    assert downloads == ['https://host/good.pth']
    assert (tmp_path / 'hub' / 'checkpoints' / 'good.pth').is_file()
    with pytest.raises(ValueError, match='names no file'):
        download_checkpoint('https://host/')


def test_model_zoo_names_resolve_like_mmengine(server, tmp_path, monkeypatch):
    served, downloads = server
    _weights(served / 'resnet.pth', w=1)
    _weights(served / 'cls.pth', **{'backbone.w': 2, 'head.fc': 5})
    monkeypatch.setattr(
        mmengine_checkpoint,
        'get_torchvision_models',
        lambda: {'resnet50': 'https://host/resnet.pth'},
    )
    monkeypatch.setattr(
        mmengine_checkpoint, 'get_mmcls_models', lambda: {'r50': 'https://host/cls.pth'}
    )
    home = tmp_path / 'mmengine_home'
    (home / 'zoo').mkdir(parents=True)
    _weights(home / 'zoo' / 'local.pth', w=4)
    monkeypatch.setenv('MMENGINE_HOME', str(home))
    monkeypatch.setattr(
        mmengine_checkpoint,
        'get_external_models',
        lambda: {'new': 'https://host/resnet.pth', 'local': 'zoo/local.pth'},
    )
    monkeypatch.setattr(mmengine_checkpoint, 'get_deprecated_model_names', lambda: {'old': 'new'})

    def w(name):
        return CheckpointLoader.load_checkpoint(name, map_location='cpu')['state_dict']['w'][
            0
        ].item()

    assert w('torchvision://resnet50') == 1.0
    assert w('modelzoo://resnet50') == 1.0
    assert w('open-mmlab://old') == 1.0  # deprecated name -> its replacement
    assert w('openmmlab://local') == 4.0  # a file under MMEngine's home
    assert w('mmcls://r50') == 2.0  # only the backbone, prefix stripped
    assert list(CheckpointLoader.load_checkpoint('mmcls://r50')['state_dict']) == ['w']
    assert downloads == ['https://host/resnet.pth', 'https://host/cls.pth']
    with pytest.raises(KeyError, match="torchvision://resnet5: no checkpoint named 'resnet5'"):
        CheckpointLoader.load_checkpoint('torchvision://resnet5')


def test_s3_bytes_are_read_weights_only(tmp_path, monkeypatch):
    served = tmp_path / 'bucket'
    served.mkdir()
    marker = _crafted(served, tmp_path)

    class Backend:
        def get(self, filename):
            return (served / os.path.basename(filename)).read_bytes()

    monkeypatch.setattr('mmengine.fileio.get_file_backend', lambda *a, **k: Backend())
    with pytest.raises(UnsafeCheckpointError):
        CheckpointLoader.load_checkpoint('s3://bucket/evil.pth')
    assert not marker.exists()


def test_a_failed_download_on_rank0_reaches_the_other_ranks(monkeypatch):
    """Rank 1 does not wait for ever: it gets rank 0's error from the broadcast."""
    sent = ['OSError: HTTP Error 404: Not Found']

    def broadcast(objects, src=0):
        objects[:] = sent

    monkeypatch.setattr(checkpoint_schemes, 'get_dist_info', lambda: (1, 2))
    monkeypatch.setattr(checkpoint_schemes, 'broadcast_object_list', broadcast)
    with pytest.raises(
        RuntimeError, match='rank 0 could not download the checkpoint: OSError: HTTP Error 404'
    ):
        checkpoint_schemes.load_from_http('https://host/missing.pth')


def test_every_mmengine_scheme_is_replaced():
    schemes = CheckpointLoader._schemes  # read-only look at the registry the tests must cover
    for prefix, loader in schemes.items():
        assert loader.__module__.startswith('tpr_mm.fileio'), (prefix, loader)
