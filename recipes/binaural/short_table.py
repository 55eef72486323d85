"""Short training of a tiny binaural variant and its test scores (the table in docs/binaural.md).

Not a recipe: a quick check on a small binaural set that each variant learns and what it
reaches in minutes on a CPU (tiny config: N=32, L=16, B=32, H=64, X=4, R=1, interaural
features with a 128-sample window projected to 16 channels; Adam, batch 4 x 0.5 s crops,
negative-SNR PIT on both ears, gradient clipping 5). Usage::

    voxsep prepare offline /tmp/off --tiny
    voxsep prepare binaural /tmp/bin --corpus /tmp/off --n-src 2 --n-train 240 --n-valid 20 --n-test 30
    OMP_NUM_THREADS=1 python recipes/binaural/short_table.py /tmp/bin/2speakers/wav8k/min binaural_parallel \\
        --steps 1500 [--causal]

Prints mean SNR, SNRi (dB, both ears), ΔITD (µs, sub-sample and integer-lag GCC-PHAT)
and ΔILD (dB) over the test split (tt) before and after training — the same
``voxsep.metrics.spatial.binaural_scores`` that ``voxsep evaluate`` reports — and a
markdown table row.
"""

import argparse
import time

import numpy as np
import torch

from voxsep import models
from voxsep.data.datasets import MixtureDataset
from voxsep.losses import PITLoss
from voxsep.metrics.spatial import binaural_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="a prepared binaural set: <out>/2speakers/wav8k/min (tr/ and tt/ inside)")
    parser.add_argument("model", choices=["binaural_independent", "binaural_cross", "binaural_parallel"])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--segment", type=float, default=0.5, help="training crop, seconds")
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--causal", action="store_true", help="the real-time configuration (cLN, causal)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    config = dict(n_filters=32, kernel_size=16, bottleneck=32, hidden=64, n_blocks=4, n_repeats=1, causal=args.causal)
    if args.model != "binaural_independent":
        config.update(feature_window=128, feature_channels=16)
    torch.manual_seed(0)
    model = models.build(args.model, n_src=2, **config)
    train_set = MixtureDataset(f"{args.root}/tr", 2, 8000, segment=args.segment, train=True)
    test_set = MixtureDataset(f"{args.root}/tt", 2, 8000, train=False)

    def evaluate() -> dict[str, float]:
        model.eval()
        rows = []
        with torch.no_grad():
            for mixture, sources in test_set:
                scores = binaural_scores(sources, model(mixture[None])[0], mixture, 8000)
                rows.append({k: float(np.mean(v)) for k, v in scores.items()})
        model.train()
        return {k: round(float(np.mean([r[k] for r in rows])), 2) for k in rows[0]}

    print("before", evaluate(), flush=True)
    optimizer = torch.optim.Adam(model.parameters(), args.lr)
    loss_fn = PITLoss("snr")
    loader = torch.utils.data.DataLoader(train_set, batch_size=4, shuffle=True, drop_last=True)
    start, step = time.time(), 0
    while step < args.steps:
        for mixture, sources in loader:
            loss, _ = loss_fn(model(mixture), sources)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5)
            optimizer.step()
            step += 1
            if step % 100 == 0:
                print(step, round(float(loss.detach()), 3), round(time.time() - start, 1), flush=True)
            if step >= args.steps:
                break
    after = evaluate()
    minutes = (time.time() - start) / 60
    print("after", after, f"{minutes:.1f} min", flush=True)
    name = args.model + (" (causal)" if args.causal else "")
    print(f"| {name} | {args.steps} | {after['snri']:.2f} | {after['delta_itd_us']:.1f} | "
          f"{after['delta_itd_int_us']:.1f} | {after['delta_ild_db']:.2f} | {minutes:.0f} |")


if __name__ == "__main__":
    main()
