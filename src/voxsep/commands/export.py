"""``voxsep export``: export a checkpoint to ONNX (dynamic batch and time axes)."""

from __future__ import annotations

import argparse
from pathlib import Path

SUMMARY = "export a checkpoint to ONNX for onnxruntime"
EPILOG = """\
examples:
  voxsep export exp/convtasnet/best.pt model.onnx
  voxsep export exp/dprnn/best.pt dprnn.onnx --opset 18 --overwrite
  voxsep separate call.wav --out out/ --model model.onnx      (run it)

The file takes 'mixture' (batch, time) float32 at the model's sample rate, any
length, and returns 'estimates' (batch, n_src, time). Its metadata_props hold
sample_rate, n_src, in_channels, model_name, model_config and voxsep_version.
The export is checked against PyTorch on an input of another length than the
traced one before the command reports success.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help=SUMMARY, description=SUMMARY, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", type=Path, help="voxsep checkpoint (.pt) or bundled model name")
    parser.add_argument("output", type=Path, help="destination .onnx file")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset version (default 18)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from voxsep import checkpoint, pretrained
    from voxsep.core.files import check_distinct
    from voxsep.inference.export import OnnxModel, export_onnx

    source = args.checkpoint
    if not source.exists() and str(source) in pretrained.BUNDLED:
        source = pretrained.pretrained_path(str(source))
    check_distinct([args.output], {"the checkpoint being exported": source}, "give another output file")
    if args.output.exists() and not args.overwrite:
        raise FileExistsError(f"{args.output} already exists; pass --overwrite to replace it")
    model, meta = checkpoint.load_any(source)  # also Asteroid / SpeechBrain / ClearerVoice sources
    path = export_onnx(model, args.output, overwrite=args.overwrite, opset=args.opset)
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
