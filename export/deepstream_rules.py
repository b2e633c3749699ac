"""The rules DeepStream applies to the files `segnet deploy deepstream` writes, for checking them where
DeepStream cannot run.

Both configs are GLib key files (what DeepStream's parsers read with GKeyFile): `[group]` headers,
`key=value` lines, `#` comments, lists separated by `;`, integers and doubles as g_key_file_get_integer /
_double take them, booleans as 0/1/true/false. The key tables and value ranges below are those of NVIDIA's
Gst-nvinfer "configuration file properties" and deepstream-app "configuration groups" documentation
(DeepStream 6.x/7.x), as far as segnet's files use them; a key outside them is an error here (nvinfer
would only warn and ignore it, which is how a typo silently does nothing).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

INT, UINT, DOUBLE, BOOL, STRING, INTS, DOUBLES, STRINGS = "int", "uint", "double", "bool", "str", "ints", "doubles", "strs"

# Gst-nvinfer [property] keys -> value type (the documentation's table; the ones a segmentation config may use)
NVINFER_KEYS = {
    "gpu-id": UINT, "net-scale-factor": DOUBLE, "offsets": DOUBLES, "model-color-format": INT,
    "onnx-file": STRING, "model-engine-file": STRING, "labelfile-path": STRING, "infer-dims": INTS,
    "batch-size": UINT, "network-mode": INT, "network-type": INT, "num-detected-classes": UINT,
    "output-blob-names": STRINGS, "segmentation-threshold": DOUBLE, "segmentation-output-order": INT,
    "process-mode": INT, "interval": UINT, "gie-unique-id": UINT, "maintain-aspect-ratio": BOOL,
    "symmetric-padding": BOOL, "output-tensor-meta": BOOL, "workspace-size": UINT, "scaling-filter": INT,
    "scaling-compute-hw": INT, "int8-calib-file": STRING, "mean-file": STRING, "custom-lib-path": STRING,
    "operate-on-gie-id": INT, "operate-on-class-ids": INTS, "input-object-min-width": UINT,
    "input-object-min-height": UINT,
}
# value ranges of the enumerated keys (documentation: network-mode 0 FP32, 1 INT8, 2 FP16, 3 BEST;
# network-type 0 detector, 1 classifier, 2 segmentation, 3 instance segmentation, 100 other;
# model-color-format 0 RGB, 1 BGR, 2 GRAY; process-mode 1 primary, 2 secondary;
# segmentation-output-order 0 NCHW, 1 NHWC)
NVINFER_VALUES = {"network-mode": {0, 1, 2, 3}, "network-type": {0, 1, 2, 3, 100}, "model-color-format": {0, 1, 2},
                  "process-mode": {1, 2}, "segmentation-output-order": {0, 1}}

# deepstream-app groups -> keys -> type ([sourceN] and [sinkN] are numbered)
APP_GROUPS = {
    "application": {"enable-perf-measurement": BOOL, "perf-measurement-interval-sec": UINT},
    "source": {"enable": BOOL, "type": INT, "uri": STRING, "num-sources": UINT, "gpu-id": UINT,
               "camera-width": UINT, "camera-height": UINT, "camera-fps-n": UINT, "camera-fps-d": UINT,
               "camera-csi-sensor-id": UINT, "camera-v4l2-dev-node": UINT, "drop-frame-interval": UINT,
               "nvbuf-memory-type": UINT},
    "streammux": {"gpu-id": UINT, "batch-size": UINT, "batched-push-timeout": INT, "width": UINT, "height": UINT,
                  "live-source": BOOL, "enable-padding": BOOL, "nvbuf-memory-type": UINT},
    "primary-gie": {"enable": BOOL, "gpu-id": UINT, "batch-size": UINT, "gie-unique-id": UINT, "config-file": STRING,
                    "model-engine-file": STRING, "interval": UINT, "nvbuf-memory-type": UINT},
    "segvisual": {"enable": BOOL, "gpu-id": UINT, "batch-size": UINT, "width": UINT, "height": UINT,
                  "nvbuf-memory-type": UINT},
    "osd": {"enable": BOOL, "gpu-id": UINT},
    "tiled-display": {"enable": BOOL, "rows": UINT, "columns": UINT, "width": UINT, "height": UINT, "gpu-id": UINT},
    "sink": {"enable": BOOL, "type": INT, "sync": BOOL, "source-id": UINT, "gpu-id": UINT, "container": INT,
             "codec": INT, "bitrate": UINT, "output-file": STRING, "nvbuf-memory-type": UINT},
}
# source type: 1 V4L2 camera, 2 URI, 3 multi-URI, 4 RTSP, 5 CSI camera; sink type: 1 fake, 2 EGL, 3 file,
# 4 RTSP; container 1 MP4, 2 MKV; codec 1 H.264, 2 H.265
APP_VALUES = {("source", "type"): {1, 2, 3, 4, 5}, ("sink", "type"): {1, 2, 3, 4}, ("sink", "container"): {1, 2},
              ("sink", "codec"): {1, 2}}

_INT = re.compile(r"[+-]?\d+")
_DOUBLE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def parse_key_file(text: str) -> tuple[dict[str, dict[str, str]], list[str]]:
    """GKeyFile text -> ({group: {key: value}}, problems): a key outside a group, a line that is neither
    a comment, a group nor key=value, or a key twice in one group is a problem."""
    groups: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    current: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            groups.setdefault(current, {})
        elif "=" in line and current is not None:
            key, value = (part.strip() for part in line.split("=", 1))
            if key in groups[current]:
                problems.append(f"line {number}: {key} given twice in [{current}]")
            groups[current][key] = value
        else:
            problems.append(f"line {number}: {raw!r} is not '[group]' or 'key=value' inside a group")
    return groups, problems


def _items(value: str) -> list[str]:
    parts = value.split(";")
    return parts[:-1] if parts and parts[-1] == "" else parts  # GKeyFile allows a trailing separator


def value_problem(key: str, value: str, kind: str) -> str | None:
    """Why `value` is not a valid `kind` for GKeyFile, or None."""
    if kind in (INT, UINT):
        ok = bool(_INT.fullmatch(value)) and (kind == INT or int(value) >= 0)
    elif kind == DOUBLE:
        ok = bool(_DOUBLE.fullmatch(value))
    elif kind == BOOL:
        ok = value in ("0", "1", "true", "false")
    elif kind == INTS:
        ok = bool(_items(value)) and all(_INT.fullmatch(v.strip()) for v in _items(value))
    elif kind == DOUBLES:
        ok = bool(_items(value)) and all(_DOUBLE.fullmatch(v.strip()) for v in _items(value))
    elif kind == STRINGS:
        ok = bool(_items(value)) and all(v.strip() for v in _items(value))
    else:
        ok = bool(value)
    return None if ok else f"{key}={value!r} is not a valid {kind}"


def nvinfer_problems(text: str, files: dict[str, bool], labels: Sequence[str] | None = None) -> list[str]:
    """What nvinfer would refuse (or silently ignore) in a semantic-segmentation config. `files` says which
    file names the config may refer to exist (relative to the config's folder); `labels` the labels file's
    lines."""
    groups, problems = parse_key_file(text)
    if set(groups) != {"property"}:
        problems.append(f"expected one [property] group, got {sorted(groups)}")
    props = groups.get("property", {})
    for key, value in props.items():
        if key not in NVINFER_KEYS:
            problems.append(f"unknown key {key!r} (nvinfer ignores it)")
            continue
        problem = value_problem(key, value, NVINFER_KEYS[key])
        if problem:
            problems.append(problem)
        elif key in NVINFER_VALUES and int(value) not in NVINFER_VALUES[key]:
            problems.append(f"{key}={value} is not one of {sorted(NVINFER_VALUES[key])}")
    if problems:
        return problems
    required = ("onnx-file", "infer-dims", "net-scale-factor", "network-type", "num-detected-classes",
                "output-blob-names", "segmentation-threshold", "batch-size", "model-color-format")
    problems += [f"{key} missing" for key in required if key not in props]
    if problems:
        return problems
    if props["network-type"] != "2":
        problems.append("network-type must be 2 (segmentation)")
    if not files.get(props["onnx-file"]):
        problems.append(f"onnx-file {props['onnx-file']} is not there")
    if "labelfile-path" in props and not files.get(props["labelfile-path"]):
        problems.append(f"labelfile-path {props['labelfile-path']} is not there")
    dims = [int(v) for v in _items(props["infer-dims"])]
    if len(dims) != 3 or min(dims) < 1:
        problems.append(f"infer-dims must be C;H;W of positive sizes, got {props['infer-dims']}")
    channels = 1 if props["model-color-format"] == "2" else 3
    offsets = _items(props.get("offsets", "0"))
    if "offsets" in props and len(offsets) != channels:
        problems.append(f"offsets has {len(offsets)} values for {channels}-channel input")
    if dims and dims[0] != channels:
        problems.append(f"infer-dims has {dims[0]} channels, model-color-format {props['model-color-format']} "
                        f"gives {channels}")
    if float(props["net-scale-factor"]) <= 0:
        problems.append("net-scale-factor must be positive")
    if not 0.0 <= float(props["segmentation-threshold"]) < 1.0:
        problems.append("segmentation-threshold must be in [0, 1) for probabilities")
    if int(props["num-detected-classes"]) < 1:
        problems.append("num-detected-classes must be at least 1")
    if labels is not None and len(labels) != int(props["num-detected-classes"]):
        problems.append(f"the labels file has {len(labels)} lines for {props['num-detected-classes']} classes")
    if int(props["batch-size"]) < 1:
        problems.append("batch-size must be at least 1")
    return problems


def _app_group(name: str) -> str | None:
    """The key table of a deepstream-app group name ([source0] -> source, [sink1] -> sink)."""
    base = re.sub(r"\d+$", "", name)
    if base in ("source", "sink") and base != name:
        return base
    return name if name in APP_GROUPS and name not in ("source", "sink") else None


def app_problems(text: str) -> list[str]:
    """What deepstream-app's config parser would refuse or ignore in a config of the groups above."""
    groups, problems = parse_key_file(text)
    for group, values in groups.items():
        table = _app_group(group)
        if table is None:
            problems.append(f"unknown group [{group}]")
            continue
        for key, value in values.items():
            kind = APP_GROUPS[table].get(key)
            if kind is None:
                problems.append(f"[{group}] unknown key {key!r}")
                continue
            problem = value_problem(key, value, kind)
            if problem:
                problems.append(f"[{group}] {problem}")
            elif (table, key) in APP_VALUES and int(value) not in APP_VALUES[(table, key)]:
                problems.append(f"[{group}] {key}={value} is not one of {sorted(APP_VALUES[(table, key)])}")
    for needed in ("streammux", "primary-gie"):
        if needed not in groups:
            problems.append(f"[{needed}] missing")
    if not any(_app_group(g) == "source" for g in groups) or not any(_app_group(g) == "sink" for g in groups):
        problems.append("a [sourceN] and a [sinkN] group are needed")
    return problems
