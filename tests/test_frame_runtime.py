"""The runtime with the frame path in the graph, and the reused buffers of the host path: frames decoded
straight into the slot the backend reads, the model's overlay handed to the sinks as it is, and no new
frame-sized array per frame after warm-up (tracemalloc)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
from runtime_helpers import scene, write_video
from test_export import make

from segnet import render
from segnet.benchmarks.tiny_onnx import build_tiny_onnx
from segnet.errors import SegnetError
from segnet.export.onnx_export import export_model
from segnet.runtime.pipeline import Pipeline
from segnet.runtime.segmenter import Segmenter
from segnet.runtime.sinks import FolderSink, NullSink, Sink, SinkFrame
from segnet.runtime.sources import open_source
from segnet.spec import FramePath

FRAME = (64, 96)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("frame_models")
    model, spec = make(size=(32, 48))
    def frame_model(name, **frame):
        path = FramePath(**{"size": FRAME, "resize": "area", **frame})
        return export_model(model, spec, root / name, frame=path, check_rewrite=False)
    return {
        "frame": frame_model("frame.onnx", outputs=["overlay", "labels", "mask"]),
        "overlay_only": frame_model("overlay.onnx", outputs=["overlay"]),
        "dynamic": frame_model("dynamic.onnx", size=None, min_size=(40, 60), max_size=(80, 120), resize="linear",
                               outputs=["overlay", "labels"]),
        "network_labels": frame_model("netlabels.onnx", outputs=["labels"], labels_size="network"),
        "gray": frame_model("gray.onnx", channels="gray", outputs=["overlay", "labels"]),
        "plain": export_model(model, spec, root / "plain.onnx", check_rewrite=False),
        "tiny": build_tiny_onnx(root / "tiny.onnx", outputs=("logits",)),
        "tiny_labels": build_tiny_onnx(root / "tiny_labels.onnx", embed_preprocess=True, outputs=("labels",)),
    }


def test_frame_model_slots_come_from_the_backend_and_match_the_graph(models):
    with Segmenter(models["frame"], threads=1) as seg:
        assert seg.frame_path.outputs == ["overlay", "labels", "mask"]
        slot = seg.new_slot((*FRAME, 3))
        assert slot.labels is not None and np.shares_memory(slot.labels, slot.outputs["labels"])
        assert np.shares_memory(slot.frame, slot.feed) and seg.capture_target(slot) is slot.frame
        frame = scene(2, *FRAME)
        assert seg.load(slot, frame) is slot
        outputs = {name: array.copy() for name, array in seg.segment(slot, alpha=0.3, ignore=1).outputs.items()}
        direct = seg.backend.infer({"frame": frame[None], "alpha": seg.alpha_weights(0.3, 1)})
        assert all(np.array_equal(outputs[name], direct[name]) for name in direct)
        assert np.array_equal(seg.predict(frame), direct["labels"][0])
        assert set(seg.last_timing) >= {"pre", "infer", "post", "compute"}


def test_frame_model_frames_of_another_size_are_resized_once_with_a_note(models):
    notes = []
    with Segmenter(models["frame"], threads=1, log=notes.append) as seg:
        big = cv2.resize(scene(1, *FRAME), (FRAME[1] * 2, FRAME[0] * 2))
        assert seg.predict(big).shape == big.shape[:2]
        seg.predict(big)
    assert sum("resizing them on the host" in n for n in notes) == 1


def test_dynamic_frame_model_takes_each_size_and_refuses_others(models):
    with Segmenter(models["dynamic"], threads=1) as seg:
        for size in ((40, 60), (53, 77), (80, 120)):
            assert seg.predict(cv2.resize(scene(0, *FRAME), size[::-1])).shape == size
        with pytest.raises(SegnetError, match="outside the model's frame sizes"):
            seg.predict(scene(0, 20, 30))


def test_network_size_labels_and_gray_frames(models):
    with Segmenter(models["network_labels"], threads=1) as seg:
        slot = seg.segment(seg.load(None, scene(3, *FRAME)))
        assert slot.outputs["labels"].shape == (1, 32, 48) and slot.labels.shape == FRAME
        small = slot.outputs["labels"][0]
        assert np.array_equal(slot.labels, cv2.resize(small, FRAME[::-1], interpolation=cv2.INTER_NEAREST))
    with Segmenter(models["gray"], threads=1) as seg:
        frame = scene(3, *FRAME)
        slot = seg.load(None, frame)
        assert slot.frame.shape == (*FRAME, 1)
        assert np.array_equal(slot.frame[..., 0], cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        assert seg.segment(slot).outputs["overlay"].shape == (1, *FRAME, 3)


def test_frame_models_refuse_host_preprocessing_options(models):
    with pytest.raises(SegnetError, match="frame path .* is inside this model"):
        Segmenter(models["frame"], mean=(0.5, 0.5, 0.5))


@pytest.mark.parametrize("name", ["plain", "tiny", "tiny_labels"])
@pytest.mark.parametrize("filter_mode", ["point", "linear"])
def test_host_path_slots_give_predict_s_class_maps(models, name, filter_mode):
    if name == "tiny_labels" and filter_mode == "linear":
        pytest.skip("a labels-only model has no logits to filter")
    with Segmenter(models[name], threads=1, filter_mode=filter_mode) as seg:
        slot = None
        for i, size in enumerate((FRAME, FRAME, (20, 30), (70, 100))):
            frame = cv2.resize(scene(i, *FRAME), size[::-1])
            slot = seg.segment(seg.load(slot, frame))
            assert np.array_equal(slot.labels, seg.predict(frame)), (name, size)


def _video(tmp_path: Path, frames: int = 24) -> Path:
    return write_video(tmp_path / "in.avi", frames=frames, height=FRAME[0], width=FRAME[1])


def test_pipeline_hands_the_model_overlay_to_the_sinks(models, tmp_path):
    """Every PNG is the graph's own overlay and class map for that decoded frame: no host rendering."""
    video = _video(tmp_path, 12)
    with Segmenter(models["frame"], threads=1) as seg, open_source(str(video)) as source:
        sink = FolderSink("out/", tmp_path / "out")
        stats = Pipeline(seg, source, [sink], alpha=0.4, ignore_class=2, status_stream=None).run()
        assert stats.frames_out == 12
        capture = cv2.VideoCapture(str(video))
        for index in range(12):
            _, frame = capture.read()
            want = seg.backend.infer({"frame": frame[None], "alpha": seg.alpha_weights(0.4, 2)})
            assert np.array_equal(cv2.imread(str(tmp_path / "out" / f"{index:06d}.png")), want["overlay"][0])
            labels = cv2.imread(str(tmp_path / "out" / f"{index:06d}_classes.png"), cv2.IMREAD_GRAYSCALE)
            assert np.array_equal(labels, want["labels"][0])
    assert stats.summaries()["render"]["p50"] < stats.summaries()["inference"]["p50"]


def test_pipeline_side_by_side_legend_and_mask_output(models, tmp_path):
    video = _video(tmp_path, 6)
    with Segmenter(models["frame"], threads=1) as seg, open_source(str(video)) as source:
        frames: list[np.ndarray] = []
        sink = Recorder("rec", frames)
        Pipeline(seg, source, [sink], visualize=("overlay", "mask"), legend=True, status_stream=None).run()
    assert len(frames) == 6 and frames[0].shape == (FRAME[0], FRAME[1] * 2, 3)


def test_overlay_only_model_runs_but_refuses_class_statistics(models, tmp_path):
    with Segmenter(models["overlay_only"], threads=1) as seg:
        with open_source(str(_video(tmp_path, 4))) as source:
            sink = FolderSink("out/", tmp_path / "out")
            assert Pipeline(seg, source, [sink], status_stream=None).run().frames_out == 4
        assert sorted(p.name for p in (tmp_path / "out").iterdir())[:2] == ["000000.png", "000001.png"]
        with open_source(str(_video(tmp_path, 4))) as source, pytest.raises(SegnetError, match="--outputs overlay,labels"):
            Pipeline(seg, source, [NullSink("null")], class_stats=True)
        with pytest.raises(SegnetError, match="model outputs no class map"):
            seg.predict(scene(0, *FRAME))


class Recorder(Sink):
    """Keeps copies of what it is given (the pipeline reuses its buffers)."""

    def __init__(self, uri: str, frames: list[np.ndarray]) -> None:
        super().__init__(uri)
        self.frames = frames

    def write(self, frame: SinkFrame) -> None:
        self.frames.append(frame.image.copy())
        self.written += 1


class AllocationProbe(Sink):
    """Measures the largest transient allocation (tracemalloc) from frame `start`, or from the frame after
    the pipeline last made a slot if that came later (slots are made lazily, at most the pool's size), to
    frame `stop` (before the capture thread, running ahead, meets the end of the file)."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__("probe")
        self.start, self.stop = start, stop
        self.baseline: int | None = None
        self.pool = None
        self.slots = -1
        self.measured = 0  # frames since the baseline

    def write(self, frame: SinkFrame) -> None:
        self.written += 1
        if frame.index > self.stop:
            return
        if frame.index >= self.start and self.pool.issued != self.slots:
            tracemalloc.reset_peak()
            self.baseline, self.slots, self.measured = tracemalloc.get_traced_memory()[0], self.pool.issued, 0
        self.measured += 1
        self.peak = tracemalloc.get_traced_memory()[1]


@pytest.mark.parametrize(("name", "options"), [
    ("frame", {}),
    ("frame", {"visualize": ("overlay", "mask"), "legend": True, "hud": True}),
    ("plain", {}),
    ("plain", {"visualize": ("overlay", "mask"), "ignore_class": 1}),
    ("tiny_labels", {}),
])
def test_no_new_frame_sized_arrays_per_frame_after_warm_up(models, tmp_path, name, options):
    """The capture, inference, render and sink path reuses its arrays: after warm-up the traced memory
    never grows by as much as half a frame, though 55 more frames pass."""
    height, width = 240, 320
    video = write_video(tmp_path / "big.avi", frames=100, height=height, width=width)
    frame_bytes = height * width * 3
    model = models[name] if name != "frame" else _frame_model_at(tmp_path, (height, width))
    with Segmenter(model, threads=1) as seg, open_source(str(video)) as source:
        probe = AllocationProbe(start=25, stop=80)  # every slot used once
        pipeline = Pipeline(seg, source, [probe], status_stream=None, **options)
        probe.pool = pipeline.slots
        tracemalloc.start()
        try:
            pipeline.run()
        finally:
            tracemalloc.stop()
    peak = probe.peak
    assert probe.written == 100 and probe.baseline is not None and probe.measured >= 50
    assert pipeline.slots.issued <= pipeline.slots.size
    assert peak - probe.baseline < frame_bytes // 2, f"{(peak - probe.baseline) / frame_bytes:.2f} frames allocated"


def _frame_model_at(tmp_path: Path, size: tuple[int, int]) -> Path:
    model, spec = make(size=(32, 48))
    return export_model(model, spec, tmp_path / "frame240.onnx", frame=FramePath(size=size, outputs=["overlay", "labels", "mask"]),
                        check_rewrite=False)


def test_capture_sources_decode_into_the_given_array(tmp_path):
    video = _video(tmp_path, 3)
    target = np.zeros((1, *FRAME, 3), np.uint8)
    with open_source(str(video)) as source:
        frame = source.read(into=target[0])
    assert np.shares_memory(frame, target) and target.any()


def test_render_into_buffers_matches_and_reuses(models):
    lut = render.color_lut([(10 * i, 20 * i, 30 * i) for i in range(5)])
    frame, labels = scene(1, *FRAME), (np.arange(FRAME[0] * FRAME[1]) % 5).reshape(FRAME).astype(np.uint8)
    buffers: dict[str, np.ndarray] = {}
    first = render.compose(frame, labels, lut, ("overlay", "mask"), 0.3, 2, buffers)
    assert np.array_equal(first, render.compose(frame, labels, lut, ("overlay", "mask"), 0.3, 2))
    again = render.compose(frame, labels, lut, ("overlay", "mask"), 0.3, 2, buffers)
    assert again is first and again is buffers["panels"]


def test_bench_runner_times_a_frame_model_on_a_frame(models):
    from segnet.benchmarks.runners import SegmenterRunner

    runner = SegmenterRunner("onnx", models["dynamic"], threads=1)
    runner.setup()
    try:
        assert runner.feed["frame"].shape == (1, 80, 120, 3) and set(runner.feed) == {"frame", "alpha"}
        runner.run()
        frames = np.stack([scene(0, *FRAME)[..., ::-1]] * 2)  # the harness hands RGB images
        assert runner.predict(frames).shape == (2, *FRAME)
    finally:
        runner.teardown()


def test_filter_mode_linear_on_a_nearest_frame_model_is_a_note(models):
    notes: list[str] = []
    with Segmenter(models["overlay_only"], threads=1, filter_mode="linear", log=notes.append):
        pass
    assert any("--upsample linear" in n for n in notes)
