"""A strict fake `tensorrt` module generated from tensorrt-stubs, per TensorRT version, with scripted behaviour.

Every class, method, property, attribute and enum member comes from the stubs (TensorRT 10.13 API), minus
what a version lacks (VARIANTS): touching anything else raises AttributeError, and every call is checked
against the stub's parameters (TypeError on a wrong argument) and recorded in `fake.calls`. Behaviour
(what the builder, parser, engine and context do) is scripted with `Script`; the behaviour classes below
may only define names the stubs declare, so the fake cannot drift from the real API.
"""

from __future__ import annotations

import ctypes
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .trt_stubs import StubClass, load_stubs


@dataclass(frozen=True)
class Variant:
    version: str
    remove: dict[str, set[str]] = field(default_factory=dict)  # class -> members/methods it lacks
    renumber: dict[str, dict[str, int]] = field(default_factory=dict)  # enum -> member -> value


_WEAK_TYPING = {"FP16", "BF16", "INT8", "FP8", "INT4", "FP4"}
VARIANTS = {
    "8.6": Variant("8.6.1.6", remove={
        "NetworkDefinitionCreationFlag": {"STRONGLY_TYPED", "PREFER_AOT_PYTHON_PLUGINS", "PREFER_JIT_PYTHON_PLUGINS"},
        "ICudaEngine": {"device_memory_size_v2", "get_device_memory_size_for_profile_v2"},
        "ParserError": {"node_name", "node_operator", "local_function_stack", "local_function_stack_size"}}),
    "10.3": Variant("10.3.0.26", remove={
        "NetworkDefinitionCreationFlag": {"PREFER_AOT_PYTHON_PLUGINS", "PREFER_JIT_PYTHON_PLUGINS"}}),
    "10.13": Variant("10.13.0.35"),
    # 11.x: always strongly typed, weak-typing precision flags and calibrators gone, v2 memory size only,
    # enum values renumbered (here deliberately different from 10.x to catch hard-coded bits).
    "11": Variant("11.1.0.4", remove={
        "NetworkDefinitionCreationFlag": {"EXPLICIT_BATCH"}, "BuilderFlag": _WEAK_TYPING,
        "ICudaEngine": {"device_memory_size", "get_device_memory_size_for_profile"},
        "IBuilderConfig": {"int8_calibrator"}},
        renumber={"NetworkDefinitionCreationFlag": {"STRONGLY_TYPED": 2, "PREFER_JIT_PYTHON_PLUGINS": 0,
                                                    "PREFER_AOT_PYTHON_PLUGINS": 1}}),
}
_NUMPY = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "BOOL": np.bool_,
          "UINT8": np.uint8, "INT64": np.int64}
_SKIP = {"__enter__", "__exit__", "__del__", "__eq__", "__ne__", "__hash__", "__repr__", "__str__", "__getstate__",
         "__setstate__", "__buffer__", "__release_buffer__", "__int__", "__index__", "__bool__", "__nonzero__",
         "__len__", "__getitem__", "__setitem__", "__ge__", "__gt__", "__le__", "__lt__"}


@dataclass
class Tensor:
    """A scripted network/engine tensor. shape uses -1 for dynamic; profile = (min, opt, max) shapes."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "FLOAT"
    profile: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None = None


@dataclass
class Layer:
    """A scripted network layer: its LayerType member name, input tensor names, output (name, DataType name)."""

    name: str
    type: str
    inputs: list[str]
    outputs: list[tuple[str, str]]


def _double(inputs: dict[str, np.ndarray], outputs: dict[str, tuple[tuple[int, ...], np.dtype]]) -> dict[str, np.ndarray]:
    """Default compute: every output is 2 * the first input, cast and cropped/broadcast to the output shape."""
    first = next(iter(inputs.values())).astype(np.float64) * 2
    return {name: np.resize(first, shape).astype(dtype) for name, (shape, dtype) in outputs.items()}


@dataclass
class Script:
    """What the fake TensorRT does."""

    inputs: list[Tensor] = field(default_factory=lambda: [Tensor("input", (1, 3, 4, 6))])
    outputs: list[Tensor] = field(default_factory=lambda: [Tensor("logits", (1, 3, 4, 6))])
    layers: list[Layer] = field(default_factory=list)  # the parsed network's layers (none by default)
    parse_errors: list[dict[str, Any]] = field(default_factory=list)  # desc, node, node_name, node_operator
    builder_fails: bool = False  # no GPU: Builder() logs a CUDA error and pybind raises
    build_fails: bool = False
    deserialize_fails: bool = False
    num_dla_cores: int = 0
    plan: bytes = b"FAKE-TENSORRT-PLAN"
    compute: Callable[..., dict[str, np.ndarray]] = _double


class FakeEnum:
    """An enum member as pybind11 exposes it: name, value, int(), hashable, equal by class and value."""

    _name: str
    _value: int

    @property
    def name(self) -> str:
        return self._name

    @property
    def value(self) -> int:
        return self._value

    def __int__(self) -> int:
        return self._value

    __index__ = __int__

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._value == self._value  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._value))

    def __repr__(self) -> str:
        return f"<{type(self).__name__}.{self._name}: {self._value}>"


class StrictObject:
    """Base of generated classes: unknown attributes fail, settable ones are checked and recorded."""

    _generated = False
    _settable: frozenset[str] = frozenset()
    _defaults: dict[str, Any] = {}  # noqa: RUF012 - class-level defaults of the behaviour classes
    _fake: FakeTensorRT

    def __setattr__(self, name: str, value: Any) -> None:
        cls = type(self)
        if name.startswith("_") or not cls.__dict__.get("_generated", False):
            object.__setattr__(self, name, value)
            return
        if name not in cls._settable:
            raise AttributeError(f"tensorrt {cls._fake.version}: {cls.__name__}.{name} cannot be set (not in the stubs)")
        cls._fake.record(f"{cls.__name__}.{name}=", (value,), {})
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        cls = type(self)
        if name in cls._settable:
            return cls._defaults.get(name)
        raise AttributeError(f"tensorrt {cls._fake.version}: {cls.__name__} has no attribute {name!r}")


def _shape(dims: Any) -> tuple[int, ...]:
    """Dims or a tuple/list (pybind converts those implicitly) as a tuple."""
    return tuple(int(dims[i]) for i in range(len(dims)))


# -- behaviour: only names the stubs declare ----------------------------------------------------------------
class Dims:
    def __init__(self, shape: Any = ()) -> None:
        self._dims = tuple(int(d) for d in shape)

    def __len__(self) -> int:
        return len(self._dims)

    def __getitem__(self, index: Any) -> Any:
        return self._dims[index]


class Builder:
    def __init__(self, logger: Any) -> None:
        fake = self._fake
        if fake.script.builder_fails:
            logger.log(fake.severity("ERROR"), "CUDA initialization failure with error: 35")
            raise TypeError("pybind11::init(): factory function returned nullptr")
        self._logger = logger

    def create_network(self, flags: int = 0) -> Any:
        return self._fake.new("INetworkDefinition", _flags=flags, _inputs=[], _outputs=[])

    def create_builder_config(self) -> Any:
        return self._fake.new("IBuilderConfig", _flags=set(), _pools={}, _profiles=[], _cache=None)

    def create_optimization_profile(self) -> Any:
        return self._fake.new("IOptimizationProfile", _shapes={})

    def build_serialized_network(self, network: Any, config: Any) -> Any:
        fake = self._fake
        problem = None
        strongly = "STRONGLY_TYPED" in fake.network_flag_names(network._flags)
        if fake.script.build_fails:
            problem = "[network.cpp::validate] Error Code 4: Network validation failed."
        elif strongly and config._flags & {"FP16", "INT8", "BF16"}:
            problem = "Error Code 2: precision flags are not allowed with a strongly typed network"
        elif any(-1 in t.shape for t in network._inputs) and not config._profiles:
            problem = "Error Code 4: Network has dynamic or shape inputs, but no optimization profile has been defined."
        if problem:
            self._logger.log(fake.severity("ERROR"), problem)
            return None
        return fake.host_memory(fake.script.plan)

    @property
    def num_DLA_cores(self) -> int:
        return self._fake.script.num_dla_cores

    @property
    def platform_has_fast_fp16(self) -> bool:
        return True


class INetworkDefinition:
    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    @property
    def flags(self) -> int:
        return self._flags

    def get_input(self, index: int) -> Any:
        return self._inputs[index]

    def get_output(self, index: int) -> Any:
        return self._outputs[index]

    @property
    def num_layers(self) -> int:
        return len(self._layers)

    def get_layer(self, index: int) -> Any:
        return self._layers[index]


class ILayer:
    # the same tensor accessors as the network's (behaviour members must be in the class's own namespace)
    num_inputs = INetworkDefinition.num_inputs
    num_outputs = INetworkDefinition.num_outputs
    get_input = INetworkDefinition.get_input
    get_output = INetworkDefinition.get_output

    @property
    def type(self) -> Any:
        return self._type

    def set_output_type(self, index: int, dtype: Any) -> None:
        self._outputs[index]  # IndexError like pybind for a bad index


class OnnxParser:
    def __init__(self, network: Any, logger: Any) -> None:
        self._network, self._errors = network, []

    def parse_from_file(self, model: str) -> bool:
        fake = self._fake
        if not Path(model).is_file():
            self._errors = [{"desc": f"Failed to open file: {model}", "node": -1}]
        else:
            self._errors = list(fake.script.parse_errors)
        if self._errors:
            return False
        self._network._inputs = [fake.tensor(t) for t in fake.script.inputs]
        self._network._outputs = [fake.tensor(t) for t in fake.script.outputs]
        self._network._layers = [fake.layer(spec) for spec in fake.script.layers]
        return True

    @property
    def num_errors(self) -> int:
        return len(self._errors)

    def get_error(self, index: int) -> Any:
        return self._fake.new("ParserError", _error=self._errors[index])


class ParserError:
    def desc(self) -> str:
        return str(self._error["desc"])

    def node(self) -> int:
        return int(self._error.get("node", -1))

    def node_name(self) -> str:
        return str(self._error.get("node_name", ""))

    def node_operator(self) -> str:
        return str(self._error.get("node_operator", ""))


class IBuilderConfig:
    def set_memory_pool_limit(self, pool: Any, pool_size: int) -> None:
        self._pools[pool.name] = pool_size

    def get_memory_pool_limit(self, pool: Any) -> int:
        return self._pools.get(pool.name, 0)

    def set_flag(self, flag: Any) -> None:
        self._flags.add(flag.name)

    def get_flag(self, flag: Any) -> bool:
        return flag.name in self._flags

    def add_optimization_profile(self, profile: Any) -> int:
        self._profiles.append(profile)
        return len(self._profiles) - 1

    @property
    def num_optimization_profiles(self) -> int:
        return len(self._profiles)

    def create_timing_cache(self, serialized_timing_cache: Any) -> Any:
        return self._fake.new("ITimingCache", _data=bytes(serialized_timing_cache))

    def set_timing_cache(self, cache: Any, ignore_mismatch: bool) -> bool:
        self._cache = cache
        return True

    def get_timing_cache(self) -> Any:
        return self._cache


class IOptimizationProfile:
    def set_shape(self, input: str, min: Any, opt: Any, max: Any) -> None:
        lo, mid, hi = _shape(min), _shape(opt), _shape(max)
        if not all(a <= b <= c for a, b, c in zip(lo, mid, hi)):
            raise RuntimeError(f"profile for {input}: need min <= opt <= max, got {lo} {mid} {hi}")
        self._shapes[input] = (lo, mid, hi)

    def get_shape(self, input: str) -> list[Any]:
        return list(self._shapes[input])


class ITimingCache:
    def serialize(self) -> Any:
        return self._fake.host_memory(self._data + b"+timings")


class IHostMemory:
    @property
    def nbytes(self) -> int:
        return len(self)


class Runtime:
    def __init__(self, logger: Any) -> None:
        self._logger = logger

    def deserialize_cuda_engine(self, serialized_engine: Any) -> Any:
        fake = self._fake
        if fake.script.deserialize_fails or bytes(serialized_engine) != fake.script.plan:
            self._logger.log(fake.severity("ERROR"), "Serialization assertion: plan was built by another version")
            return None
        tensors = [(t, True) for t in fake.script.inputs] + [(t, False) for t in fake.script.outputs]
        return fake.new("ICudaEngine", _tensors=tensors)


class ICudaEngine:
    @property
    def num_io_tensors(self) -> int:
        return len(self._tensors)

    def _find(self, name: str) -> tuple[Tensor, bool]:
        for tensor, is_input in self._tensors:
            if tensor.name == name:
                return tensor, is_input
        raise RuntimeError(f"no tensor {name!r}")

    def get_tensor_name(self, index: int) -> str:
        return self._tensors[index][0].name

    def get_tensor_mode(self, name: str) -> Any:
        io = self._fake.module.TensorIOMode
        return io.INPUT if self._find(name)[1] else io.OUTPUT

    def get_tensor_shape(self, name: str) -> Any:
        return self._fake.dims(self._find(name)[0].shape)

    def get_tensor_dtype(self, name: str) -> Any:
        return getattr(self._fake.module.DataType, self._find(name)[0].dtype)

    def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[Any]:
        tensor = self._find(name)[0]
        if tensor.profile is None:
            raise RuntimeError(f"{name} has no profile")
        return [self._fake.dims(shape) for shape in tensor.profile]

    @property
    def device_memory_size(self) -> int:
        return 1 << 20

    @property
    def device_memory_size_v2(self) -> int:
        return 1 << 20

    def create_execution_context(self, *args: Any, **kwargs: Any) -> Any:
        shapes = {t.name: t.shape for t, _ in self._tensors}
        return self._fake.new("IExecutionContext", _engine=self, _shapes=shapes, _addresses={})


class IExecutionContext:
    def set_input_shape(self, name: str, shape: Any) -> bool:
        tensor, is_input = self._engine._find(name)
        shape = _shape(shape)
        lo, _, hi = tensor.profile or (tensor.shape, None, tensor.shape)
        if not is_input or len(shape) != len(tensor.shape) or not all(a <= s <= b for a, s, b in zip(lo, shape, hi)):
            return False
        self._shapes[name] = shape
        return True

    def get_tensor_shape(self, name: str) -> Any:
        return self._fake.dims(self._current(name))

    def _current(self, name: str) -> tuple[int, ...]:
        tensor, is_input = self._engine._find(name)
        if is_input:
            return self._shapes[name]
        batch = next(s[0] for t, i in self._engine._tensors if i for s in [self._shapes[t.name]])
        return tuple(batch if d < 0 else d for d in tensor.shape)

    def set_tensor_address(self, name: str, memory: int) -> bool:
        self._engine._find(name)
        self._addresses[name] = int(memory)
        return True

    def get_tensor_address(self, name: str) -> int:
        return self._addresses.get(name, 0)

    def execute_async_v3(self, stream_handle: int) -> bool:
        fake = self._fake
        tensors = self._engine._tensors
        if any(t.name not in self._addresses for t, _ in tensors) or any(-1 in self._current(t.name)
                                                                          for t, _ in tensors):
            return False
        plan = [(t.name, is_input, self._current(t.name), np.dtype(_NUMPY[t.dtype]), self._addresses[t.name])
                for t, is_input in tensors]
        for _, _, shape, dtype, address in plan:
            fake.cudart.region(address, int(np.prod(shape)) * dtype.itemsize, device=True)
        fake.cudart.run_or_capture(stream_handle, lambda: fake.run_compute(plan))
        return True


_BEHAVIOUR = {cls.__name__: cls for cls in (Dims, Builder, INetworkDefinition, ILayer, OnnxParser, ParserError,
                                            IBuilderConfig, IOptimizationProfile, ITimingCache, IHostMemory, Runtime,
                                            ICudaEngine, IExecutionContext)}


def _binds(signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    try:
        signature.bind(*args, **kwargs)
        return True
    except TypeError:
        return False


class FakeTensorRT:
    """The fake module (`.module`) plus its recorder (`.calls`) and script, for one TensorRT version."""

    def __init__(self, version: str = "10.13", script: Script | None = None, cudart: Any = None) -> None:
        self.variant = VARIANTS[version]
        self.version = self.variant.version
        self.script = script or Script()
        self.cudart = cudart
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.layers_made: list[Any] = []  # ILayer objects handed to the code under test
        classes, functions, _ = load_stubs()
        module = ModuleType("tensorrt")
        module.__version__ = self.version  # type: ignore[attr-defined]
        self.module = module
        for stub in classes.values():
            setattr(module, stub.name, self._make(stub))
        for name, refs in ((c.name, c.member_refs) for c in classes.values()):
            for member, target in refs.items():  # e.g. ILogger.WARNING -> ILogger.Severity.WARNING
                owner, _, nested = target.partition(".")
                enum = getattr(getattr(module, owner, None), nested, None) if nested else getattr(module, owner, None)
                if enum is not None and hasattr(enum, member):
                    setattr(getattr(module, name), member, getattr(enum, member))
        behaviour = {"nptype": lambda trt_type: _NUMPY[trt_type.name],
                     "init_libnvinfer_plugins": lambda logger, namespace: True}
        for name, impl in behaviour.items():
            setattr(module, name, self._function(name, functions[name], impl))

    # -- generation -------------------------------------------------------------------------------------
    def _make(self, stub: StubClass, outer: str = "") -> type:
        removed = self.variant.remove.get(stub.name, set())
        if stub.is_enum:
            return self._enum(stub, removed)
        behaviour = _BEHAVIOUR.get(stub.name)
        allowed = set(stub.methods) | stub.properties | stub.settable  # a version may drop some
        if behaviour is not None:
            invented = {n for n in vars(behaviour) if not n.startswith("_")} - allowed
            if "__init__" in vars(behaviour) and "__init__" not in stub.methods:
                invented.add("__init__")
            assert not invented, f"fake behaviour {stub.name}.{sorted(invented)} is not in the stubs"
        namespace: dict[str, Any] = {"_generated": True, "_fake": self, "_settable": frozenset(stub.settable - removed),
                                     "__module__": "tensorrt"}
        for name, sigs in stub.methods.items():
            if name in removed or (name in _SKIP and name not in vars(behaviour or object)):
                continue
            impl = getattr(behaviour, name, None) if behaviour else None
            if name == "__init__" and impl is None:
                impl = _no_init
            namespace[name] = self._method(stub.name, name, sigs, impl, name in stub.static)
        for name in stub.properties - removed:
            impl = vars(behaviour).get(name) if behaviour else None
            namespace[name] = property(impl.fget if isinstance(impl, property) else _missing(stub.name, name))
        for name, value in vars(behaviour or object).items():
            if name.startswith("_") and name not in ("__init__",) and callable(value) and not name.startswith("__"):
                namespace[name] = value  # private helpers of the behaviour (not part of the API)
        bases: tuple[type, ...] = (StrictObject, bytes) if stub.name == "IHostMemory" else (StrictObject,)
        cls = type(stub.name, bases, namespace)
        for nested in stub.nested.values():
            type.__setattr__(cls, nested.name, self._make(nested, stub.name))
        return cls

    def _enum(self, stub: StubClass, removed: set[str]) -> type:
        values = {**stub.members, **self.variant.renumber.get(stub.name, {})}
        cls = type(stub.name, (FakeEnum,), {"__module__": "tensorrt"})
        members = {}
        for name, value in values.items():
            if name in removed:
                continue
            member = object.__new__(cls)
            member._name, member._value = name, value
            members[name] = member
            setattr(cls, name, member)
        cls.__members__ = members  # type: ignore[attr-defined]
        return cls

    def _method(self, owner: str, name: str, sigs: list[inspect.Signature], impl: Any, static: bool) -> Any:
        fake = self

        def method(*args: Any, **kwargs: Any) -> Any:
            call_args = args if static else args[1:]
            if not any(_binds(sig, call_args, kwargs) for sig in sigs):
                raise TypeError(f"tensorrt {fake.version}: {owner}.{name}{call_args}{kwargs or ''} does not match "
                                f"the stubs: {[str(s) for s in sigs]}")
            fake.record(f"{owner}.{name}", call_args, kwargs)
            if impl is None:
                raise NotImplementedError(f"the fake tensorrt has no behaviour for {owner}.{name}")
            return impl(*args, **kwargs)

        method.__name__ = name
        return staticmethod(method) if static else method

    def _function(self, name: str, sigs: list[inspect.Signature], impl: Callable[..., Any]) -> Callable[..., Any]:
        def function(*args: Any, **kwargs: Any) -> Any:
            if not any(_binds(sig, args, kwargs) for sig in sigs):
                raise TypeError(f"tensorrt.{name}{args} does not match the stubs")
            self.record(name, args, kwargs)
            return impl(*args, **kwargs)

        return function

    # -- helpers for behaviours and tests ------------------------------------------------------------------
    def record(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.calls.append((name, args, kwargs))

    def called(self, name: str) -> list[tuple[Any, ...]]:
        """Positional arguments of every recorded call to `name` ("Class.method", "Class.attr=")."""
        return [args for call, args, _ in self.calls if call == name]

    def new(self, cls_name: str, **private: Any) -> Any:
        cls = getattr(self.module, cls_name)
        obj = object.__new__(cls)
        for key, value in private.items():
            object.__setattr__(obj, key, value)
        return obj

    def host_memory(self, data: bytes) -> Any:
        return bytes.__new__(self.module.IHostMemory, data)

    def tensor(self, spec: Tensor) -> Any:
        obj = self.new("ITensor")
        for key, value in (("name", spec.name), ("shape", self.dims(spec.shape)), ("dtype", getattr(self.module.DataType, spec.dtype))):
            object.__setattr__(obj, key, value)
        return obj

    def layer(self, spec: Layer) -> Any:
        """An ILayer whose tensors are shared by name with the other scripted layers."""
        tensors = self._layer_tensors = getattr(self, "_layer_tensors", {})
        for name, dtype in spec.outputs:
            tensors[name] = self.tensor(Tensor(name, (1,), dtype))
        for name in spec.inputs:
            tensors.setdefault(name, self.tensor(Tensor(name, (1,))))
        obj = self.new("ILayer", _type=getattr(self.module.LayerType, spec.type),
                       _inputs=[tensors[n] for n in spec.inputs], _outputs=[tensors[n] for n, _ in spec.outputs])
        object.__setattr__(obj, "name", spec.name)
        self.layers_made.append(obj)
        return obj

    def dims(self, shape: tuple[int, ...]) -> Any:
        return self.module.Dims(list(shape))

    def severity(self, name: str) -> Any:
        return getattr(self.module.ILogger.Severity, name)

    def network_flag_names(self, flags: int) -> set[str]:
        members = self.module.NetworkDefinitionCreationFlag.__members__
        return {name for name, member in members.items() if flags & (1 << int(member))}

    def run_compute(self, plan: list[tuple[str, bool, tuple[int, ...], np.dtype, int]]) -> None:
        """Read the inputs from their (device) addresses, run the script's compute, write the outputs."""
        def view(shape: tuple[int, ...], dtype: np.dtype, address: int) -> np.ndarray:
            nbytes = int(np.prod(shape)) * dtype.itemsize
            raw = (ctypes.c_ubyte * max(nbytes, 1)).from_address(address)
            return np.frombuffer(raw, dtype=np.uint8, count=nbytes).view(dtype).reshape(shape)

        inputs = {name: view(shape, dtype, addr).copy() for name, is_in, shape, dtype, addr in plan if is_in}
        wanted = {name: (shape, dtype) for name, is_in, shape, dtype, _ in plan if not is_in}
        results = self.script.compute(inputs, wanted)
        for name, is_in, shape, dtype, addr in plan:
            if not is_in:
                view(shape, dtype, addr)[...] = np.asarray(results[name], dtype=dtype).reshape(shape)


def _no_init(self: Any, *args: Any, **kwargs: Any) -> None:
    return None


def _missing(owner: str, name: str) -> Callable[[Any], Any]:
    def getter(self: Any) -> Any:
        raise NotImplementedError(f"the fake tensorrt has no behaviour for property {owner}.{name}")

    return getter
