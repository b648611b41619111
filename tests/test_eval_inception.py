"""The FID Inception-v3: architecture, pytorch-fid key names, loading (random weights; the real ones can't be had here)."""

from __future__ import annotations

import pytest
import torch

from apdraw.models.inception import (
    WEIGHTS_FILENAME,
    FIDInceptionV3,
    fid_inception_v3,
    inception_weights_path,
    load_fid_state_dict,
)

# Names and shapes from pytorch-fid's weight file layout (torchvision Inception3
# names, 1008 classes, no aux classifier).
EXPECTED_SHAPES = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_1a_3x3.bn.running_var": (32,),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5d.branch5x5_2.conv.weight": (64, 48, 5, 5),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
    "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
    "Mixed_7b.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}


@pytest.fixture(scope="module")
def net() -> FIDInceptionV3:
    torch.manual_seed(0)
    return FIDInceptionV3().eval()


def test_state_dict_names_shapes_and_size(net):
    state = net.state_dict()
    for key, shape in EXPECTED_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    assert not any(k.startswith("AuxLogits") for k in state)
    # torchvision's inception_v3 has 27,161,264 parameters; minus the aux head
    # (3,326,696) plus 8 more classes (8 * 2049) gives the FID graph's size.
    assert sum(p.numel() for p in net.parameters()) == 27_161_264 - 3_326_696 + 8 * 2049
    assert all(isinstance(m.eps, float) and m.eps == 1e-3 for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_block_shapes(net):
    with torch.inference_mode():
        early = net.blocks(torch.rand(1, 3, 299, 299), upto=2)  # pytorch-fid's 64- and 192-d blocks at 299
        blocks = net.blocks(torch.rand(1, 3, 139, 139))  # all four blocks, smaller input to stay fast
        small = net(torch.rand(2, 3, 75, 75))  # the smallest input the graph accepts
    assert [tuple(b.shape) for b in early] == [(1, 64, 73, 73), (1, 192, 35, 35)]
    assert [tuple(b.shape) for b in blocks] == [(1, 64, 33, 33), (1, 192, 15, 15), (1, 768, 7, 7), (1, 2048, 1, 1)]
    assert small.shape == (2, 2048)
    assert torch.all(blocks[-1] >= 0)  # pool3 follows ReLUs


def test_save_load_round_trip(net, tmp_path):
    path = tmp_path / WEIGHTS_FILENAME
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, path)  # like the ported file: no num_batches_tracked entries
    with pytest.warns(UserWarning, match="sha256"):
        loaded = fid_inception_v3(path)
    x = torch.rand(1, 3, 80, 80)
    with torch.inference_mode():
        assert torch.equal(loaded(x), net(x))
    assert not loaded.training


def test_loader_rejects_other_networks(net):
    state = net.state_dict()
    del state["Mixed_7c.branch_pool.conv.weight"]
    state["AuxLogits.fc.weight"] = torch.zeros(1)
    with pytest.raises(KeyError, match="1 missing key.*1 unexpected"):
        load_fid_state_dict(FIDInceptionV3(), state)


def test_weights_path_lookup(tmp_path, monkeypatch):
    for var in ("APDRAW_INCEPTION_WEIGHTS", "TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with pytest.raises(FileNotFoundError, match="--inception-weights"):
        inception_weights_path()
    cached = tmp_path / "torch" / "hub" / "checkpoints" / WEIGHTS_FILENAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert inception_weights_path() == cached
    env_file = tmp_path / "mine.pth"
    env_file.write_bytes(b"x")
    monkeypatch.setenv("APDRAW_INCEPTION_WEIGHTS", str(env_file))
    assert inception_weights_path() == env_file
    assert inception_weights_path(cached) == cached  # an explicit path wins
    with pytest.raises(FileNotFoundError, match="no such file"):
        inception_weights_path(tmp_path / "absent.pth")


def test_batchnorm_folding_keeps_outputs(net):
    import copy

    from apdraw.eval.features import fuse_conv_bn

    noisy = copy.deepcopy(net)
    g = torch.Generator().manual_seed(1)
    for m in noisy.modules():  # non-trivial statistics, so folding has something to get right
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    fused = fuse_conv_bn(copy.deepcopy(noisy))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = torch.rand(1, 3, 75, 75)
    with torch.inference_mode():
        for a, b in zip(noisy.blocks(x), fused.blocks(x)):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(a.abs().max()))
