"""``make demo``: separate the bundled example mixture and score it.

Separates ``example_mix.wav`` (a mixture of held-out talkers, bundled in
``voxsep/pretrained/``) with the bundled model, writes ``<out>/example_mix_spk1.wav``,
``..._spk2.wav``, and prints where they are and their SI-SNR improvement over the
mixture, measured against the bundled references ``example_s1.wav``/``example_s2.wav``
(after best-permutation matching)::

    python -m voxsep.pretrained.demo [--model NAME_OR_CKPT] [--out demo_out] [--force]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from voxsep import pretrained

    parser = argparse.ArgumentParser(
        prog="python -m voxsep.pretrained.demo",
        description="Separate the bundled example mixture and print the outputs' SI-SNRi.",
        epilog="example:\n  python -m voxsep.pretrained.demo --out demo_out --force",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default=None, help="bundled model name or checkpoint (default: bundled)")
    parser.add_argument("--mixture", type=Path, default=pretrained.EXAMPLE_MIXTURE, help="mixture to separate")
    parser.add_argument("--references", type=Path, nargs="+", default=list(pretrained.EXAMPLE_SOURCES),
                        help="reference sources of the mixture, for scoring")
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default demo_out)")
    parser.add_argument("--force", action="store_true", help="overwrite earlier outputs")
    args = parser.parse_args(argv)

    import numpy as np

    from voxsep.core.audio import read_audio
    from voxsep.inference.api import Separator
    from voxsep.metrics import si_snr, si_snr_improvement

    try:
        separator = Separator.load(args.model)
        print(f"model: {separator!r}")
        written = separator.separate_file(args.mixture, args.out, force=args.force)
        mixture, rate = read_audio(args.mixture, channels=1)
        references = np.stack([read_audio(p, sample_rate=rate, channels=1)[0][0] for p in args.references])
        estimates = np.stack([read_audio(p, channels=1)[0][0] for p in written])
    except (ValueError, OSError) as error:
        print(f"demo: error: {error}", file=sys.stderr)
        return 2
    length = min(references.shape[-1], estimates.shape[-1], mixture.shape[-1])
    references, estimates, mix = references[:, :length], estimates[:, :length], mixture[0, :length]
    names = [path.name for path in args.references]
    if len(estimates) != len(references):  # a counting model found another number of talkers
        print(f"the model found {len(estimates)} talker(s) in a mixture of {len(references)}; scoring the "
              "best-matching pairs")
        kept_refs, kept_ests = _best_matching_subsets(references, estimates)
        references, estimates = references[kept_refs], estimates[kept_ests]
        names = [names[j] for j in kept_refs]
    improvement = si_snr_improvement(references, estimates, mix)
    score = si_snr(references, estimates)
    print(f"separated {args.mixture} ({length / rate:.1f} s at {rate} Hz):")
    for path in written:
        print(f"  {path}")
    for i, (gain, value) in enumerate(zip(improvement, score)):
        print(f"  talker {i + 1}: SI-SNR {value:5.1f} dB, SI-SNRi {gain:5.1f} dB (vs {names[i]})")
    print(f"mean SI-SNRi: {float(np.mean(improvement)):.1f} dB")
    return 0


def _best_matching_subsets(references, estimates) -> tuple[list[int], list[int]]:
    """Indices of the ``min(n_ref, n_est)`` references and estimates (``(n, time)`` arrays)
    whose mean SI-SNR (best permutation) is highest: outputs and references of different
    numbers."""
    import itertools

    import numpy as np

    from voxsep.metrics import si_snr

    k = min(len(references), len(estimates))
    pairs = itertools.product(itertools.combinations(range(len(references)), k),
                              itertools.combinations(range(len(estimates)), k))
    refs, ests = max(pairs, key=lambda p: float(np.mean(si_snr(references[list(p[0])], estimates[list(p[1])]))))
    return list(refs), list(ests)


if __name__ == "__main__":
    sys.exit(main())
