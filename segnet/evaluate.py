"""Evaluation of any predictor on a dataset: global accuracy, class-average accuracy, mIoU, per-class IoU.

The loop is numpy + OpenCV only, so benchmarks can score ONNX / INT8 / TensorRT models with exactly the
code training uses; `model_predictor` adapts a torch model (torch is imported only when it is called).
Images are resized to the network size, predicted, and the class maps are resized back (nearest) to
each annotation's own resolution: metrics are always measured at the labels' full resolution.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from segnet import preprocess
from segnet.errors import SegnetError
from segnet.lazy import require
from segnet.metrics import ConfusionMatrix
from segnet.spec import ModelSpec

if TYPE_CHECKING:  # a runtime alias would need Python 3.9's subscriptable Callable (JetPack 5 has 3.8)
    from collections.abc import Callable

    Predictor = Callable[[np.ndarray], np.ndarray]  # N x H x W x C uint8 RGB -> N x H x W class indices


def normalize(images: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """N x H x W x C uint8 images -> N x C x H x W float32 `(pixel / 255 - mean) / std`, the network input."""
    scale, shift = (v.reshape(1, -1, 1, 1) for v in preprocess.normalization(spec))
    batch = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)
    return batch * scale + shift


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an H x W x C uint8 image to `size` (height, width), keeping the channel axis for C == 1."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    return preprocess.resize(image, (height, width)).reshape(height, width, -1)


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize an H x W class map to `shape` (height, width) with nearest neighbour (labels never blend)."""
    cv2 = require("cv2", "label resizing")
    if labels.shape == tuple(shape):
        return labels
    source = labels.astype(np.uint8) if labels.max(initial=0) < 256 else labels.astype(np.float32)
    resized = cv2.resize(source, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return resized.astype(labels.dtype)


def confusion_matrix(predict: Predictor, dataset: Any, spec: ModelSpec, size: tuple[int, int] | None = None,
                     batch_size: int = 8, indices: Iterable[int] | None = None,
                     progress: bool = False) -> ConfusionMatrix:
    """Run `predict` over `dataset` (or the given `indices` of it) and count pixels per (true, predicted)."""
    size = tuple(size or spec.input_size)  # type: ignore[assignment]
    order = list(range(len(dataset)) if indices is None else indices)
    if not order:
        raise SegnetError("nothing to evaluate: the dataset (or this shard of it) is empty")
    matrix = ConfusionMatrix(spec.num_labels, spec.ignore_index)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if progress:
        batches = require("tqdm").tqdm(batches, desc="evaluate", unit="batch", leave=False)
    for batch in batches:
        samples = [dataset[i] for i in batch]
        images = np.stack([resize_image(image, size) for image, _ in samples])  # type: ignore[arg-type]
        predicted = np.asarray(predict(images))
        if predicted.shape != (len(batch),) + tuple(size):
            raise SegnetError(f"the predictor returned class maps of shape {predicted.shape}, "
                              f"expected {(len(batch),) + tuple(size)}")
        for labels, (_, mask) in zip(predicted, samples):
            matrix.update(resize_labels(labels, mask.shape), mask)
    return matrix


def evaluate_predictor(predict: Predictor, dataset: Any, spec: ModelSpec, size: tuple[int, int] | None = None,
                       batch_size: int = 8, progress: bool = False) -> dict[str, object]:
    """Metrics of `predict` (uint8 RGB N x H x W x C batch -> class maps) on `dataset`; torch-free."""
    return confusion_matrix(predict, dataset, spec, size, batch_size, progress=progress).compute()


def evaluate(predict: Predictor, dataset: Any, spec: ModelSpec, size: tuple[int, int] | None = None,
             batch_size: int = 8) -> dict[str, object]:
    """Metrics of a predictor that takes normalised N x C x H x W float32 batches (the raw network input)."""
    return evaluate_predictor(lambda images: predict(normalize(images, spec)), dataset, spec, size, batch_size)


def labels_from_logits(logits: Any) -> Any:
    """Class maps from N x C x H x W logits (torch or numpy): argmax, or `logit > 0` for one binary channel."""
    if logits.shape[1] == 1:
        return logits[:, 0] > 0
    return logits.argmax(1)


def model_predictor(model: Any, spec: ModelSpec, device: str = "cpu") -> Predictor:
    """Wrap a torch segmentation model as a `Predictor` (no gradients, eval mode is the caller's job)."""
    torch = require("torch", "evaluating a PyTorch model")

    def predict(images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            batch = torch.from_numpy(normalize(images, spec)).to(device)
            labels = labels_from_logits(model(batch))
            return labels.to(torch.uint8 if spec.num_labels <= 256 else torch.int64).cpu().numpy()

    return predict


def evaluate_model(model: Any, dataset: Any, spec: ModelSpec, size: tuple[int, int] | None = None,
                   device: str = "cpu", batch_size: int = 8, progress: bool = False) -> dict[str, object]:
    """Metrics of a torch model on `dataset` (puts the model in eval mode)."""
    model.eval()
    return evaluate_predictor(model_predictor(model, spec, device), dataset, spec, size, batch_size, progress)


def summary(metrics: dict[str, object], keys: Sequence[str] = ("global_acc", "class_avg_acc", "miou")) -> str:
    """One line with the paper's three numbers in percent, e.g. for progress logs."""
    names = {"global_acc": "global acc", "class_avg_acc": "class-avg acc", "miou": "mIoU"}
    return "  ".join(f"{names.get(k, k)} {100 * float(metrics[k]):.2f}" for k in keys)  # type: ignore[arg-type]
