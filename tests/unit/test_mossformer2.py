"""MossFormer2: paper parameter count, the joint local/global attention and the FSMN memory
against direct formulas, and a tiny model that overfits real two-talker mixtures (shapes,
checkpoints and ONNX export: test_model_contract.py)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from voxsep import models
from voxsep.nn.fsmn import DilatedDenseMemory, GatedFSMNBlock
from voxsep.nn.mossformer import GatedAttentionUnit, ScaleNorm

TINY = dict(n_filters=32, dim=32, n_layers=1, group_size=16, query_key_dim=16, fsmn_inner=16, fsmn_order=5, dropout=0.0)
SOUNDS = Path("/usr/share/asterisk/sounds")


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def real_mixtures(n: int, seconds: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` mixtures of an English and a French asterisk prompt (8 kHz, real speech)."""
    from voxsep.core.audio import read_audio

    length = int(seconds * 8000)
    sources = []
    for lang in ("en", "fr_CA_f_June"):
        clips = []
        for path in sorted((SOUNDS / lang).glob("*.wav")):
            audio, _ = read_audio(path, sample_rate=8000, channels=1)
            if audio.shape[-1] >= length and np.abs(audio[0, :length]).max() > 0.05:
                clips.append(audio[0, :length] / np.abs(audio[0, :length]).max())
            if len(clips) == n:
                break
        sources.append(np.stack(clips))
    sources = torch.from_numpy(np.stack(sources, axis=1)).float()  # (n, 2, time)
    return sources.sum(1), sources


def pit_si_snr(estimates: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """Mean best-permutation SI-SNR (dB) of two-source estimates."""

    def si_snr(est, ref):
        est, ref = est - est.mean(-1, keepdim=True), ref - ref.mean(-1, keepdim=True)
        target = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + 1e-8) * ref
        return 10 * torch.log10(target.pow(2).sum(-1) / ((est - target).pow(2).sum(-1) + 1e-8) + 1e-8)

    return torch.maximum(si_snr(estimates, sources).mean(-1), si_snr(estimates.flip(1), sources).mean(-1)).mean()


def test_paper_configuration_has_published_parameter_count():
    for sample_rate in (8000, 16000):
        model = models.build("mossformer2", n_src=2, sample_rate=sample_rate)
        assert abs(n_params(model) - 55.7e6) / 55.7e6 < 0.02, n_params(model)
        assert model.sample_rate == sample_rate
    assert len(model.masker.stack.attention) == 24 and len(model.masker.stack.fsmn) == 24
    assert model.encoder.conv.weight.shape == (512, 1, 16) and model.stride == 8


def _direct_attention(unit: GatedAttentionUnit, x: torch.Tensor) -> torch.Tensor:
    """The gated joint attention written as loops over groups, for comparison."""
    batch, length, dim = x.shape
    g = unit.group_size
    shifted = torch.cat((torch.nn.functional.pad(x[..., : dim // 2], (0, 0, 1, -1)), x[..., dim // 2 :]), dim=-1)
    hidden, qk = unit.to_hidden_qk(shifted).split((unit.hidden, unit.query_key_dim), dim=-1)
    quad_q, lin_q, quad_k, lin_k = unit.rotary(unit.offset_scale(qk)).unbind(2)
    global_kv = lin_k.transpose(1, 2) @ hidden / length  # over the true length only
    out = lin_q @ global_kv
    local = torch.zeros_like(out)
    for start in range(0, length, g):
        sl = slice(start, start + g)
        weights = torch.relu(quad_q[:, sl] @ quad_k[:, sl].transpose(1, 2) / g) ** 2
        local[:, sl] = weights @ hidden[:, sl]
    att_v, att_u = (out + local).chunk(2, dim=-1)
    v, u = hidden.chunk(2, dim=-1)
    return x + unit.to_out((att_u * v) * torch.sigmoid(att_v * u))


@pytest.mark.parametrize("length", [5, 16, 37])
def test_joint_attention_matches_direct_formula(length):
    torch.manual_seed(0)
    from voxsep.nn.attention import RotaryEmbedding

    unit = GatedAttentionUnit(24, group_size=16, query_key_dim=12, dropout=0.0, rotary=RotaryEmbedding(8)).eval()
    x = torch.randn(2, length, 24)
    with torch.no_grad():
        torch.testing.assert_close(unit(x), _direct_attention(unit, x), atol=1e-5, rtol=1e-4)


def test_local_attention_stays_inside_groups_and_global_attention_does_not():
    torch.manual_seed(0)
    unit = GatedAttentionUnit(16, group_size=8, query_key_dim=8, dropout=0.0, shift_tokens=False).eval()
    x = torch.randn(1, 32, 16)
    y = x.clone()
    y[:, 20] += 1.0  # frame 20 lies in group 2 (frames 16..23)
    with torch.no_grad():
        change = (unit(x) - unit(y)).abs().amax(-1)[0]
    # Frames outside the group still change (global attention), frames within it more.
    assert change[:16].max() > 0 and change[24:].max() > 0
    assert change[16:24].mean() > change[:16].mean()


def test_dense_memory_reaches_the_dilated_receptive_field():
    torch.manual_seed(0)
    memory = DilatedDenseMemory(4, lorder=3, depth=2).eval()
    x = torch.randn(1, 4, 4000)
    y = x.clone()
    y[..., 200] += 0.01
    with torch.no_grad():
        for conv in memory.convs:
            conv.weight.fill_(0.2)
        change = (memory(x) - memory(y)).abs().amax(1)[0]
    # Kernels of 2*3-1 = 5 taps at dilations 1 then 2 reach 2 + 4 = 6 frames each side;
    # beyond that only the instance-norm statistics move, by O(1/4000) as much.
    inside = change[194:207]
    outside = torch.cat((change[:194], change[207:]))
    assert inside.min() > 5 * outside.max(), (inside.min(), outside.max())


def test_fsmn_block_handles_a_single_frame():
    block = GatedFSMNBlock(8, inner=4, lorder=3).eval()
    with torch.no_grad():
        assert torch.isfinite(block(torch.randn(2, 1, 8))).all()


def test_scale_norm_gives_unit_rms():
    x = torch.randn(3, 5, 64) * 7
    torch.testing.assert_close(ScaleNorm(64)(x).pow(2).mean(-1), torch.ones(3, 5), atol=1e-4, rtol=1e-4)


def test_tiny_model_overfits_real_mixtures():
    torch.manual_seed(0)
    mixtures, sources = real_mixtures(2)
    model = models.build("mossformer2", **TINY)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    baseline = pit_si_snr(mixtures[:, None].expand(-1, 2, -1), sources).item()  # no separation
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: one thread is several times faster on a busy CPU
    try:
        for _ in range(40):
            loss = -pit_si_snr(model(mixtures), sources)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        after = pit_si_snr(model(mixtures), sources).item()
    assert after > baseline + 3.0, (baseline, after)

