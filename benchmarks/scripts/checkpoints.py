"""Checkpoints of the presets for benchmarks that need no user model (needs torch): random weights for speed
(latency does not depend on them), briefly trained weights for agreement with PyTorch.

Latency does not depend on the weights' values, so the README's speed tables time freshly initialised
presets; accuracy columns only ever come from trained checkpoints (`segnet bench CKPT --data ...`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segnet.lazy import require


def random_checkpoint(folder: Path, arch: str, width: float, imgsz: tuple[int, int], num_classes: int = 11,
                      seed: int = 0) -> Path:
    """`folder/<arch>_w<width>_<H>x<W>.pt`: a checkpoint of an initialised preset (spec included)."""
    torch = require("torch", "benchmarking the presets")
    from segnet.models import create_model
    from segnet.spec import ModelSpec
    from segnet.train.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    spec = ModelSpec(arch=arch, num_classes=num_classes, arch_args={"width": width}, input_size=imgsz,
                     provenance={"weights": "random", "purpose": "speed benchmark"})
    model = create_model(arch, num_classes, width=width)
    settle_batchnorm(model, imgsz)
    path = Path(folder) / f"{arch}_w{width:g}_{imgsz[0]}x{imgsz[1]}_s{seed}.pt"
    return save_checkpoint(path, spec=spec, model=model, epoch=0)


def trained_checkpoint(folder: Path, arch: str, width: float, imgsz: tuple[int, int], data: Path | None,
                       epochs: int = 1, seed: int = 0) -> Path:
    """The best checkpoint of a short `segnet train` run of the preset on `data` (synthetic road scenes when
    None): weights whose logits have the class margins of a real model, for agreement measurements that
    random weights, with near-ties between classes everywhere, cannot give."""
    from segnet.train.config import TrainConfig
    from segnet.train.trainer import train

    out = Path(folder) / f"{arch}_w{width:g}_{imgsz[0]}x{imgsz[1]}_trained{epochs}"
    config = TrainConfig(data=str(data) if data is not None else "synthetic", out=str(out), model=arch,
                         width=width, imgsz=imgsz, epochs=epochs, batch=4, workers=0, seed=seed)
    return train(config).best


def exported_random_model(folder: Path, arch: str, width: float, imgsz: tuple[int, int],
                          forms: Sequence[tuple[str, dict[str, Any]]] = (("onnx", {"target": "tensorrt"}),),
                          attempts: int = 4) -> tuple[Path, dict[str, Path]]:
    """A random-weight checkpoint and its ONNX export(s) (name -> export_onnx options) that pass segnet
    export's own check against PyTorch. Random weights make near-ties in max-pool windows likely, and
    ONNX Runtime's differently rounded convolutions then flip a few pooling switches; another random
    initialisation usually has none. Latency does not depend on which initialisation is used."""
    from segnet.errors import SegnetError
    from segnet.export.onnx_export import export_onnx

    failure = ""
    for seed in range(attempts):
        checkpoint = random_checkpoint(folder, arch, width, imgsz, seed=seed)
        try:
            exports = {name: Path(export_onnx(checkpoint, folder / f"{checkpoint.stem}.{name}.onnx", imgsz=imgsz,
                                              **options)) for name, options in forms}
            return checkpoint, exports
        except SegnetError as exc:
            failure = str(exc)
    raise SegnetError(f"{arch} x{width:g} at {imgsz[0]}x{imgsz[1]}: no export of {attempts} random "
                      f"initialisations passed the check against PyTorch (last: {failure})")


def settle_batchnorm(model: object, imgsz: tuple[int, int], passes: int = 3) -> None:
    """Give BatchNorm running statistics from a few random batches, as training would: with the initial
    mean 0 / variance 1 a deep random net's logits explode, which is not what a real model looks like
    (and trips the export's numeric check against PyTorch)."""
    torch = require("torch", "benchmarking the presets")
    for module in model.modules():  # type: ignore[attr-defined]
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # cumulative average over the passes
    model.train()  # type: ignore[attr-defined]
    with torch.no_grad():
        for _ in range(passes):
            model(torch.randn(2, 3, *imgsz))  # type: ignore[operator]
    model.eval()  # type: ignore[attr-defined]
