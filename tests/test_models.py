"""The SegNet family: registry, presets (exact parameter counts), options, VGG16 initialisation, and
end-to-end bit-exactness of the two pooling modes, untrained and after training steps."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from segnet.errors import SegnetError
from segnet.models import (
    create_model,
    get_pool_mode,
    input_multiple,
    list_models,
    model_from_spec,
    set_pool_mode,
)
from segnet.models.vgg_weights import vgg16_conv_keys
from segnet.spec import ModelSpec

PRESETS = ["segnet_basic", "segnet_lite", "segnet_vgg16"]
SMALL = {"segnet_vgg16": 0.0625, "segnet_basic": 0.125, "segnet_lite": 0.125}  # 4-32 channels per conv


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_params(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def test_registry_lists_the_presets():
    assert list_models() == PRESETS


def test_unknown_model_names_the_valid_ones():
    with pytest.raises(SegnetError, match="segnet_basic, segnet_lite, segnet_vgg16"):
        create_model("segnet_resnet", 11)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": 2.5}, "num_classes"),
        ({"num_classes": 3, "in_channels": 4}, "in_channels"),
        ({"num_classes": 3, "width": 0}, "width"),
        ({"num_classes": 3, "width": float("nan")}, "width"),
        ({"num_classes": 3, "pool_mode": "argmax"}, "pool_mode"),
    ],
)
def test_bad_options_are_segnet_errors(kwargs, match):
    with pytest.raises(SegnetError, match=match):
        create_model("segnet_lite", **kwargs)


def test_segnet_vgg16_parameter_count_matches_caffe_segnet():
    """Caffe SegNet (SegNet-Tutorial segnet_train.prototxt): 13 VGG16 convs with bias, BN (scale+shift)
    after every conv but the classifier, mirrored decoder, conv1_1_D 3x3 -> classes. 29.45M at 11 classes."""
    enc = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 512)] + [(512, 512)] * 5
    dec = [(512, 512)] * 5 + [(512, 256), (256, 256), (256, 256), (256, 128), (128, 128), (128, 64), (64, 64)]
    expected = sum(conv_params(i, o, 3) + 2 * o for i, o in enc + dec) + conv_params(64, 11, 3)
    assert expected == 29_449_355
    assert n_params(create_model("segnet_vgg16", 11)) == 29_449_355


def test_segnet_basic_parameter_count_matches_paper():
    """SegNet-Basic (segnet_basic_train.prototxt): 8 x (7x7 conv 64 + BN) and a 1x1 classifier: ~1.42M."""
    expected = conv_params(3, 64, 7) + 7 * conv_params(64, 64, 7) + 8 * 2 * 64 + conv_params(64, 11, 1)
    assert expected == 1_416_587
    model = create_model("segnet_basic", 11)
    assert n_params(model) == 1_416_587
    decoder_relus = [m for m in model.decoder.modules() if isinstance(m, torch.nn.ReLU)]
    assert decoder_relus == []  # the paper's SegNet-Basic decoder has no ReLU


def test_segnet_lite_parameter_count():
    enc = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256)]
    dec = [(256, 256), (256, 256), (256, 128), (128, 128), (128, 64), (64, 64)]
    expected = sum(conv_params(i, o, 3) + 2 * o for i, o in enc + dec) + conv_params(64, 11, 3)
    assert n_params(create_model("segnet_lite", 11)) == expected == 3_479_435


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("num_classes", [1, 5])
def test_output_shape(name, in_channels, num_classes):
    model = create_model(name, num_classes, in_channels=in_channels, width=SMALL[name]).eval()
    with torch.no_grad():
        out = model(torch.randn(2, in_channels, 36, 52))  # odd sizes deeper down for every preset
    assert out.shape == (2, num_classes, 36, 52)
    assert out.dtype == torch.float32


def test_input_bn_adds_a_normalisation_layer():
    plain = create_model("segnet_basic", 3, in_channels=1, width=0.125)
    with_bn = create_model("segnet_basic", 3, in_channels=1, width=0.125, input_bn=True)
    assert plain.input_bn is None
    assert isinstance(with_bn.input_bn, torch.nn.BatchNorm2d) and with_bn.input_bn.num_features == 1
    assert n_params(with_bn) == n_params(plain) + 2
    assert with_bn.arch_args == {"width": 0.125, "input_bn": True}


def test_width_multiplier_scales_channels_with_minimum_8():
    quarter = create_model("segnet_vgg16", 11, width=0.25)
    first = quarter.encoder.stages[0].convs[0].conv
    deepest = quarter.encoder.stages[-1].convs[-1].conv
    assert (first.out_channels, deepest.out_channels) == (16, 128)
    assert quarter.head.out_channels == 11  # classes are never scaled
    tiny = create_model("segnet_vgg16", 11, width=0.01)
    assert {m.out_channels for m in tiny.modules() if isinstance(m, torch.nn.Conv2d)} == {8, 11}
    counts = [n_params(create_model("segnet_lite", 11, width=w)) for w in (0.125, 0.25, 0.5, 1.0)]
    assert counts == sorted(counts) and len(set(counts)) == 4


def test_input_multiple():
    assert [input_multiple(n) for n in PRESETS] == [16, 8, 32]
    model = create_model("segnet_vgg16", 2, width=0.01)
    assert model.input_multiple == 32
    with pytest.raises(SegnetError, match="at least 32"):
        model(torch.randn(1, 3, 31, 64))


def test_model_from_spec_rebuilds_the_same_architecture():
    model = create_model("segnet_lite", 4, in_channels=1, width=0.25, input_bn=True)
    spec = ModelSpec(arch=model.arch, num_classes=4, in_channels=1, arch_args=dict(model.arch_args))
    spec = ModelSpec.from_json(spec.to_json())
    again = model_from_spec(spec, pool_mode="switch")
    again.load_state_dict(model.state_dict())  # strict: same keys and shapes
    assert get_pool_mode(again) == "switch"
    spec.arch_args["vgg16_weights"] = "/gone/vgg16.pth"  # a training-time option, ignored here
    model_from_spec(spec)
    spec.arch_args["depth"] = 3
    with pytest.raises(SegnetError, match="depth"):
        model_from_spec(spec)


def test_pool_mode_does_not_change_the_state_dict():
    model = create_model("segnet_vgg16", 11, width=0.0625)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    set_pool_mode(model, "switch")
    after = model.state_dict()
    assert list(before) == list(after)
    assert all(torch.equal(before[k], after[k]) for k in before)


# --- bit-exactness of the two pooling modes, end to end ---------------------------------------------


def randomise_bn(model, gen):
    """Non-trivial BN statistics and affine parameters, so eval mode is not an identity."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            with torch.no_grad():
                module.running_mean.copy_(torch.randn(module.num_features, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
                module.weight.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(module.num_features, generator=gen) * 0.1)


def forward_both_modes(model, x):
    outputs = {}
    for mode in ("indices", "switch"):
        set_pool_mode(model, mode)
        with torch.no_grad():
            outputs[mode] = model(x)
    return outputs["indices"], outputs["switch"]


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("inputs", ["random", "integer_image", "flat"])
def test_modes_agree_end_to_end(name, inputs):
    gen = torch.Generator().manual_seed(5)
    torch.manual_seed(5)
    model = create_model(name, 6, width=SMALL[name]).eval()
    randomise_bn(model, gen)
    if inputs == "random":
        x = torch.randn(2, 3, 36, 52, generator=gen)
    elif inputs == "integer_image":  # quantised pixels: ties all over the first pooling layer
        x = torch.randint(0, 4, (2, 3, 36, 52), generator=gen).float()
    else:
        x = torch.zeros(2, 3, 36, 52)
    out_i, out_s = forward_both_modes(model, x)
    assert torch.equal(out_i, out_s)


@pytest.mark.parametrize("name", PRESETS)
def test_modes_agree_in_parameter_gradients(name):
    torch.manual_seed(9)
    model = create_model(name, 3, width=SMALL[name]).train()
    x = torch.randn(2, 3, 36, 52)
    target = torch.randint(0, 3, (2, 36, 52))
    grads = {}
    for mode in ("indices", "switch"):
        set_pool_mode(model, mode)
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), target).backward()
        grads[mode] = [p.grad.clone() for p in model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(grads["indices"], grads["switch"]))


@pytest.mark.parametrize("name", PRESETS)
def test_modes_agree_after_training_steps(name):
    """Weights moved by SGD (trained in indices mode, as the trainer does), then compared in eval mode."""
    torch.manual_seed(13)
    model = create_model(name, 4, width=SMALL[name])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = torch.randn(4, 3, 36, 52)
    target = torch.randint(0, 4, (4, 36, 52))
    model.train()
    for _ in range(3):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), target).backward()
        optimizer.step()
    model.eval()
    out_i, out_s = forward_both_modes(model, torch.randn(2, 3, 36, 52))
    assert torch.equal(out_i, out_s)


def test_vgg16_at_camvid_resolution_agrees():
    """360x480 leaves 45 rows at the fourth pool: the odd-size path of the paper's setting."""
    torch.manual_seed(17)
    model = create_model("segnet_vgg16", 11, width=0.01).eval()
    out_i, out_s = forward_both_modes(model, torch.randn(1, 3, 360, 480))
    assert out_i.shape == (1, 11, 360, 480)
    assert torch.equal(out_i, out_s)


def test_switch_model_exports_without_unsupported_ops(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    model = create_model("segnet_lite", 3, width=0.125, pool_mode="switch").eval()
    x = torch.randn(1, 3, 36, 52)
    path = tmp_path / "lite.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=17, input_names=["input"],
                      output_names=["logits"])
    graph = onnx.load(str(path))
    ops = {node.op_type for node in graph.graph.node}
    assert not ops & {"MaxUnpool", "ScatterND", "ScatterElements", "MaxPool"}, ops
    assert {"Conv", "DepthToSpace", "Max", "Equal"} <= ops
    assert graph.opset_import[0].version == 17
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        want = set_pool_mode(model, "indices")(x)
    assert torch.allclose(torch.from_numpy(got), want, atol=1e-4, rtol=1e-4)


# --- VGG16 initialisation ---------------------------------------------------------------------------


def fake_vgg16_state(batch_norm: bool, gen) -> dict:
    """A torchvision-named VGG16 state dict with random values (the real file is 528 MB)."""
    widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    state, cin = {}, 3
    for (conv, bn), cout in zip(vgg16_conv_keys(batch_norm), widths):
        state[f"{conv}.weight"] = torch.randn(cout, cin, 3, 3, generator=gen)
        state[f"{conv}.bias"] = torch.randn(cout, generator=gen)
        if bn:
            for name in ("weight", "bias", "running_mean"):
                state[f"{bn}.{name}"] = torch.randn(cout, generator=gen)
            state[f"{bn}.running_var"] = torch.rand(cout, generator=gen) + 0.5
            state[f"{bn}.num_batches_tracked"] = torch.tensor(100)
        cin = cout
    state["classifier.0.weight"] = torch.zeros(4, 4)  # ignored, as in the real file
    return state


def test_vgg16_conv_keys_follow_torchvision_numbering():
    plain, with_bn = vgg16_conv_keys(False), vgg16_conv_keys(True)
    assert [k for k, _ in plain] == [f"features.{i}" for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)]
    assert [k for k, _ in with_bn] == [f"features.{i}" for i in (0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40)]
    assert with_bn[0][1] == "features.1" and plain[0][1] == ""


@pytest.fixture(scope="module")
def vgg_files(tmp_path_factory):
    gen = torch.Generator().manual_seed(21)
    folder = tmp_path_factory.mktemp("vgg")
    files = {}
    for batch_norm in (False, True):
        state = fake_vgg16_state(batch_norm, gen)
        path = folder / ("vgg16_bn.pth" if batch_norm else "vgg16.pth")
        torch.save(state, path)
        files[batch_norm] = (path, state)
    return files


@pytest.mark.parametrize("batch_norm", [False, True])
def test_vgg16_weights_initialise_the_encoder(vgg_files, batch_norm):
    path, state = vgg_files[batch_norm]
    model = create_model("segnet_vgg16", 11, vgg16_weights=str(path))
    units = [u for stage in model.encoder.stages for u in stage.convs]
    assert len(units) == 13
    for unit, (conv, bn) in zip(units, vgg16_conv_keys(batch_norm)):
        assert torch.equal(unit.conv.weight, state[f"{conv}.weight"])
        assert torch.equal(unit.conv.bias, state[f"{conv}.bias"])
        if bn:
            assert torch.equal(unit.bn.running_var, state[f"{bn}.running_var"])
            assert torch.equal(unit.bn.weight, state[f"{bn}.weight"])
    assert "vgg16_weights" not in model.arch_args


def test_vgg16_weights_grayscale_averages_rgb_and_lite_takes_the_first_seven(vgg_files):
    path, state = vgg_files[False]
    model = create_model("segnet_lite", 2, in_channels=1, vgg16_weights=path)
    first = model.encoder.stages[0].convs[0].conv.weight
    assert first.shape == (64, 1, 3, 3)
    assert torch.allclose(first, state["features.0.weight"].mean(dim=1, keepdim=True))
    last = model.encoder.stages[-1].convs[-1].conv.weight
    assert torch.equal(last, state["features.14.weight"])


def test_vgg16_weights_errors(vgg_files, tmp_path):
    path, state = vgg_files[False]
    with pytest.raises(SegnetError, match="not found"):
        create_model("segnet_vgg16", 11, vgg16_weights=str(tmp_path / "missing.pth"))
    with pytest.raises(SegnetError, match="width=1.0"):
        create_model("segnet_vgg16", 11, width=0.5, vgg16_weights=path)
    with pytest.raises(SegnetError, match="features.0.weight"):
        create_model("segnet_basic", 11, vgg16_weights=path)  # 7x7 convs are not VGG16's
    truncated = {k: v for k, v in state.items() if k != "features.26.bias"}
    torch.save(truncated, tmp_path / "truncated.pth")
    with pytest.raises(SegnetError, match="features.26.bias"):
        create_model("segnet_vgg16", 11, vgg16_weights=tmp_path / "truncated.pth")
    (tmp_path / "notes.txt").write_text("not weights")
    with pytest.raises(SegnetError, match="notes.txt: not a readable torch state dict"):
        create_model("segnet_vgg16", 11, vgg16_weights=tmp_path / "notes.txt")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(SegnetError, match="state dict of tensors"):
        create_model("segnet_vgg16", 11, vgg16_weights=tmp_path / "list.pth")
