"""Short training of a tiny binaural variant and its test scores (the README table).

Not a recipe: a quick check on a small binaural set that each variant learns and what it
reaches in a few minutes on a CPU (tiny config: N=32, L=16, B=32, H=64, X=4, R=1; Adam
5e-3, batch 4 x 0.5 s crops, negative-SNR PIT on both ears). Usage::

    voxsep prepare offline /tmp/off --tiny
    voxsep prepare binaural /tmp/bin --corpus /tmp/off --n-src 2 --n-train 240 --n-valid 20 --n-test 30
    python recipes/binaural/short_table.py /tmp/bin/2speakers/wav8k/min binaural_parallel 300 0.5 5e-3

Prints mean SNR, SNRi (dB), dITD (us, sub-sample and integer-lag GCC-PHAT) and dILD (dB)
over the test split (tt) before and after training.
"""
import sys, time, torch, numpy as np
torch.set_num_threads(1)
from voxsep import models
from voxsep.losses import PITLoss
from voxsep.data.datasets import MixtureDataset
from voxsep.metrics.spatial import binaural_scores
root = sys.argv[1]; name = sys.argv[2]; steps = int(sys.argv[3]); seg = float(sys.argv[4]); lr = float(sys.argv[5])
args = dict(n_filters=32, kernel_size=16, bottleneck=32, hidden=64, n_blocks=4, n_repeats=1)
if name != "binaural_independent": args.update(feature_window=128, feature_channels=16)
torch.manual_seed(0)
m = models.build(name, n_src=2, **args)
ds = MixtureDataset(root + "/tr", 2, 8000, segment=seg, train=True)
test = MixtureDataset(root + "/tt", 2, 8000, train=False)
def ev():
    m.eval(); r=[]
    with torch.no_grad():
        for x, s in test: r.append({k: float(v.mean()) for k, v in binaural_scores(s, m(x[None])[0], x, 8000).items()})
    m.train(); return {k: round(float(np.mean([d[k] for d in r])), 2) for k in r[0]}
print("before", ev(), flush=True)
opt = torch.optim.Adam(m.parameters(), lr); loss_fn = PITLoss("snr")
loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True, drop_last=True)
t = time.time(); step = 0
while step < steps:
    for x, s in loader:
        loss, _ = loss_fn(m(x), s); opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 5); opt.step(); step += 1
        if step % 20 == 0: print(step, float(loss.detach()), round(time.time()-t,1), flush=True)
        if step >= steps: break
print("after", ev(), time.time()-t, flush=True)
