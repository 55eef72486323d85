"""Speed, memory and fidelity of SepFormer and MossFormer2 against reference implementations.

For each implementation, in a fresh subprocess (so peak memory is its own):

* inference real-time factor (wall time / audio duration) of a 10-s 8-kHz mixture,
  batch 1, ``torch.inference_mode``, best of ``--repeats`` after one warm-up run;
* peak resident memory of that process during inference (``ru_maxrss``) and its growth
  over the memory held after building the model;
* one forward + backward pass on a ``--train-seconds`` mixture (batch 1, SI-SNR loss).

References, run side by side in the same invocation when importable from
``--reference-path`` (a folder made with ``pip install --no-deps --target DIR
speechbrain hyperpyyaml ruamel.yaml einops rotary-embedding-torch clearvoice torchinfo``):

* SpeechBrain 1.x ``Encoder`` + ``Dual_Path_Model`` (``SBTransformerBlock``) +
  ``Decoder`` in the ``sepformer-wsj02mix`` configuration;
* ClearerVoice-Studio's ``MossFormer2_SS_16K`` (the authors' release; the same
  architecture serves 8 and 16 kHz).

``--check`` also loads the references' random weights into voxsep models (converters:
``voxsep.interop``) and reports the largest output difference: MossFormer2 end to end,
SepFormer one dual-path block. Whole imported models against the references, SepFormer
included (``chunk_padding="speechbrain"``): ``benchmarks/check_interop_parity.py``.

Usage::

    python benchmarks/bench_attention_models.py --repeats 2 --check \\
        --reference-path /tmp/sbenv --markdown bench_attention.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import types
from pathlib import Path

IMPLEMENTATIONS = ("voxsep:sepformer", "speechbrain:sepformer", "voxsep:mossformer2", "clearvoice:mossformer2")
# bf16 autocast variants (AMX on recent Xeons); their rows add the SNR of the bf16
# output against the fp32 output of the same weights.
BF16 = ("voxsep:sepformer@bf16", "voxsep:mossformer2@bf16")


# --------------------------------------------------------------------------- references
def _import_references(path: str) -> None:
    sys.path.insert(0, path)
    sys.path.insert(0, os.path.join(path, "clearvoice", "models"))
    # SpeechBrain imports torchaudio at package import; its dual-path and transformer
    # modules never call it, and no torchaudio wheel matches this torch, so an empty
    # module stands in for it in this benchmark process only.
    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))


def speechbrain_sepformer(n_src: int = 2, layers: int = 8, repeats: int = 2):
    """SpeechBrain's SepFormer (``sepformer-wsj02mix`` hparams) as ``(B, T) -> (B, n_src, T)``."""
    import torch
    from speechbrain.lobes.models.dual_path import Decoder, Dual_Path_Model, Encoder, SBTransformerBlock

    def block():
        return SBTransformerBlock(num_layers=layers, d_model=256, nhead=8, d_ffn=1024, dropout=0,
                                  use_positional_encoding=True, norm_before=True)

    class SBSepFormer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = Encoder(kernel_size=16, out_channels=256)
            self.masknet = Dual_Path_Model(in_channels=256, out_channels=256, intra_model=block(),
                                           inter_model=block(), num_layers=repeats, norm="ln", K=250,
                                           num_spks=n_src, skip_around_intra=True,
                                           linear_layer_after_inter_intra=False)
            self.decoder = Decoder(in_channels=256, out_channels=1, kernel_size=16, stride=8, bias=False)

        def forward(self, mix):  # as speechbrain.inference.separation.SepformerSeparation
            mix_w = self.encoder(mix)
            est_mask = self.masknet(mix_w)
            sep_h = torch.stack([mix_w] * n_src) * est_mask
            est = torch.cat([self.decoder(sep_h[i]).unsqueeze(-1) for i in range(n_src)], dim=-1)
            length = mix.shape[1]
            est = torch.nn.functional.pad(est, (0, 0, 0, max(0, length - est.shape[1])))[:, :length]
            return est.transpose(1, 2)

    return SBSepFormer()


def clearvoice_mossformer2(n_src: int = 2, dim: int = 512, layers: int = 24):
    """ClearerVoice-Studio's MossFormer2 separator as ``(B, T) -> (B, n_src, T)``."""
    import torch
    from mossformer2_ss.mossformer2 import MossFormer2_SS_16K

    args = argparse.Namespace(encoder_embedding_dim=dim, mossformer_sequence_dim=dim,
                              num_mossformer_layer=layers, encoder_kernel_size=16, num_spks=n_src)

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = MossFormer2_SS_16K(args)

        def forward(self, mix):
            return torch.stack(self.net(mix), dim=1)

    return Wrapped()


def build(implementation: str):
    from voxsep import models

    kind, name = implementation.split("@")[0].split(":")
    if kind == "voxsep":
        return models.build(name, n_src=2)
    if kind == "speechbrain":
        return speechbrain_sepformer()
    return clearvoice_mossformer2()


# ----------------------------------------------------------------------- measurements
def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(implementation: str, seconds: float, train_seconds: float, repeats: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build(implementation).eval()
    params = sum(p.numel() for p in model.parameters())
    mixture = torch.randn(1, int(seconds * 8000))
    bf16 = implementation.endswith("@bf16")
    held = _rss_mb()
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(repeats + 1):
            start = time.perf_counter()
            output = model(mixture).float()
            if i:  # the first run warms up allocator and kernels
                times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    snr_vs_fp32 = None
    if bf16:
        with torch.inference_mode():
            reference = model(mixture)
        snr_vs_fp32 = (10 * torch.log10(reference.pow(2).sum() / (reference - output).pow(2).sum())).item()
    model.train()
    if bf16:  # training speed is measured in fp32 only
        return {"implementation": implementation, "params": params, "rtf": min(times) / seconds,
                "infer_s": min(times), "peak_rss_mb": peak, "activation_mb": peak - held,
                "fwd_bwd_s": float("nan"), "snr_vs_fp32_db": snr_vs_fp32}
    train_mixture = torch.randn(1, int(train_seconds * 8000))
    step_times = []
    for _ in range(max(1, repeats - 1)):
        start = time.perf_counter()
        estimates = model(train_mixture)
        loss = -(estimates.pow(2).mean(-1) / (train_mixture.unsqueeze(1) - estimates).pow(2).mean(-1)).log10().mean()
        loss.backward()
        step_times.append(time.perf_counter() - start)
        model.zero_grad(set_to_none=True)
    return {"implementation": implementation, "params": params, "rtf": min(times) / seconds,
            "infer_s": min(times), "peak_rss_mb": peak, "activation_mb": peak - held,
            "fwd_bwd_s": min(step_times)}


# ------------------------------------------------------------------ weight conversion
# The converters live in the library (voxsep.interop), one home each; these wrappers take
# the reference modules built above.
def mossformer2_from_clearvoice(reference) -> dict:
    """voxsep ``mossformer2`` state dict holding the weights of a ClearerVoice model."""
    from voxsep.interop.clearervoice import mossformer2_state

    return mossformer2_state({k.removeprefix("net.model."): v for k, v in reference.state_dict().items()})


def sepformer_block_from_speechbrain(reference_block) -> dict:
    """State dict of a voxsep ``SepFormerBlock`` from a SpeechBrain ``Dual_Computation_Block``."""
    from voxsep.interop.speechbrain import sepformer_block_state

    src = reference_block.state_dict()
    n_layers = len({k.split(".")[3] for k in src if k.startswith("intra_mdl.mdl.layers.")})
    return sepformer_block_state(src, "", "", n_layers)


def check_fidelity() -> dict:
    """Largest |voxsep - reference| with the reference's random weights loaded into voxsep."""
    import torch

    from voxsep import models
    from voxsep.models.sepformer import SepFormerBlock

    results = {}
    torch.manual_seed(0)
    reference = clearvoice_mossformer2(dim=64, layers=2).eval()
    with torch.no_grad():  # non-trivial norms and gains
        for name, p in reference.named_parameters():
            if p.dim() <= 1 and p.requires_grad:  # not the rotary frequencies
                p.add_(0.1 * torch.randn_like(p))
    ours = models.build("mossformer2", n_filters=64, dim=64, n_layers=2).eval()
    ours.load_state_dict(mossformer2_from_clearvoice(reference))
    x = torch.randn(2, 16 + 8 * 999)  # a length the reference's encoder tiles exactly
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    results["mossformer2 (dim 64, 2 layers, 1000 frames)"] = (got - expected).abs().max().item() / expected.abs().max().item()

    _import_speechbrain_block = speechbrain_sepformer(layers=2, repeats=1).masknet.dual_mdl[0].eval()
    with torch.no_grad():
        for name, p in _import_speechbrain_block.named_parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    block = SepFormerBlock(256, 2, 8, 1024, 0.0).eval()  # channels-last: (B, S, K, C)
    block.load_state_dict(sepformer_block_from_speechbrain(_import_speechbrain_block))
    chunks = torch.randn(1, 256, 250, 9)
    with torch.no_grad():
        expected = _import_speechbrain_block(chunks)
        got = block(chunks.permute(0, 3, 2, 1).contiguous()).permute(0, 3, 2, 1)
    results["sepformer block (2+2 layers, 9 chunks of 250)"] = (got - expected).abs().max().item() / expected.abs().max().item()
    return results


# ----------------------------------------------------------------------------- driver
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--implementations", nargs="+", default=list(IMPLEMENTATIONS), choices=IMPLEMENTATIONS + BF16)
    parser.add_argument("--seconds", type=float, default=10.0, help="inference input length (8 kHz)")
    parser.add_argument("--train-seconds", type=float, default=4.0, help="forward+backward input length")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reference-path", default="/tmp/sbenv", help="folder with speechbrain/clearvoice")
    parser.add_argument("--check", action="store_true", help="load reference weights into voxsep and compare")
    parser.add_argument("--markdown", help="write the results table to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        if not args.worker.startswith("voxsep") or args.worker == "check":
            _import_references(args.reference_path)
        if args.worker == "check":
            print(json.dumps(check_fidelity()))
        else:
            print(json.dumps(measure(args.worker, args.seconds, args.train_seconds, args.repeats, args.threads)))
        return 0

    def run(worker: str) -> dict | None:
        command = [sys.executable, __file__, "--worker", worker, "--seconds", str(args.seconds),
                   "--train-seconds", str(args.train_seconds), "--repeats", str(args.repeats),
                   "--threads", str(args.threads), "--reference-path", args.reference_path]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            print(f"{worker}: failed\n{done.stderr[-1500:]}", file=sys.stderr)
            return None
        return json.loads(done.stdout.strip().splitlines()[-1])

    rows = []
    for implementation in args.implementations:
        result = run(implementation)
        if result:
            rows.append(result)
            print(json.dumps(result), flush=True)
    load = os.getloadavg()[0]
    lines = [f"{args.seconds:g}-s 8-kHz input, batch 1, fp32, {args.threads} threads, best of {args.repeats}; "
             f"forward+backward on {args.train_seconds:g} s; load average {load:.1f} at the end.", "",
             "| implementation | params | RTF (10 s) | peak RSS MB | activations MB | fwd+bwd s | bf16 vs fp32 |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        snr = r.get("snr_vs_fp32_db")
        lines.append(f"| {r['implementation']} | {r['params'] / 1e6:.2f} M | {r['rtf']:.3f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['activation_mb']:.0f} | {r['fwd_bwd_s']:.2f} | "
                     f"{'' if snr is None else f'{snr:.1f} dB SNR'} |")
    if args.check:
        check = run("check")
        if check:
            lines += ["", "Fidelity (reference weights loaded into voxsep, max |diff| / max |reference|):", ""]
            lines += [f"- {name}: {value:.1e}" for name, value in check.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
