"""Parity of imported models with the reference implementations (whole models, real speech).

For each toolkit a worker process running the *reference package* builds the model with
its own classes and random weights (norm gains, biases and PReLU slopes perturbed so
that every mapping matters), writes it in the published layout —

* Asteroid 0.7 ``ConvTasNet`` (also causal: ``causal=True, norm_type="cgLN"``),
  ``DPRNNTasNet``, ``SuDORMRFNet``, ``SuDORMRFImprovedNet`` and ``DPTNet``: the ``serialize()`` dict
  (``model_name``, ``state_dict``, ``model_args``, ``infos``) as ``pytorch_model.bin``;
* SpeechBrain 1.x SepFormer: ``hyperparams.yaml`` (with its ``!new:``/``!ref`` tags) +
  ``encoder.ckpt``, ``masknet.ckpt``, ``decoder.ckpt``, inside a Hugging Face cache
  layout ``models--speechbrain--sepformer-test/snapshots/<rev>/``; also with 3 talkers
  (``SepFormer-libri3mix``: ``sepformer-libri3mix`` / ``-wsj03mix``) and at 16 kHz
  (``SepFormer-whamr16k``);
* ClearerVoice-Studio ``MossFormer2_SS_16K``: ``last_best_checkpoint`` +
  ``last_best_checkpoint.pt`` (``{"model": state dict}``) + ``config.yaml`` —

and separates the bundled example mixture (real speech) with it. This process then
converts the files with ``voxsep.interop.import_model`` and compares: max |diff| and
the SNR of the voxsep output against the reference output (target: >= 60 dB).

References are not voxsep dependencies. Install them into separate places::

    python -m venv /tmp/astenv && /tmp/astenv/bin/pip install torch==2.13.0 --index-url ... \\
        && /tmp/astenv/bin/pip install --no-deps asteroid==0.7.0 asteroid-filterbanks  (+ numpy, scipy, ...)
    pip install --no-deps --target /tmp/sbenv speechbrain hyperpyyaml ruamel.yaml einops \\
        rotary-embedding-torch clearvoice torchinfo

Usage::

    python benchmarks/check_interop_parity.py --asteroid-python /tmp/astenv/bin/python \\
        --reference-path /tmp/sbenv [--published-sizes] [--markdown out.md]

SpeechBrain imports torchaudio at package import; its dual-path modules never call it,
so the worker gives it an empty stand-in module.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = ("asteroid:ConvTasNet", "asteroid:DPRNNTasNet", "speechbrain:SepFormer", "clearervoice:MossFormer2",
         "asteroid:ConvTasNet-causal", "speechbrain:SepFormer-libri3mix", "speechbrain:SepFormer-whamr16k",
         "asteroid:SuDORMRFNet", "asteroid:SuDORMRFImprovedNet", "asteroid:DPTNet")
# The rate each case runs at (8 kHz unless named here).
CASE_RATES = {"clearervoice:MossFormer2": 16000, "speechbrain:SepFormer-whamr16k": 16000}


# ------------------------------------------------------------------------ worker side
def _perturb(model, seed: int = 0) -> None:
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() <= 1 and p.requires_grad:
                p.add_(0.1 * torch.randn(p.shape, generator=generator))


def worker(case: str, out: Path, published: bool) -> None:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    mixture = torch.load(out / "mixture.pt")  # (1, T)
    toolkit, arch = case.split(":")
    arch, _, variant = arch.partition("-")
    if toolkit == "asteroid":
        from asteroid.models import ConvTasNet, DPRNNTasNet, DPTNet, SuDORMRFImprovedNet, SuDORMRFNet

        if arch == "DPTNet":  # published: Asteroid's defaults (N=64, L=16, 4 heads, LSTM 256, K=100, 6 blocks)
            kwargs = {} if published else dict(n_filters=32, ff_hid=32, chunk_size=20, n_repeats=2)
            model = DPTNet(n_src=2, sample_rate=8000, **kwargs)
        elif arch.startswith("SuDORMRF"):  # published: the paper's U=16, Q=4, B=128, N=512, L=21
            kwargs = {} if published else dict(n_filters=64, bn_chan=32, num_blocks=2, upsampling_depth=3)
            model = {"SuDORMRFNet": SuDORMRFNet, "SuDORMRFImprovedNet": SuDORMRFImprovedNet}[arch](
                n_src=2, sample_rate=8000, **kwargs)
        elif arch == "ConvTasNet":
            kwargs = {} if published else dict(n_blocks=4, n_repeats=2, bn_chan=64, hid_chan=128, skip_chan=64,
                                                n_filters=128)
            if variant == "causal":  # Asteroid's causal Conv-TasNet: cumulative LN ("cgLN"), left padding
                kwargs.update(causal=True, norm_type="cgLN")
            model = ConvTasNet(n_src=2, sample_rate=8000, **kwargs)
        else:
            kwargs = dict(n_filters=64, kernel_size=2, stride=1, chunk_size=250, n_repeats=6) if published else \
                dict(n_filters=32, kernel_size=2, stride=1, chunk_size=100, n_repeats=2, bn_chan=32, hid_size=32)
            model = DPRNNTasNet(n_src=2, sample_rate=8000, **kwargs)
        _perturb(model)
        model.eval()
        folder = out / "asteroid"
        folder.mkdir()
        # BaseModel.serialize() without its pytorch_lightning import (only a version string).
        import asteroid

        torch.save({"model_name": type(model).__name__, "state_dict": model.state_dict(),
                    "model_args": model.get_model_args(),
                    "infos": {"software_versions": {"torch_version": torch.__version__,
                                                    "asteroid_version": asteroid.__version__}}},
                   folder / "pytorch_model.bin")
        source = folder / "pytorch_model.bin"
        with torch.no_grad():
            reference = model(mixture)
    elif toolkit == "speechbrain":
        import types

        sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))
        from speechbrain.lobes.models.dual_path import Decoder, Dual_Path_Model, Encoder, SBTransformerBlock

        from voxsep.interop.speechbrain import sepformer_hyperparams  # the published layout, as voxsep reads it

        n_layers, d_model, heads, d_ffn, chunk = (8, 256, 8, 1024, 250) if published else (2, 64, 4, 128, 100)
        # sepformer-libri3mix / -wsj03mix: 3 talkers; sepformer-whamr16k: the same network at 16 kHz
        n_src = 3 if variant == "libri3mix" else 2
        hparams = sepformer_hyperparams(n_filters=d_model, d_model=d_model, n_layers=n_layers, n_heads=heads,
                                        d_ffn=d_ffn, n_repeats=2, chunk_size=chunk, n_src=n_src,
                                        sample_rate=CASE_RATES.get(case, 8000))

        def block():
            return SBTransformerBlock(num_layers=n_layers, d_model=d_model, nhead=heads, d_ffn=d_ffn, dropout=0,
                                      use_positional_encoding=True, norm_before=True)

        encoder = Encoder(kernel_size=16, out_channels=d_model)
        masknet = Dual_Path_Model(in_channels=d_model, out_channels=d_model, intra_model=block(),
                                  inter_model=block(), num_layers=2, norm="ln", K=chunk, num_spks=n_src,
                                  skip_around_intra=True, linear_layer_after_inter_intra=False)
        decoder = Decoder(in_channels=d_model, out_channels=1, kernel_size=16, stride=8, bias=False)
        for module in (encoder, masknet, decoder):
            _perturb(module)
            module.eval()
        repo = out / "hub" / "models--speechbrain--sepformer-test"
        folder = repo / "snapshots" / "0123456789abcdef"
        folder.mkdir(parents=True)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text("0123456789abcdef")
        (folder / "hyperparams.yaml").write_text(hparams)
        for name, module in (("encoder", encoder), ("masknet", masknet), ("decoder", decoder)):
            torch.save(module.state_dict(), folder / f"{name}.ckpt")
        source = repo
        with torch.no_grad():  # as speechbrain.inference.separation.SepformerSeparation.separate_batch
            mix_w = encoder(mixture)
            est_mask = masknet(mix_w)
            sep_h = torch.stack([mix_w] * n_src) * est_mask
            est = torch.cat([decoder(sep_h[i]).reshape(1, -1, 1) for i in range(n_src)], dim=-1)
            length = mixture.shape[1]
            est = torch.nn.functional.pad(est, (0, 0, 0, max(0, length - est.shape[1])))[:, :length]
            reference = est.transpose(1, 2)
    else:
        from mossformer2_ss.mossformer2 import MossFormer2_SS_16K

        dim, layers = (512, 24) if published else (64, 2)
        args = argparse.Namespace(encoder_embedding_dim=dim, mossformer_sequence_dim=dim, num_mossformer_layer=layers,
                                  encoder_kernel_size=16, num_spks=2)
        model = MossFormer2_SS_16K(args)
        _perturb(model)
        model.eval()
        folder = out / "MossFormer2_SS_16K"
        folder.mkdir()
        torch.save({"model": model.state_dict()}, folder / "last_best_checkpoint.pt")
        (folder / "last_best_checkpoint").write_text("last_best_checkpoint.pt\n")
        (folder / "config.yaml").write_text(
            f"mode: 'inference'\nsampling_rate: 16000\nnetwork: \"MossFormer2_SS_16K\"\nnum_spks: 2\n"
            f"encoder_kernel_size: 16\nencoder_embedding_dim: {dim}\nmossformer_sequence_dim: {dim}\n"
            f"num_mossformer_layer: {layers}\n")
        source = folder
        with torch.no_grad():
            reference = torch.stack(model(mixture), dim=1)
    torch.save(reference, out / "reference.pt")
    (out / "source.txt").write_text(str(source))


# ------------------------------------------------------------------------ parent side
def example_mixture(sample_rate: int, seconds: float, kernel: int = 16, stride: int = 8):
    """The bundled real-speech mixture at ``sample_rate``, cut to a length the toolkits'
    encoders tile exactly (they drop the samples after the last whole frame)."""
    import numpy as np
    import torch

    from voxsep.core.audio import read_audio, resample
    from voxsep.pretrained import EXAMPLE_MIXTURE

    audio, rate = read_audio(EXAMPLE_MIXTURE)
    audio = resample(np.asarray(audio, dtype=np.float32).reshape(-1, np.shape(audio)[-1])[:1], rate, sample_rate)[0]
    length = min(len(audio), int(seconds * sample_rate))
    length = kernel + ((length - kernel) // stride) * stride
    return torch.from_numpy(np.ascontiguousarray(audio[:length]))[None]


def compare(case: str, python: str, reference_path: str | None, published: bool, seconds: float) -> dict:
    import torch

    from voxsep.interop import import_model

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="voxsep-parity-") as tmp:
        out = Path(tmp)
        sample_rate = CASE_RATES.get(case, 8000)
        mixture = example_mixture(sample_rate, seconds)
        torch.save(mixture, out / "mixture.pt")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [
            reference_path, reference_path and os.path.join(reference_path, "clearvoice", "models")])))
        command = [python, __file__, "--worker", case, str(out)] + (["--published-sizes"] if published else [])
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode:
            return {"case": case, "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
        reference = torch.load(out / "reference.pt")
        model, meta = import_model((out / "source.txt").read_text())
        with torch.no_grad():
            ours = model(mixture)
        error = (ours - reference).abs().max().item()
        snr = 10 * torch.log10(reference.double().pow(2).sum() / (ours - reference).double().pow(2).sum()).item()
        return {"case": case, "voxsep_model": meta["model_name"], "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
                "seconds": mixture.shape[-1] / sample_rate, "sample_rate": sample_rate,
                "max_abs_err": error, "max_abs_ref": reference.abs().max().item(), "snr_db": snr,
                "wall_s": time.perf_counter() - start}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--asteroid-python", default="/tmp/astenv/bin/python",
                        help="a Python with asteroid 0.7 importable")
    parser.add_argument("--reference-path", default="/tmp/sbenv", help="folder with speechbrain and clearvoice")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--published-sizes", action="store_true", help="the published models' sizes (slow)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--markdown", help="append the table to this file")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]), args.published_sizes)
        return 0
    rows = []
    for case in args.cases:
        python = args.asteroid_python if case.startswith("asteroid") else sys.executable
        reference_path = None if case.startswith("asteroid") else args.reference_path
        row = compare(case, python, reference_path, args.published_sizes, args.seconds)
        print(json.dumps(row), flush=True)
        rows.append(row)
    lines = ["| reference | voxsep model | params | input | max abs err | SNR vs reference |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['case']} | not run: {r['error']} | | | | |")
        else:
            lines.append(f"| {r['case']} | {r['voxsep_model']} | {r['params_m']:.2f} M | {r['seconds']:.2f} s @ "
                         f"{r['sample_rate'] // 1000} kHz | {r['max_abs_err']:.1e} (peak {r['max_abs_ref']:.2f}) | "
                         f"{r['snr_db']:.1f} dB |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "a") as handle:
            handle.write(text)
    return 0 if all("error" not in r and r["snr_db"] >= 60 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
