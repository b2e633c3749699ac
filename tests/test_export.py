"""ONNX export: TensorRT-parsable graphs that match PyTorch, embedded pre/post-processing, dynamic batch,
metadata round trip, FP16 variant and the CLI's errors. Tiny models (width 0.125-0.25) at odd sizes."""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest
import torch

from segnet.cli import main
from segnet.errors import SegnetError
from segnet.export import inputs, verify
from segnet.export.onnx_export import MIN_OPSET, export_model, read_metadata
from segnet.models import create_model, get_pool_mode
from segnet.spec import ModelSpec, read_sidecar
from segnet.train.checkpoint import save_checkpoint

ODD = (37, 53)  # odd height and width: floor-mode pooling drops a row/column at several levels


def make(arch: str = "segnet_lite", num_classes: int = 5, width: float = 0.125, size=ODD, in_channels: int = 3,
         color_order: str = "RGB"):
    torch.manual_seed(0)
    model = create_model(arch, num_classes, in_channels=in_channels, width=width).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding them is exercised
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    spec = ModelSpec(arch=arch, num_classes=num_classes, in_channels=in_channels, arch_args=model.arch_args,
                     input_size=size, color_order=color_order)
    return model, spec


def ort(path):
    return verify.ort_runner(str(path))


def torch_logits(model, batch: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(batch)).numpy()


def forbidden(path) -> list:
    return verify.pooling_nodes(onnx.load(str(path)))


@pytest.fixture(scope="module")
def lite():
    return make()


@pytest.fixture(scope="module")
def plain_onnx(lite, tmp_path_factory):
    model, spec = lite
    return export_model(model, spec, tmp_path_factory.mktemp("plain") / "model.onnx")


@pytest.fixture(scope="module")
def embedded_onnx(lite, tmp_path_factory):
    model, spec = lite
    return export_model(model, spec, tmp_path_factory.mktemp("embedded") / "model.onnx", embed_preprocess=True,
                        argmax=True, keep_logits=True, dynamic_batch=True)


@pytest.mark.parametrize("arch,width,size", [("segnet_lite", 0.125, ODD), ("segnet_basic", 0.125, ODD),
                                             ("segnet_vgg16", 0.125, (67, 99))])
def test_every_preset_exports_a_trt_graph_that_matches_pytorch(arch, width, size, tmp_path, request):
    if arch == "segnet_lite":  # the module's shared export (saves one export)
        (model, spec), path = request.getfixturevalue("lite"), request.getfixturevalue("plain_onnx")
    else:
        model, spec = make(arch, width=width, size=size)  # (VGG16: skip the slow second, ScatterND export)
        path = export_model(model, spec, tmp_path / "model.onnx", check_rewrite=arch != "segnet_vgg16")
    graph = onnx.load(str(path))
    ops = {node.op_type for node in graph.graph.node}
    assert not ops & {"MaxUnpool", "ScatterND"}
    assert all(len([o for o in n.output if o]) == 1 for n in graph.graph.node if n.op_type == "MaxPool")
    assert graph.opset_import[0].version == 17
    assert get_pool_mode(model) == "indices"  # the caller's model is left alone
    images = np.stack(inputs.random_images(3, size, 3, seed=7))
    batch = inputs.normalize(images, spec)
    run = ort(path)
    for i in range(3):
        got = run(batch[i:i + 1])["logits"]
        expected = torch_logits(model, batch[i:i + 1])
        assert got.shape == expected.shape == (1, 5) + size
        assert np.mean(np.abs(got - expected) <= 1e-3) >= 0.9999
        assert np.mean(got.argmax(1) == expected.argmax(1)) >= 0.9999


def test_scatter_form_is_pytorchs_graph_and_refused_for_tensorrt(lite, plain_onnx, tmp_path):
    model, spec = lite
    path = export_model(model, spec, tmp_path / "scatter.onnx", target="onnxruntime", pool_form="scatter")
    assert forbidden(path)  # ScatterND / MaxPool indices: what TensorRT cannot parse
    batch = inputs.normalize(np.stack(inputs.random_images(1, ODD, 3)), spec)
    scatter = ort(path)(batch)["logits"]
    assert np.allclose(scatter, torch_logits(model, batch), atol=1e-3)
    # under the same ONNX Runtime numerics the index-free graph equals PyTorch's own export exactly
    assert np.abs(ort(plain_onnx)(batch)["logits"] - scatter).max() <= 1e-6
    assert read_sidecar(path)[1].details["pool_form"] == "scatter"
    with pytest.raises(SegnetError, match="cannot be parsed by TensorRT"):
        export_model(model, spec, tmp_path / "x.onnx", target="tensorrt", pool_form="scatter")


def test_embedded_preprocess_equals_manual_preprocessing_plus_plain_graph(lite, plain_onnx, embedded_onnx):
    _, spec = lite
    images = np.stack(inputs.random_images(3, ODD, 3, seed=3))
    embedded = ort(embedded_onnx)(images)
    plain = np.concatenate([ort(plain_onnx)(inputs.normalize(images[i:i + 1], spec))["logits"] for i in range(3)])
    assert embedded["logits"].shape == plain.shape
    assert np.mean(np.abs(embedded["logits"] - plain) <= 1e-3) >= 0.9999
    # the channel reversal is really there: feeding RGB instead of BGR changes the result
    swapped = ort(embedded_onnx)(np.ascontiguousarray(images[..., ::-1]))["logits"]
    assert not np.allclose(swapped, plain, atol=1e-3)


def test_argmax_output_is_a_uint8_class_map(embedded_onnx):
    images = np.stack(inputs.random_images(2, ODD, 3, seed=5))
    out = ort(embedded_onnx)(images)
    assert out["labels"].dtype == np.uint8
    assert out["labels"].shape == (2,) + ODD
    assert np.array_equal(out["labels"], out["logits"].argmax(1))


def test_dynamic_batch_runs_batch_1_and_3(embedded_onnx):
    graph = onnx.load(str(embedded_onnx))
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    run = ort(embedded_onnx)
    images = np.stack(inputs.random_images(3, ODD, 3, seed=9))
    three = run(images)["labels"]
    ones = np.concatenate([run(images[i:i + 1])["labels"] for i in range(3)])
    assert three.shape == (3,) + ODD and np.array_equal(three, ones)


def test_fixed_batch_has_a_fixed_first_dimension(lite, tmp_path):
    model, spec = lite
    path = export_model(model, spec, tmp_path / "b2.onnx", batch=2, argmax=True, check_rewrite=False)
    dim = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_value == 2
    out = ort(path)(inputs.normalize(np.stack(inputs.random_images(2, ODD, 3)), spec))
    assert out["labels"].shape == (2,) + ODD and read_sidecar(path)[1].batch == 2


def test_binary_model_thresholds_the_logit(tmp_path):
    model, spec = make(num_classes=1)
    path = export_model(model, spec, tmp_path / "binary.onnx", argmax=True, keep_logits=True, check_rewrite=False)
    batch = inputs.normalize(np.stack(inputs.random_images(1, ODD, 3, seed=2)), spec)
    out = ort(path)(batch)
    assert out["logits"].shape == (1, 1) + ODD
    assert out["labels"].dtype == np.uint8
    assert np.array_equal(out["labels"], (out["logits"][:, 0] > 0).astype(np.uint8))


def test_grayscale_embedded_input_is_single_channel(tmp_path):
    model, spec = make(in_channels=1)
    path = export_model(model, spec, tmp_path / "gray.onnx", embed_preprocess=True, check_rewrite=False)
    image = np.stack(inputs.random_images(1, ODD, 1, seed=4))
    assert image.shape == (1,) + ODD + (1,)
    expected = torch_logits(model, inputs.normalize(image, spec))
    assert np.mean(np.abs(ort(path)(image)["logits"] - expected) <= 1e-3) >= 0.9999


def test_metadata_and_sidecar_round_trip(lite, embedded_onnx):
    _, spec = lite
    meta_spec, meta_artifact = read_metadata(onnx.load(str(embedded_onnx)), "model.onnx")
    side_spec, side_artifact = read_sidecar(embedded_onnx)
    assert meta_spec == side_spec
    assert meta_spec.to_dict() == spec.to_dict()
    assert meta_artifact == side_artifact
    assert side_artifact.file == "model.onnx" and side_artifact.precision == "fp32"
    assert side_artifact.embedded_preprocess and side_artifact.input_layout == "NHWC"
    assert side_artifact.input_dtype == "uint8" and side_artifact.batch is None
    assert side_artifact.output_names == ["labels", "logits"]
    details = side_artifact.details
    assert details["opset"] == 17 and details["target"] == "tensorrt" and details["pool_form"] == "switch"
    assert details["verification"]["random"]["passed"] is True
    rewrite = details["verification"]["random, vs scatter export"]  # same outputs as PyTorch's own export
    assert rewrite["passed"] is True and rewrite["agreement"] == 1.0
    assert details["verification"]["batch_sizes"] == [1, 3]


def test_fp16_variant_stays_within_tolerance_and_keeps_io_types(lite, plain_onnx, embedded_onnx):
    from segnet.export.fp16 import convert_fp16

    _, spec = lite
    for source in (plain_onnx, embedded_onnx):
        out = convert_fp16(source)
        assert out.name == "model.fp16.onnx"
        graph = onnx.load(str(out))
        assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in graph.graph.initializer)
        artifact = read_sidecar(out)[1]
        assert artifact.precision == "fp16"
        assert read_sidecar(source)[1] is not None  # the FP32 entry survives beside it
        images = np.stack(inputs.random_images(2, ODD, 3, seed=11))
        feed = images if artifact.embedded_preprocess else inputs.normalize(images[:1], spec)
        ref, half = ort(source)(feed), ort(out)(feed)
        assert set(half) == set(ref)
        for name in ref:
            assert half[name].dtype == ref[name].dtype  # FP32 logits, uint8 labels
        assert np.mean(np.abs(half["logits"] - ref["logits"]) <= 0.05) >= 0.99
        assert np.mean(verify.labels_of(half, 5) == verify.labels_of(ref, 5)) >= 0.99


def test_simplify_keeps_the_result(lite, tmp_path):
    model, spec = lite
    path = export_model(model, spec, tmp_path / "slim.onnx", simplify=True, argmax=True, check_rewrite=False)
    batch = inputs.normalize(np.stack(inputs.random_images(1, ODD, 3, seed=6)), spec)
    labels = ort(path)(batch)["labels"]
    assert labels.dtype == np.uint8
    assert np.mean(labels == torch_logits(model, batch).argmax(1)) >= 0.9999
    assert not forbidden(path)


def test_export_verifies_on_real_images(lite, tmp_path, camvid_root):
    model, spec = lite
    path = export_model(model, spec, tmp_path / "model.onnx", imgsz=(45, 60), verify_data=camvid_root,
                        check_rewrite=False)
    results = read_sidecar(path)[1].details["verification"]
    assert results["data"]["images"] == 4 and results["data"]["passed"] is True


def test_export_refuses_options_it_cannot_honour(lite, tmp_path):
    model, spec = lite
    with pytest.raises(SegnetError, match=f"opset 11 is too old.*>= {MIN_OPSET}"):
        export_model(model, spec, tmp_path / "m.onnx", opset=11)
    with pytest.raises(SegnetError, match="keep-logits only applies with --argmax"):
        export_model(model, spec, tmp_path / "m.onnx", keep_logits=True)
    with pytest.raises(SegnetError, match="too small"):
        export_model(model, spec, tmp_path / "m.onnx", imgsz=(4, 4))
    assert not list(tmp_path.iterdir())  # nothing half-written


# -- CLI -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(lite, tmp_path_factory):
    model, spec = lite
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", spec=spec, model=model, epoch=1)


def test_cli_exports_beside_the_checkpoint(checkpoint, capsys):
    code = main(["export", str(checkpoint), "--argmax", "--embed-preprocess", "--simplify", "--skip-rewrite-check"])
    out = capsys.readouterr().out
    assert code == 0
    onnx_path = checkpoint.with_suffix(".onnx")
    assert f"wrote {onnx_path}" in out and "PASS" in out
    sidecar = json.loads(checkpoint.with_suffix(".json").read_text())
    assert sidecar["artifacts"]["tiny.onnx"]["details"]["source"] == str(checkpoint)


def test_cli_export_of_a_dotted_checkpoint_name_keeps_the_dots(checkpoint, tmp_path, capsys):
    """`segnet export lite_w0.25.pt` -> lite_w0.25.onnx and lite_w0.25.json (not lite_w0.onnx, lite_w0.json)."""
    import shutil

    dotted = shutil.copy(checkpoint, tmp_path / "lite_w0.25.pt")
    assert main(["export", str(dotted), "--skip-rewrite-check"]) == 0
    assert f"wrote {tmp_path / 'lite_w0.25.onnx'}" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lite_w0.25.json", "lite_w0.25.onnx", "lite_w0.25.pt"]


def test_cli_int8_variant_with_its_options(camvid_root, tmp_path, capsys):
    model, spec = make(num_classes=11)
    checkpoint = save_checkpoint(tmp_path / "camvid.pt", spec=spec, model=model, epoch=1)
    out = tmp_path / "m.onnx"
    assert main(["export", str(checkpoint), "-o", str(out), "--int8", "--calib", str(camvid_root),
                 "--calib-images", "2", "--calib-method", "percentile", "--switch-inputs", "int8",
                 "--eval-images", "3"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {tmp_path / 'm.int8.onnx'}" in printed
    report = re.search(r"INT8 vs FP32 on .* val \(3 images\), ONNX Runtime, 1 thread\(s\): mIoU ([\d.]+)% vs "
                       r"([\d.]+)% \(([-+][\d.]+) points\), p50 ([\d.]+) vs ([\d.]+) ms \(([\d.]+)x faster\)", printed)
    assert report, printed
    int8_miou, fp32_miou, drop, int8_ms, fp32_ms, ratio = (float(v) for v in report.groups())
    half = 0.005  # every printed number is rounded to 2 decimals
    assert drop == pytest.approx(int8_miou - fp32_miou, abs=3 * half + 1e-4)
    assert (fp32_ms - half) / (int8_ms + half) - half <= ratio <= (fp32_ms + half) / max(int8_ms - half, 1e-9) + half
    int8 = json.loads((tmp_path / "m.json").read_text())["artifacts"]["m.int8.onnx"]
    assert int8["precision"] == "int8"
    assert {k: int8["details"]["int8"][k] for k in ("flavour", "calibration_method", "calibration_images",
                                                    "switch_inputs")} == {
        "flavour": "tensorrt", "calibration_method": "percentile", "calibration_images": 2, "switch_inputs": "int8"}


@pytest.mark.parametrize("args,message", [
    (["--opset", "12"], f"opset 12 is too old: the export needs opset >= {MIN_OPSET}"),
    (["--imgsz", "4", "6"], "input 4x6 is too small"),
    (["--keep-logits"], "--keep-logits only applies with --argmax"),
    (["--int8"], "--int8 needs calibration images"),
])
def test_cli_reports_bad_options_in_one_line(checkpoint, capsys, args, message, tmp_path):
    code = main(["export", str(checkpoint), "-o", str(tmp_path / "m.onnx")] + args)
    err = capsys.readouterr().err
    assert code != 0
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_int8_report_is_skipped_for_a_dataset_without_val(checkpoint, tmp_path, capsys):
    cv2 = pytest.importorskip("cv2")
    images = tmp_path / "frames"
    images.mkdir()
    for i in range(2):
        cv2.imwrite(str(images / f"{i}.png"), np.full((40, 60, 3), 60 * i, np.uint8))
    assert main(["export", str(checkpoint), "-o", str(tmp_path / "m.onnx"), "--int8", "--calib", str(images)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {tmp_path / 'm.int8.onnx'}" in printed
    assert re.search(r"INT8 vs FP32 not measured: .*frames", printed), printed
    assert read_sidecar(tmp_path / "m.int8.onnx")[1].details["int8"]["calibration_images"] == 2


def test_cli_rejects_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    bogus = tmp_path / "notes.pt"
    bogus.write_text("not a checkpoint")
    assert main(["export", str(bogus)]) != 0
    err = capsys.readouterr().err
    assert "not a segnet checkpoint" in err and str(bogus) in err


def test_cli_rejects_an_unwritable_output_folder(checkpoint, tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main(["export", str(checkpoint), "-o", str(blocker / "model.onnx")]) != 0
    err = capsys.readouterr().err
    assert "cannot write the export there" in err and "is a file, not a folder" in err


def test_cli_export_with_triton_and_deepstream_deploys_the_exported_onnx(checkpoint, tmp_path, capsys):
    out, repo, ds = tmp_path / "m.onnx", tmp_path / "repo", tmp_path / "ds"
    assert main(["export", str(checkpoint), "-o", str(out), "--skip-rewrite-check", "--dynamic-batch", "1", "2", "4",
                 "--triton", str(repo), "--triton-kind", "cpu", "--triton-max-batch", "4",
                 "--deepstream", str(ds), "--deepstream-batch-size", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {repo / 'm'}/config.pbtxt" in printed and f"wrote {ds / 'm.nvinfer.txt'}" in printed
    config = (repo / "m" / "config.pbtxt").read_text()
    assert "max_batch_size: 4" in config and "KIND_CPU" in config and 'key: "segnet.spec"' in config
    assert (repo / "m" / "1" / "model.onnx").read_bytes() == out.read_bytes()
    assert "batch-size=2" in (ds / "m.nvinfer.txt").read_text()
    assert main(["export", str(checkpoint), "-o", str(out), "--triton", str(repo)]) == 2  # refused before exporting
    assert "exists: choose another --triton-name" in capsys.readouterr().err
    assert main(["export", str(checkpoint), "-o", str(tmp_path / "e.onnx"), "--embed-preprocess",
                 "--deepstream", str(ds)]) == 2
    err = capsys.readouterr().err
    assert "--deepstream needs the plain network" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "e.onnx").exists()
