"""``voxsep import-model``: convert a published Asteroid / SpeechBrain / ClearerVoice model
into a voxsep checkpoint (``voxsep.interop.import_model``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from voxsep.commands import add_command

SUMMARY = "convert a published Asteroid / SpeechBrain / ClearerVoice / TIGER model into a voxsep checkpoint"
EPILOG = """\
examples:
  voxsep import-model speechbrain/sepformer-wsj02mix sepformer_wsj02mix.pt      (from the local HF cache)
  voxsep import-model ~/.cache/huggingface/hub/models--JorisCos--ConvTasNet_Libri2Mix_sepclean_8k cvt.pt
  voxsep import-model exp/asteroid_dprnn/best_model.pth dprnn.pt
  voxsep import-model checkpoints/MossFormer2_SS_16K mossformer2_16k.pt
  voxsep import-model JusperLee/TIGER-speech tiger_speech.pt    (downloaded unless cached)
  voxsep import-model path/to/TIGER-speech tiger_speech.pt      (config.json + model.safetensors)
  voxsep separate call.wav --out out/ --model sepformer_wsj02mix.pt
  voxsep separate call.wav --out out/ --model speechbrain/sepformer-wsj02mix   (converted in memory)

SOURCE is an Asteroid ConvTasNet/DPRNNTasNet/SuDORMRFNet/SuDORMRFImprovedNet/DPTNet file
(pytorch_model.bin, best_model.pth:
the serialize() layout), a SpeechBrain SepFormer folder (hyperparams.yaml,
encoder.ckpt, masknet.ckpt, decoder.ckpt), a ClearerVoice MossFormer2 checkpoint
folder (last_best_checkpoint.pt [+ config.yaml]), a TIGER folder (config.json +
model.safetensors), weights as .safetensors, a Hugging Face cache folder
(models--org--name or .../snapshots/<rev>) or a hub id org/name: taken from the
local cache, else downloaded (--revision pins a branch, tag or commit; --offline or
HF_HUB_OFFLINE=1 never touches the network; a failed download leaves nothing behind).
Weights load with safetensors or torch.load(weights_only=True) and configuration
files are read as data, so no code from the files runs. The checkpoint
records the sample rate, n_src and the source (toolkit, files, sha256).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "import-model", SUMMARY, EPILOG)
    parser.add_argument("source", help="file, folder, Hugging Face cache folder or cached hub id org/name")
    parser.add_argument("output", type=Path, help="destination voxsep checkpoint (.pt)")
    parser.add_argument("--sample-rate", type=int, default=None,
                        help="the model's sample rate where the files do not state it (or to override them)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--revision", default=None, help="for a hub id: the branch, tag or commit (default: main)")
    parser.add_argument("--offline", action="store_true",
                        help="never touch the network: a hub id must be in the local cache (also HF_HUB_OFFLINE=1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from voxsep import checkpoint
    from voxsep.core.files import check_outside
    from voxsep.interop import hub, import_model, meta_to_save
    from voxsep.interop.common import HUB_ID, resolve_source

    if args.sample_rate is not None:
        from voxsep.core.audio import check_sample_rate

        check_sample_rate(args.sample_rate, "--sample-rate")
    given = Path(str(args.source)).expanduser()
    source = args.source
    if not given.exists() and HUB_ID.match(str(source)):  # a hub id: from the cache, else downloaded
        if args.output.exists() and not args.overwrite:
            raise FileExistsError(f"{args.output} already exists; pass --overwrite to replace it")
        try:
            source = hub.download(str(source), revision=args.revision, offline=True if args.offline else None)
        except hub.HubDownloadError as error:
            raise hub.HubDownloadError(f"{error}; --offline uses only models already in the cache") from error
    resolved, _ = resolve_source(source)
    cache_entry = resolved.parent.parent if resolved.parent.name == "snapshots" else resolved  # models--org--name
    for source in dict.fromkeys(p for p in (given, resolved, cache_entry) if p.exists()):
        check_outside(args.output, "the model source", source,
                      "choose an OUTPUT outside the source (--overwrite never replaces a source file)")
    if args.output.exists() and not args.overwrite:
        raise FileExistsError(f"{args.output} already exists; pass --overwrite to replace it")
    model, meta = import_model(source, sample_rate=args.sample_rate)
    checkpoint.save(args.output, model, **meta_to_save(meta))
    source = meta.get("source", {})
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"wrote {args.output}: {meta['model_name']} ({params:.2f} M parameters), n_src={meta['n_src']}, "
          f"sample_rate={meta['sample_rate']}, from {source.get('toolkit')} {source.get('architecture')} "
          f"({', '.join(f['file'] for f in source.get('files', []))})")
    return 0
