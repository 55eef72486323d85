"""``voxsep export``: export a checkpoint to ONNX (dynamic batch and time axes)."""

from __future__ import annotations

import argparse
from pathlib import Path

from voxsep.commands import add_command

SUMMARY = "export a checkpoint to ONNX for onnxruntime"
EPILOG = """\
examples:
  voxsep export exp/convtasnet/best.pt model.onnx
  voxsep export exp/dprnn/best.pt dprnn.onnx --opset 18 --overwrite
  voxsep separate call.wav --out out/ --model model.onnx      (run it)
  voxsep export --streaming --block-ms 10 exp/causal/best.pt stream.onnx

The file takes 'mixture' (batch, time) float32 at the model's sample rate, any
length, and returns 'estimates' (batch, n_src, time). Its metadata_props hold
sample_rate, n_src, in_channels, model_name, model_config and voxsep_version.
The export is checked against PyTorch on an input of another length than the
traced one before the command reports success.

--streaming writes one streaming step of a causal Conv-TasNet, DPRNN or
binaural model (binaural_independent, binaural_cross, binaural_parallel)
instead; other models are refused. Inputs 'block' (channels, block_size) and
the state tensors, outputs 'output' (n_src, channels, block_size) and
'next_<state>' to feed back (channels 1, or 2 for the binaural models); the
block size is fixed (--block-ms, a multiple of the encoder stride; DPRNN: of
the chunk hop, K/2 frames, e.g. 15.625 ms for K=250, L=2 at 8 kHz). The output
is the offline causal forward delayed by latency_samples (metadata); it is
checked against the offline model on 2 s of noise. Python: voxsep.inference.
export.OnnxStreamingSeparator.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "export", SUMMARY, EPILOG)
    parser.add_argument("checkpoint", type=Path, help="voxsep checkpoint (.pt) or bundled model name")
    parser.add_argument("output", type=Path, help="destination .onnx file")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset version (default 18)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--streaming", action="store_true",
                        help="export one fixed-block streaming step with explicit state (causal Conv-TasNet, DPRNN, binaural)")
    parser.add_argument("--block-ms", type=float, default=10.0,
                        help="block length of --streaming in ms (default 10; a multiple of the encoder stride, DPRNN: of the chunk hop)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from voxsep import pretrained
    from voxsep.core.files import check_distinct
    from voxsep.inference.export import OnnxModel, export_onnx
    from voxsep.interop import load_any

    source = args.checkpoint
    if not source.exists() and str(source) in pretrained.BUNDLED:
        source = pretrained.pretrained_path(str(source))
    check_distinct([args.output], {"the checkpoint being exported": source}, "give another output file")
    if args.output.exists() and not args.overwrite:
        raise FileExistsError(f"{args.output} already exists; pass --overwrite to replace it")
    model, meta = load_any(source)  # also Asteroid / SpeechBrain / ClearerVoice sources
    if args.streaming:
        return _run_streaming(args, model)
    path = export_onnx(model, args.output, overwrite=args.overwrite, opset=args.opset,
                       n_src_range=meta.get("n_src_range"))
    # Parity check on a length that differs from the traced one.
    length = int(1.37 * model.sample_rate) + 3
    shape = (1, length) if getattr(model, "in_channels", 1) == 1 else (1, model.in_channels, length)
    mixture = torch.randn(*shape, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.inference_mode():
        reference = model(mixture).numpy()
    onnx_out = OnnxModel(path)(mixture.numpy())
    error = float(np.abs(onnx_out - reference).max())
    snr = 10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / max(np.sum((onnx_out - reference) ** 2.0), 1e-30))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): {meta['model_name']}, n_src={model.n_src}, "
          f"sample_rate={model.sample_rate}; parity on {length} samples: max abs err {error:.2e}, {snr:.1f} dB")
    if error > 1e-4 and snr < 60:
        print(f"voxsep export: error: the ONNX output differs from PyTorch (max abs err {error:.2e}, {snr:.1f} dB)")
        return 1
    return 0


def _run_streaming(args: argparse.Namespace, model) -> int:
    import numpy as np
    import torch

    from voxsep.inference.export import OnnxStreamingSeparator, export_streaming_onnx
    from voxsep.inference.streaming import check_block_ms

    check_block_ms(args.block_ms, "--block-ms")
    path = export_streaming_onnx(model, args.output, block_ms=args.block_ms, overwrite=args.overwrite, opset=args.opset)
    st = OnnxStreamingSeparator(path)
    blocks = max(2 * model.sample_rate // st.block_size, 2)
    mixture = torch.randn(st.in_channels, blocks * st.block_size, generator=torch.Generator().manual_seed(0)) * 0.1
    if st.in_channels == 1:
        mixture = mixture[0]
    with torch.inference_mode():
        reference = model(mixture[None]).numpy()[0]
    pieces = [st.process(block) for block in np.split(mixture.numpy(), blocks, axis=-1)]
    streamed = np.concatenate([*pieces, st.flush()], axis=-1)[..., st.latency_samples :]
    snr = 10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / max(np.sum((streamed - reference) ** 2.0), 1e-30))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): streaming step of {model.model_name}, "
          f"block {st.block_size} samples ({args.block_ms:g} ms), latency {st.latency_samples} samples "
          f"({st.latency_samples / model.sample_rate * 1e3:.2f} ms), {len(st.state_names)} state tensors; "
          f"streamed vs offline on {blocks} blocks: {snr:.1f} dB")
    if snr < 60:
        print(f"voxsep export: error: the streamed ONNX output differs from the offline model ({snr:.1f} dB)")
        return 1
    return 0
