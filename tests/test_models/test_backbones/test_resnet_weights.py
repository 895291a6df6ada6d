# Copyright (c) tpr_mm contributors. All rights reserved.
"""ImageNet ResNet checkpoints in torchvision and MMPretrain key layouts -> MMPretrain ResNet."""

import pytest
import torch
import torchvision

from tpr_mm.models.backbones import PartPoolingResNet, convert_resnet_state_dict
from tpr_mm.registry import MODELS

RESNET18 = dict(type='mmpretrain.ResNet', depth=18, strides=(1, 2, 2, 1), out_indices=(3,))


@pytest.fixture(scope='module')
def torchvision_resnet18():
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None)
    for m in net.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _last_stride_one(net):
    """TIPCB's edit of a torchvision ResNet: layer4's first block without stride."""
    block = net.layer4[0]
    (block.conv2 if hasattr(block, 'conv3') else block.conv1).stride = (1, 1)
    block.downsample[0].stride = (1, 1)
    return net


def _torchvision_map(net, img):
    x = net.maxpool(net.relu(net.bn1(net.conv1(img))))
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


@pytest.mark.parametrize('layout', ['torchvision', 'mmpretrain'])
def test_checkpoint_layouts_load_and_match_torchvision(torchvision_resnet18, tmp_path, layout):
    state = torchvision_resnet18.state_dict()
    if layout == 'mmpretrain':
        # ImageClassifier checkpoint: backbone.* + head.fc.*, wrapped with meta.
        body = {f'backbone.{k}': v for k, v in state.items() if not k.startswith('fc.')}
        body['head.fc.weight'], body['head.fc.bias'] = state['fc.weight'], state['fc.bias']
        state = {'meta': {'epoch': 100}, 'state_dict': body}
    path = tmp_path / f'{layout}.pth'
    torch.save(state, path)
    enc = PartPoolingResNet(RESNET18, pretrained=str(path)).eval()
    own = enc.resnet.state_dict()
    for key, value in torchvision_resnet18.state_dict().items():
        if not key.startswith('fc.'):
            assert torch.equal(own[key], value), key
    enc.init_weights()  # must not overwrite the ImageNet weights
    assert torch.equal(enc.resnet.conv1.weight, torchvision_resnet18.conv1.weight)
    img = torch.randn(2, 3, 96, 32)
    with torch.no_grad():
        ref = _torchvision_map(_last_stride_one(torchvision_resnet18), img)
        out = enc(img)
    assert out['feature_map'].shape == (2, 512, 6, 2)  # stride 16: last stride 1
    torch.testing.assert_close(out['feature_map'], ref, rtol=1e-4, atol=1e-5)


def test_resnet50_structure_and_keys_equal_tipcb_torchvision():
    with torch.device('meta'):
        tv = _last_stride_one(torchvision.models.resnet50(weights=None))
    ours = MODELS.build(dict(RESNET18, depth=50))
    converted, layout = convert_resnet_state_dict(tv.state_dict())
    assert layout == 'torchvision'
    own = ours.state_dict()
    assert set(converted) == set(own)
    assert all(converted[k].shape == own[k].shape for k in own)
    # Stride placement of MMPretrain's 'pytorch' style = torchvision's (v1.5) = TIPCB's edit.
    for name in ('layer2', 'layer3', 'layer4'):
        theirs, mine = getattr(tv, name)[0], getattr(ours, name)[0]
        assert mine.conv2.stride == theirs.conv2.stride and mine.conv1.stride == (1, 1)
        assert mine.downsample[0].stride == theirs.downsample[0].stride
    assert ours.layer4[0].conv2.stride == (1, 1)


def test_old_torchvision_file_without_bn_counters_loads(torchvision_resnet18, tmp_path):
    state = {k: v for k, v in torchvision_resnet18.state_dict().items() if 'num_batches' not in k}
    torch.save(state, tmp_path / 'old.pth')
    enc = PartPoolingResNet(RESNET18, pretrained=str(tmp_path / 'old.pth'))
    assert torch.equal(enc.resnet.layer1[0].bn1.running_var, state['layer1.0.bn1.running_var'])


def test_bad_checkpoints_name_the_file(torchvision_resnet18, tmp_path):
    state = torchvision_resnet18.state_dict()
    cases = {
        'missing': {k: v for k, v in state.items() if k != 'layer2.0.conv1.weight'},
        'extra': dict(state, **{'layer5.0.conv1.weight': torch.zeros(1)}),
        'shape': dict(state, **{'conv1.weight': torch.zeros(64, 3, 3, 3)}),
    }
    messages = {
        'missing': "missing keys \\['layer2.0.conv1.weight'\\]",
        'extra': "unexpected keys \\['layer5.0.conv1.weight'\\]",
        'shape': r'conv1.weight: file \(64, 3, 3, 3\) vs model \(64, 3, 7, 7\)',
    }
    for name, bad in cases.items():
        path = tmp_path / f'{name}.pth'
        torch.save(bad, path)
        with pytest.raises(RuntimeError, match=messages[name]) as err:
            PartPoolingResNet(RESNET18, pretrained=str(path))
        assert str(path) in str(err.value) and 'torchvision layout' in str(err.value)
    with pytest.raises(FileNotFoundError, match='no_such.pth'):
        PartPoolingResNet(RESNET18, pretrained=str(tmp_path / 'no_such.pth'))
    (tmp_path / 'text.pth').write_text('not a checkpoint')
    with pytest.raises(RuntimeError, match='text.pth'):
        PartPoolingResNet(RESNET18, pretrained=str(tmp_path / 'text.pth'))
    torch.save([1, 2], tmp_path / 'list.pth')
    with pytest.raises(RuntimeError, match='list.pth holds no state dict'):
        PartPoolingResNet(RESNET18, pretrained=str(tmp_path / 'list.pth'))
