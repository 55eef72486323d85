"""ONNX export (``export_onnx``) and an onnxruntime-backed model (``OnnxModel``).

The graph is captured with ``torch.export`` (``torch.onnx.export(dynamo=True)``) so the
batch and time axes stay symbolic: one file serves every input length, not only the
trace length. The file's ``metadata_props`` carry what is needed to use it without
voxsep's Python code: ``sample_rate``, ``n_src``, ``in_channels``, ``model_name``,
``model_config`` (JSON) and ``voxsep_version``; a model trained on a variable number of
talkers also carries ``n_src_range`` (JSON ``[low, high]``), so that
``Separator.from_onnx`` counts talkers by default as it does for the checkpoint.

Recurrent layers (DPRNN's LSTMs/GRUs) are exported through two small custom operators
(``voxsep::lstm`` / ``voxsep::gru``) that wrap ``aten.lstm`` / ``aten.gru`` and are translated
to the ONNX ``LSTM`` / ``GRU`` operators by onnxscript's own translations. Without them
``torch.export`` computes the output shapes by running PyTorch's step-by-step RNN
decomposition on symbolic shapes (one step per frame of the traced input): a tiny DPRNN
took ~4 min to export and the paper configuration far longer. The model itself is not
changed: a copy with the wrapped layers is exported.

Input ``mixture``: ``(batch, time)`` (or ``(batch, channels, time)`` for multichannel
models), float32, at least ``min_length`` samples (the encoder's kernel size, also in
the metadata). Output ``estimates``: ``(batch, n_src, time)`` (``(batch, n_src, channels,
time)``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from voxsep.core.errors import advised
from voxsep import __version__
from voxsep.core.files import atomic_write

DEFAULT_OPSET = 18


_RNN_FLAGS = "bool has_biases, int num_layers, float dropout, bool train, bool bidirectional, bool batch_first"


def _opaque_rnn_op(name: str, aten_op: Any, state: str, n_states: int) -> Any:
    """Register ``voxsep::<name>``: ``aten_op`` (``aten.lstm.input`` / ``aten.gru.input``)
    behind an operator of the same schema that export does not look into (so it does not
    unroll the recurrence); ``state`` is the schema type of ``hx``, ``n_states`` the
    number of final states returned after the output."""
    outputs = ", ".join(["Tensor"] * (1 + n_states))
    schema = f"(Tensor input, {state} hx, Tensor[] params, {_RNN_FLAGS}) -> ({outputs})"

    def run(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
        return tuple(aten_op(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first))

    def fake(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
        states = list(hx) if isinstance(hx, (list, tuple)) else [hx]
        directions = 2 if bidirectional else 1
        output = input.new_empty((*input.shape[:-1], directions * states[0].shape[-1]))
        return (output, *(s.new_empty(s.shape) for s in states))

    op = torch.library.custom_op(f"voxsep::{name}", run, mutates_args=(), schema=schema)
    op.register_fake(fake)
    return op


_lstm_op = _opaque_rnn_op("lstm", torch.ops.aten.lstm.input, "Tensor[]", 2)
_gru_op = _opaque_rnn_op("gru", torch.ops.aten.gru.input, "Tensor", 1)


class _ExportableRNN(nn.Module):
    """Runs an ``nn.LSTM``/``nn.GRU`` (its own parameters) through the opaque operators above.

    Same call and outputs as the wrapped module for batched, unpacked inputs, with a zero
    initial state (``hx=None``) or a given one (``(h, c)`` / ``h``: a DPRNN streaming step).
    """

    def __init__(self, rnn: nn.LSTM | nn.GRU) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, input: torch.Tensor, hx: Any = None) -> tuple[torch.Tensor, Any]:
        rnn = self.rnn
        if input.dim() != 3:
            raise ValueError("exportable RNN: expects a batched 3-D input")
        if hx is None:
            directions = 2 if rnn.bidirectional else 1
            batch = input.shape[0] if rnn.batch_first else input.shape[1]
            zeros = input.new_zeros(rnn.num_layers * directions, batch, rnn.hidden_size)
            hx = (zeros, zeros.clone()) if isinstance(rnn, nn.LSTM) else zeros
        flags = (rnn.bias, rnn.num_layers, float(rnn.dropout), rnn.training, rnn.bidirectional, rnn.batch_first)
        if isinstance(rnn, nn.LSTM):
            output, h, c = torch.ops.voxsep.lstm(input, list(hx), rnn._flat_weights, *flags)
            return output, (h, c)
        output, h = torch.ops.voxsep.gru(input, hx, rnn._flat_weights, *flags)
        return output, h


def _with_exportable_rnns(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose LSTM/GRU layers go through ``_ExportableRNN`` (shared math)."""
    targets = [
        name
        for name, module in model.named_modules()
        if type(module) in (nn.LSTM, nn.GRU) and not getattr(module, "proj_size", 0)
    ]
    if not targets:
        return model
    model = copy.deepcopy(model)
    for name in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, _ExportableRNN(getattr(parent, child)))
    return model


def _rnn_translations() -> dict:
    """onnxscript's translations of ``aten.lstm`` / ``aten.gru`` (ONNX LSTM / GRU), for our ops."""
    from onnxscript.function_libs.torch_lib.ops.core import aten_gru, aten_lstm

    return {torch.ops.voxsep.lstm.default: aten_lstm, torch.ops.voxsep.gru.default: aten_gru}


class _ExportWrapper(nn.Module):
    """Pads the input to a length the encoder tiles exactly, then trims the output back.

    The models do the same internally with Python integer arithmetic; doing it here with
    a modulo keeps the padding symbolic in the exported graph, so it is right for every
    input length (the model's own padding is then zero).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.kernel_size = int(getattr(model, "kernel_size", 1))
        self.stride = int(getattr(model, "stride", 1))

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        length = mixture.shape[-1]
        extra = (self.stride - (length - self.kernel_size) % self.stride) % self.stride
        estimates = self.model(F.pad(mixture, (0, extra)))
        return estimates[..., :length]


class _DropTorchvisionNotes(logging.Filter):
    """Drops the exporter's "torchvision is not installed. Skipping torchvision::nms" lines:
    voxsep's models use no torchvision operator, so the note says nothing about the export."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("torchvision is not installed")


@contextlib.contextmanager
def _quiet_exporter():
    """``torch.onnx.export`` without the notes that concern torch, not the user's model: the
    torchvision lines above and torch's own ``LeafSpec`` FutureWarning (raised inside the
    exporter's decomposition step; nothing voxsep calls). Every other warning still shows."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    note_filter = _DropTorchvisionNotes()
    registration.addFilter(note_filter)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                                    category=FutureWarning)
            yield
    finally:
        registration.removeFilter(note_filter)


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    overwrite: bool = False,
    opset: int = DEFAULT_OPSET,
    example_seconds: float = 1.0,
    n_src_range: tuple[int, int] | list[int] | None = None,
) -> Path:
    """Export a voxsep model to ONNX with dynamic batch and time axes.

    Args:
        model: a voxsep model (registered, with ``sample_rate``/``n_src``).
        path: destination ``.onnx`` file, written atomically.
        overwrite: replace an existing file.
        opset: ONNX opset version (default 18).
        example_seconds: length of the example input used to capture the graph.
        n_src_range: ``(low, high)`` talkers the model was trained on (checkpoint meta
            ``n_src_range``), stored in the metadata; ``None`` for a fixed count.

    Returns:
        The written path.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        ValueError: ``n_src_range`` is not ``1 <= low <= high <= n_src``.
    """
    path = Path(path)
    if n_src_range is not None:
        n_src_range = [int(n) for n in n_src_range]
        if len(n_src_range) != 2 or not 1 <= n_src_range[0] <= n_src_range[1] <= int(model.n_src):
            raise ValueError(f"n_src_range must be (low, high) with 1 <= low <= high <= the model's "
                             f"{int(model.n_src)} outputs, got {n_src_range}")
    if path.exists() and not overwrite:
        raise advised(FileExistsError, f"{path} already exists", "overwrite", True, "to replace it")
    model = model.eval().cpu()
    in_channels = int(getattr(model, "in_channels", 1))
    sample_rate = int(getattr(model, "sample_rate", 0))
    length = max(int(example_seconds * (sample_rate or 8000)), 4 * int(getattr(model, "kernel_size", 16)) + 1)
    shape = (2, length) if in_channels == 1 else (2, in_channels, length)
    example = torch.randn(*shape)
    dims: dict[int, Any] = {0: torch.export.Dim.DYNAMIC, len(shape) - 1: torch.export.Dim.DYNAMIC}
    wrapper = _ExportWrapper(_with_exportable_rnns(model)).eval()
    with atomic_write(path, overwrite=overwrite, suffix=".tmp.onnx") as tmp_name:
        with torch.no_grad(), _quiet_exporter():
            program = torch.onnx.export(
                wrapper,
                (example,),
                dynamo=True,
                opset_version=opset,
                input_names=["mixture"],
                output_names=["estimates"],
                dynamic_shapes={"mixture": dims},
                custom_translation_table=_rnn_translations(),
                verbose=False,
            )
        proto = program.model_proto
        metadata = {
            "sample_rate": str(sample_rate),
            "n_src": str(int(model.n_src)),
            "in_channels": str(in_channels),
            "model_name": str(getattr(model, "model_name", type(model).__name__)),
            "model_config": json.dumps(getattr(model, "config", {}), default=str),
            "min_length": str(int(getattr(model, "kernel_size", 1))),
            "voxsep_version": __version__,
        }
        if n_src_range is not None:
            metadata["n_src_range"] = json.dumps(n_src_range)
        _save_with_metadata(proto, metadata, tmp_name)
    return path


def _save_with_metadata(proto: Any, metadata: dict[str, str], path: Any) -> None:
    """Replace the ONNX model's ``metadata_props`` with ``metadata`` and save it to ``path``."""
    import onnx

    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(proto, str(path))


class OnnxModel:
    """An exported voxsep model run with onnxruntime; callable on numpy arrays.

    ``model(mixture)`` with ``mixture`` ``(batch, time)`` float32 returns
    ``(batch, n_src, time)`` (multichannel: ``(batch, channels, time)`` →
    ``(batch, n_src, channels, time)``). Attributes ``sample_rate``, ``n_src``,
    ``in_channels``, ``model_name``, ``n_src_range`` (``(low, high)`` or ``None``) and
    ``metadata`` come from the file.

    Args:
        path: an ``.onnx`` file written by ``export_onnx``.
        device: ``"cuda"`` to use onnxruntime's CUDA provider when available.
        threads: intra-op threads (default: onnxruntime's choice).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable ONNX file, or one without voxsep metadata.
    """

    def __init__(self, path: str | os.PathLike, device: str | None = None, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {self.path}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if device and str(device).startswith("cuda"):
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as error:  # onnxruntime raises its own exception types
            raise ValueError(f"{self.path} is not a loadable ONNX model: {error}") from error
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        missing = [k for k in ("sample_rate", "n_src") if k not in self.metadata]
        if missing:
            raise ValueError(
                f"{self.path} has no voxsep metadata ({', '.join(missing)} missing); export it with "
                "'voxsep export' / voxsep.inference.export.export_onnx"
            )
        self.sample_rate = int(self.metadata["sample_rate"])
        self.n_src = int(self.metadata["n_src"])
        self.in_channels = int(self.metadata.get("in_channels", 1))
        self.model_name = self.metadata.get("model_name", "")
        self.min_length = int(self.metadata.get("min_length", 1))
        low_high = json.loads(self.metadata["n_src_range"]) if "n_src_range" in self.metadata else None
        self.n_src_range = (int(low_high[0]), int(low_high[1])) if low_high else None
        self._input = self.session.get_inputs()[0].name

    def __call__(self, mixture: np.ndarray) -> np.ndarray:
        mixture = np.ascontiguousarray(mixture, dtype=np.float32)
        expected = 2 if self.in_channels == 1 else 3
        if mixture.ndim != expected:
            raise ValueError(
                f"{self.path.name} expects a mixture of {expected} dims "
                f"({'(batch, time)' if expected == 2 else f'(batch, {self.in_channels}, time)'}), "
                f"got shape {mixture.shape}"
            )
        length = mixture.shape[-1]
        if length < self.min_length:
            # Too short for the encoder's kernel: zero-pad, then trim the estimates.
            pad = [(0, 0)] * (mixture.ndim - 1) + [(0, self.min_length - length)]
            return self.session.run(None, {self._input: np.pad(mixture, pad)})[0][..., :length]
        return self.session.run(None, {self._input: mixture})[0]

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, model_name={self.model_name!r}, n_src={self.n_src}, sample_rate={self.sample_rate})"


# --------------------------------------------------------------------------- streaming
def export_streaming_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    block_ms: float = 10.0,
    overwrite: bool = False,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Export one streaming step of a causal model to ONNX, state in and out explicitly.

    The graph is :class:`voxsep.inference.streaming.TasNetBlockStep` (the TCN step of the
    PyTorch streaming engines, in its pure form) or, for DPRNN,
    :class:`~voxsep.inference.streaming.DPRNNBlockStep` (the chunk step of its PyTorch
    streaming engine; LSTMs as ONNX LSTM operators with explicit states): inputs ``block`` ``(channels,
    block_size)`` float32 (``channels`` 1, or 2 for the binaural models) then the state
    tensors (``samples``, ``frame_index``, ``norm_stats``, ``ola``, ``history0``...),
    outputs ``output`` ``(n_src, channels, block_size)`` then ``next_<name>`` for each state
    tensor, to feed back as ``<name>`` at the next step. All shapes are static; a stream
    starts from zeros of the input shapes and ends with one step at ``frame_index`` =
    ``end_frame_index`` (metadata): its output begins with the last ``latency_samples``
    samples. ``metadata_props`` add ``streaming=1``, ``block_size``, ``latency_samples``,
    ``end_frame_index`` and ``state_names`` (comma-separated) to those of
    :func:`export_onnx`. Run it with :class:`OnnxStreamingSeparator`.

    Args:
        model: a causal Conv-TasNet, DPRNN or binaural model (``binaural_independent``,
            ``binaural_cross``, ``binaural_parallel``).
        path: destination ``.onnx`` file, written atomically.
        block_ms: block length; ``block_ms * sample_rate / 1000`` must be a whole multiple
            of the encoder stride (DPRNN: of the chunk hop, ``K/2`` frames).
        overwrite: replace an existing file.
        opset: ONNX opset version.

    Raises:
        ValueError: the model has no fixed-block step (non-causal, SepFormer, ...) or the
            block is not a multiple of the stride (DPRNN: the chunk hop).
        FileExistsError: ``path`` exists and ``overwrite`` is false.
    """
    from voxsep.inference.streaming import block_step, check_block_ms

    check_block_ms(block_ms)
    path = Path(path)
    if path.exists() and not overwrite:
        raise advised(FileExistsError, f"{path} already exists", "overwrite", True, "to replace it")
    model = model.eval().cpu().float()
    sample_rate = int(model.sample_rate)
    block_size = block_ms * sample_rate / 1000
    if abs(block_size - round(block_size)) > 1e-6:
        raise ValueError(f"{block_ms:g} ms at {sample_rate} Hz is not a whole number of samples ({block_size:g})")
    step = block_step(_with_exportable_rnns(model), round(block_size)).eval()  # DPRNN's LSTMs: ONNX LSTM operators
    names = step.state_names
    example = (torch.randn(step.channels, step.block_size), *step.initial_state())
    with atomic_write(path, overwrite=overwrite, suffix=".tmp.onnx") as tmp_name:
        with torch.no_grad(), _quiet_exporter():
            program = torch.onnx.export(
                step,
                example,
                dynamo=True,
                opset_version=opset,
                input_names=["block", *names],
                output_names=["output", *[f"next_{name}" for name in names]],
                custom_translation_table=_rnn_translations(),
                verbose=False,
            )
        proto = program.model_proto
        metadata = {
            "sample_rate": str(sample_rate),
            "n_src": str(step.n_src),
            "in_channels": str(step.channels),
            "model_name": str(getattr(model, "model_name", type(model).__name__)),
            "model_config": json.dumps(getattr(model, "config", {}), default=str),
            "streaming": "1",
            "end_frame_index": str(step.END_FRAME_INDEX),
            "block_size": str(step.block_size),
            "latency_samples": str(step.latency_samples),
            "state_names": ",".join(names),
            "voxsep_version": __version__,
        }
        _save_with_metadata(proto, metadata, tmp_name)
    return path


class OnnxStreamingSeparator:
    """Streams with a file from :func:`export_streaming_onnx` in onnxruntime.

    ``process(block)``: exactly ``block_size`` samples → the next ``block_size`` output
    samples: mono models take ``(n,)`` or ``(1, n)`` float32 and return ``(n_src, n)``;
    the binaural models take ``(2, n)`` (left, right) and return ``(n_src, 2, n)``.
    ``flush()`` → the last ``latency_samples`` samples, then a new stream; ``reset()``
    starts a new stream. The output is the offline causal forward of the stream delayed by
    ``latency_samples`` (``L - S``; the stream is whole blocks, so its end needs no padding).

    With ``any_block_size=True`` a block may hold any number of samples (sizes may vary):
    samples wait until a whole step's worth has arrived, so the output is delayed by
    ``block_size - 1`` more samples (``latency_samples = L - S + block_size - 1``) and
    ``process`` still returns exactly as many samples as it was given; ``flush`` pads the
    last partial step with zeros, so the whole output is the offline causal forward of the
    stream zero-padded to whole steps (it can differ from that of the unpadded stream in
    its last ``L - S`` samples only, where the padding frames overlap them).

    Args:
        path: the ``.onnx`` file.
        threads: onnxruntime intra-op threads (default 1: one stream, one core).
        any_block_size: accept blocks of any size, at ``block_size - 1`` samples more latency.

    Raises:
        FileNotFoundError, ValueError: no such file, or not a voxsep streaming export.
    """

    def __init__(self, path: str | os.PathLike, threads: int = 1, any_block_size: bool = False) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {self.path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types
            raise ValueError(f"{self.path} is not a loadable ONNX model: {error}") from error
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        if self.metadata.get("streaming") != "1":
            raise ValueError(
                f"{self.path} is not a streaming export; write one with "
                "voxsep.inference.export.export_streaming_onnx (the streaming option of 'voxsep export')"
            )
        self.sample_rate = int(self.metadata["sample_rate"])
        self.n_src = int(self.metadata["n_src"])
        self.in_channels = int(self.metadata.get("in_channels", 1))
        self.block_size = int(self.metadata["block_size"])
        self.any_block_size = bool(any_block_size)
        self.step_latency = int(self.metadata["latency_samples"])  # of whole-block steps
        self.latency_samples = self.step_latency + (self.block_size - 1 if self.any_block_size else 0)
        # a step whose frames are all masked adds nothing: its output starts with the stream's tail
        self.end_frame_index = int(self.metadata.get("end_frame_index", -(2**40)))
        self.state_names = self.metadata["state_names"].split(",")
        self._inputs = {i.name: i for i in self.session.get_inputs()}
        self._output_names = ["output", *[f"next_{name}" for name in self.state_names]]
        self.reset()

    def reset(self) -> None:
        """Start a new stream (zero state)."""
        dtypes = {"tensor(float)": np.float32, "tensor(int64)": np.int64}
        self.state = {
            name: np.zeros(self._inputs[name].shape, dtype=dtypes[self._inputs[name].type]) for name in self.state_names
        }
        self._pending = np.zeros((self.in_channels, 0), np.float32)  # samples of a step not yet complete
        self._queue = np.zeros((self.n_src, self.in_channels, self.latency_samples - self.step_latency), np.float32)
        self._received = self._returned = 0

    def _as_block(self, block: np.ndarray) -> np.ndarray:
        block = np.ascontiguousarray(block, dtype=np.float32)
        if self.in_channels == 1:
            return block.reshape(1, -1)
        if block.ndim != 2 or block.shape[0] != self.in_channels:
            raise ValueError(f"{self.path.name} streams {self.in_channels}-channel audio: a block must have shape "
                             f"({self.in_channels}, n), got {block.shape}")
        return block

    def _step(self, block: np.ndarray) -> np.ndarray:
        results = self.session.run(self._output_names, {"block": block, **self.state})
        self.state = dict(zip(self.state_names, results[1:]))
        return results[0]

    def _tail(self) -> np.ndarray:
        """The last ``step_latency`` output samples of the stream (one step of masked frames)."""
        self.state["frame_index"] = np.full_like(self.state["frame_index"], self.end_frame_index)
        zeros = np.zeros((self.in_channels, self.block_size), np.float32)
        steps = -(-self.step_latency // self.block_size)  # the tail may be longer than a block
        return np.concatenate([self._step(zeros) for _ in range(steps)], axis=-1)[..., : self.step_latency]

    def _output(self, out: np.ndarray) -> np.ndarray:
        return out[:, 0] if self.in_channels == 1 else out

    def process(self, block: np.ndarray) -> np.ndarray:
        block = self._as_block(block)
        if not self.any_block_size:
            if block.shape[-1] != self.block_size:
                raise ValueError(
                    f"{self.path.name} streams blocks of exactly {self.block_size} samples (fixed at export), "
                    f"got {block.shape[-1]}; OnnxStreamingSeparator(..., any_block_size=True) takes any size "
                    f"at {self.block_size - 1} samples more latency"
                )
            return self._output(self._step(block))
        if block.shape[-1] < 1:
            raise ValueError("a block must hold at least one sample, got 0")
        self._pending = np.concatenate([self._pending, block], axis=-1)
        outputs = [self._queue]
        while self._pending.shape[-1] >= self.block_size:
            outputs.append(self._step(self._pending[:, : self.block_size]))
            self._pending = self._pending[:, self.block_size :]
        queue = np.concatenate(outputs, axis=-1)
        n = block.shape[-1]
        out, self._queue = queue[..., :n], queue[..., n:]
        self._received += n
        self._returned += n
        return self._output(out)

    def flush(self) -> np.ndarray:
        """The last ``latency_samples`` output samples of the stream; then a new stream."""
        if not self.any_block_size:
            tail = self._tail().copy()
            self.reset()
            return self._output(tail)
        outputs = [self._queue]
        if self._pending.shape[-1]:  # the last partial step, padded with zeros
            pad = self.block_size - self._pending.shape[-1]
            outputs.append(self._step(np.pad(self._pending, ((0, 0), (0, pad)))))
        outputs.append(self._tail())
        remaining = self._received + self.latency_samples - self._returned
        tail = np.concatenate(outputs, axis=-1)[..., :remaining].copy()
        self.reset()
        return self._output(tail)

    def __repr__(self) -> str:
        return (
            f"OnnxStreamingSeparator({str(self.path)!r}, n_src={self.n_src}, block_size={self.block_size}, "
            f"latency_samples={self.latency_samples})"
        )
