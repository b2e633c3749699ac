"""The frame path inside the exported graph: camera frame in, class map / overlay at the frame's size out,
equal to the host path (OpenCV resize, normalisation, argmax, INTER_NEAREST, palette, blend) and clean in
`segnet check` for TensorRT 8.6, 10 and 11. Tiny models at small sizes; the full output sweep is slow."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import onnx
import pytest
import torch
from test_export import make

from segnet import render
from segnet.cli import main
from segnet.errors import SegnetError
from segnet.export import frame_verify, verify
from segnet.export.frame_export import check_frame, default_alpha
from segnet.export.frame_graph import AreaResize, area_weights, nearest_indices
from segnet.export.onnx_export import export_model
from segnet.export.trt_lint import check_onnx
from segnet.spec import FRAME_OUTPUTS, FramePath, read_sidecar
from segnet.train.checkpoint import save_checkpoint

NET = (24, 32)
FRAME = (60, 84)  # 2.5 x 2.625: non-integer area ratios in both directions


@pytest.fixture(scope="module")
def tiny():
    return make(size=NET)


def export(tiny, tmp_path, name="m.onnx", **frame):
    model, spec = tiny
    path = FramePath(**{"size": FRAME, **frame})
    return export_model(model, spec, tmp_path / name, frame=path, check_rewrite=False)


def shapes(path):
    model = onnx.load(str(path))
    def dims(v):
        return v.type.tensor_type.elem_type, [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim]
    return {v.name: dims(v) for v in model.graph.input}, {v.name: dims(v) for v in model.graph.output}


@pytest.mark.parametrize(("src", "dst"), [(720, 360), (1280, 480), (1080, 360), (1920, 480), (84, 32), (61, 24), (5, 5)])
def test_area_resize_is_opencv_inter_area(src, dst):
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (src, src if src < 200 else 64, 3)).astype(np.float32)
    h_dst = dst
    w_dst = dst if src < 200 else 64
    want = cv2.resize(image, (w_dst, h_dst), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(image).permute(2, 0, 1)[None]
    got = AreaResize(image.shape[:2], (h_dst, w_dst))(x)[0].permute(1, 2, 0).numpy()
    assert np.abs(got - want).max() < 1e-3
    assert np.allclose(area_weights(src, dst).sum(axis=0), 1.0, atol=1e-6)  # every output pixel is an average


@pytest.mark.parametrize(("src", "dst"), [(24, 60), (32, 84), (120, 720), (160, 1280), (97, 360), (360, 1080)])
def test_nearest_indices_are_opencv_inter_nearest(src, dst):
    row = np.arange(src, dtype=np.float32)[None]
    want = cv2.resize(row, (dst, 1), interpolation=cv2.INTER_NEAREST)[0].astype(np.int64)
    assert nearest_indices(dst, src).tolist() == want.tolist()


def test_frame_export_tensors_verification_and_check(tiny, tmp_path):
    path = export(tiny, tmp_path, outputs=list(FRAME_OUTPUTS))
    inputs, outputs = shapes(path)
    u8, f32 = onnx.TensorProto.UINT8, onnx.TensorProto.FLOAT
    assert inputs == {"frame": (u8, [1, *FRAME, 3]), "alpha": (f32, [5])}
    assert outputs == {"overlay": (u8, [1, *FRAME, 3]), "labels": (u8, [1, *FRAME]), "mask": (u8, [1, *FRAME, 3]),
                       "logits": (f32, [1, 5, *NET]), "probs": (f32, [1, 5, *NET])}
    _, artifact = read_sidecar(path)
    assert artifact.frame_path == FramePath(size=FRAME, resize="linear", outputs=list(FRAME_OUTPUTS))
    assert artifact.input_name == "frame" and artifact.output_names == list(FRAME_OUTPUTS)
    (result,) = artifact.details["verification"]["frame_path"]
    assert result["passed"] and result["agreement"] == 1.0 and result["overlay_max_diff"] <= 1
    assert not verify.pooling_nodes(onnx.load(str(path)))
    report = check_onnx(path, run_parser=False)
    assert report.ok and not [i for i in report.issues if i.severity != "info"], report.to_dict()


def test_frame_graph_equals_the_runtime_host_path(tiny, tmp_path):
    """Against the runtime's own rendering: class maps identical where both resize alike (float INTER_AREA),
    overlay within 1 grey level of render.overlay, and the ignored class left as it is."""
    model, spec = tiny
    path = export(tiny, tmp_path, resize="area", outputs=["overlay", "labels", "mask"])
    graph = verify.ort_runner(str(path))
    network = verify.ort_runner(export_model(model, spec, tmp_path / "net.onnx", check_rewrite=False).__str__())
    lut = render.color_lut(spec.palette)
    frame_spec = FramePath(size=FRAME, resize="area", outputs=["overlay", "labels", "mask"])
    for frame in frame_verify.test_frames(spec, frame_spec, FRAME):
        alpha = default_alpha(spec, 0.4, ignore=2)
        got = graph({"frame": frame[None], "alpha": alpha})
        logits = network(frame_verify.network_input(frame, spec, frame_spec)[None])["logits"][0]
        labels = cv2.resize(logits.argmax(axis=0).astype(np.uint8), FRAME[::-1], interpolation=cv2.INTER_NEAREST)
        assert np.array_equal(got["labels"][0], labels)
        want = render.overlay(frame, labels, lut, alpha=0.4, ignore=2)
        assert np.abs(got["overlay"][0].astype(int) - want).max() <= 1
        assert np.array_equal(got["overlay"][0][labels == 2], frame[labels == 2])
        assert np.array_equal(got["mask"][0], render.colorize(labels, lut))


def test_dynamic_frame_size_runs_at_any_size_in_range(tiny, tmp_path):
    path = export(tiny, tmp_path, size=None, min_size=(20, 30), max_size=(90, 130), upsample="linear",
                  outputs=["overlay", "labels"])
    inputs, outputs = shapes(path)
    assert inputs["frame"][1] == [1, "height", "width", 3] and outputs["labels"][1] == [1, "height", "width"]
    results = read_sidecar(path)[1].details["verification"]["frame_path"]
    assert [r["size"] for r in results] == [[20, 30], [55, 81], [90, 130]] and all(r["passed"] for r in results)
    graph = verify.ort_runner(str(path))
    _, spec = tiny
    for size in ((33, 47), (90, 130)):
        frame = np.random.default_rng(1).integers(0, 256, (1, *size, 3), dtype=np.uint8)
        got = graph({"frame": frame, "alpha": default_alpha(spec)})
        assert got["overlay"].shape == (1, *size, 3) and got["labels"].shape == (1, *size)
    assert check_onnx(path, run_parser=False).ok


def test_gray_frames_and_network_size_labels(tiny, tmp_path):
    path = export(tiny, tmp_path, channels="gray", labels_size="network", outputs=["labels", "mask"])
    inputs, outputs = shapes(path)
    assert inputs == {"frame": (onnx.TensorProto.UINT8, [1, *FRAME, 1])}
    assert outputs["labels"][1] == [1, *NET] and outputs["mask"][1] == [1, *FRAME, 3]


def test_rgb_frames_give_rgb_overlays(tiny, tmp_path):
    """An RGB frame into an RGB model needs no flip; the overlay comes out in the frame's order."""
    _, spec = tiny
    bgr = verify.ort_runner(str(export(tiny, tmp_path, "bgr.onnx", outputs=["mask", "labels"])))
    rgb = verify.ort_runner(str(export(tiny, tmp_path, "rgb.onnx", channels="rgb", outputs=["mask", "labels"])))
    frame = frame_verify.test_frames(spec, FramePath(size=FRAME), FRAME)[1]
    a, b = bgr({"frame": frame[None]}), rgb({"frame": np.ascontiguousarray(frame[None, ..., ::-1])})
    assert np.array_equal(a["labels"], b["labels"])
    assert np.array_equal(a["mask"][..., ::-1], b["mask"])


@pytest.mark.parametrize(("values", "message"), [
    ({"outputs": []}, "--outputs takes"),
    ({"outputs": ["overlay", "heatmap"]}, "--outputs takes"),
    ({"size": None, "min_size": (10, 10)}, "--frame-min H W and --frame-max"),
    ({"size": None, "min_size": (50, 50), "max_size": (40, 60)}, "larger than --frame-max"),
    ({"size": None, "min_size": (10, 10), "max_size": (40, 60), "resize": "area"}, "needs a fixed --frame-size"),
    ({"channels": "yuv"}, "--frame-channels takes"),
    ({"size": (0, 10)}, "within 1..8192"),
])
def test_bad_frame_options_are_named(values, message):
    with pytest.raises(SegnetError, match=message):
        check_frame(FramePath(**{"size": FRAME, **values}))


def test_cli_frame_export_and_errors(tiny, tmp_path, capsys):
    model, spec = tiny
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(ckpt, spec=spec, model=model, epoch=1)
    out = tmp_path / "cam.onnx"
    assert main(["export", str(ckpt), "-o", str(out), "--frame-size", *map(str, FRAME), "--outputs", "overlay",
                 "--skip-rewrite-check"]) == 0
    assert "verify frame path vs host path" in capsys.readouterr().out
    frame = read_sidecar(out)[1].frame_path
    assert frame.outputs == ["overlay"] and frame.resize == "area"  # the host path's resize for a fixed size
    for argv, message in ((["--upsample", "linear"], "add --frame-size"),
                          (["--frame-size", "12"], "--frame-size takes H W"),
                          (["--frame-size", *map(str, FRAME), "--argmax"], "drop --embed-preprocess"),
                          (["--frame-size", *map(str, FRAME), "--fp16"], "not made yet"),
                          (["--frame-size", *map(str, FRAME), "--batch", "2"], "one frame per inference")):
        assert main(["export", str(ckpt), "-o", str(tmp_path / "x.onnx"), *argv]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.slow
@pytest.mark.parametrize("upsample", ["nearest", "linear"])
def test_every_output_combination_checks_clean(tiny, tmp_path, upsample):
    for count in range(1, len(FRAME_OUTPUTS) + 1):
        for outputs in itertools.combinations(FRAME_OUTPUTS, count):
            path = export(tiny, tmp_path, f"{'-'.join(outputs)}.onnx", upsample=upsample, outputs=list(outputs))
            report = check_onnx(path, run_parser=False)
            assert report.ok and not [i for i in report.issues if i.severity != "info"], (outputs, report.to_dict())


def test_grayscale_model_takes_bgr_frames_converted_in_the_graph(tmp_path):
    """A 1-channel network behind a BGR camera: the graph converts with OpenCV's BGR2GRAY weights, and the
    export's own check against the host path (which converts the same way) passes."""
    model, spec = make(size=NET, in_channels=1)
    path = export_model(model, spec, tmp_path / "gray.onnx", frame=FramePath(size=FRAME, outputs=["overlay", "labels"]),
                        check_rewrite=False)
    inputs, _ = shapes(path)
    assert inputs["frame"][1] == [1, *FRAME, 3]
    (result,) = read_sidecar(path)[1].details["verification"]["frame_path"]
    assert result["passed"] and result["agreement"] >= 0.999
