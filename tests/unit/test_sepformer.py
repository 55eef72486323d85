"""SepFormer: paper parameter count, the attention blocks against PyTorch's own transformer,
and a tiny model that overfits real two-talker mixtures (shapes, checkpoints and ONNX export:
test_model_contract.py)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from voxsep import models
from voxsep.nn.attention import (
    MultiHeadSelfAttention,
    RotaryEmbedding,
    TransformerEncoderLayer,
    sinusoidal_encoding,
)

TINY = dict(n_filters=32, kernel_size=16, stride=8, d_model=32, chunk_size=20, n_repeats=1, n_layers=1, n_heads=4, d_ffn=64)
SOUNDS = Path("/usr/share/asterisk/sounds")


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def real_mixtures(n: int, seconds: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` mixtures of an English and a French asterisk prompt (8 kHz, real speech)."""
    from voxsep.core.audio import read_audio

    length = int(seconds * 8000)
    pools = [sorted((SOUNDS / lang).glob("*.wav")) for lang in ("en", "fr_CA_f_June")]
    sources = []
    for pool in pools:
        clips = []
        for path in pool:
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

    straight = si_snr(estimates, sources).mean(-1)
    swapped = si_snr(estimates.flip(1), sources).mean(-1)
    return torch.maximum(straight, swapped).mean()


@pytest.mark.parametrize("n_src, expected", [(2, 25.7e6)])
def test_paper_configuration_has_published_parameter_count(n_src, expected):
    model = models.build("sepformer", n_src=n_src)
    assert abs(n_params(model) - expected) / expected < 0.02, n_params(model)
    masker = model.masker
    assert masker.chunk_size == 250 and len(masker.blocks) == 2
    assert len(masker.blocks[0].intra.layers) == 8 and len(masker.blocks[0].inter.layers) == 8
    assert model.encoder.conv.weight.shape == (256, 1, 16) and model.stride == 8


def test_attention_matches_pytorch_multihead_attention():
    torch.manual_seed(0)
    ours = MultiHeadSelfAttention(32, 4).eval()
    reference = torch.nn.MultiheadAttention(32, 4, batch_first=True).eval()
    reference.in_proj_weight.data.copy_(ours.in_proj.weight)
    reference.in_proj_bias.data.copy_(ours.in_proj.bias)
    reference.out_proj.weight.data.copy_(ours.out_proj.weight)
    reference.out_proj.bias.data.copy_(ours.out_proj.bias)
    x = torch.randn(3, 19, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x, x, x, need_weights=False)[0], atol=1e-5, rtol=1e-5)


def test_pre_ln_layer_matches_pytorch_norm_first_layer():
    torch.manual_seed(0)
    ours = TransformerEncoderLayer(32, 4, 64, norm_eps=1e-6).eval()
    reference = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True, norm_first=True, layer_norm_eps=1e-6).eval()
    pairs = [
        (reference.self_attn.in_proj_weight, ours.attention.in_proj.weight),
        (reference.self_attn.in_proj_bias, ours.attention.in_proj.bias),
        (reference.self_attn.out_proj.weight, ours.attention.out_proj.weight),
        (reference.self_attn.out_proj.bias, ours.attention.out_proj.bias),
        (reference.linear1.weight, ours.ffn[0].weight),
        (reference.linear1.bias, ours.ffn[0].bias),
        (reference.linear2.weight, ours.ffn[3].weight),
        (reference.linear2.bias, ours.ffn[3].bias),
        (reference.norm1.weight, ours.norm1.weight),
        (reference.norm1.bias, ours.norm1.bias),
        (reference.norm2.weight, ours.norm2.weight),
        (reference.norm2.bias, ours.norm2.bias),
    ]
    for ref, mine in pairs:
        ref.data.copy_(mine.data + 0.01 * torch.randn_like(mine))  # non-trivial norms
        mine.data.copy_(ref.data)
    x = torch.randn(2, 25, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=1e-5)


def test_sinusoidal_encoding_values():
    pe = sinusoidal_encoding(50, 8)
    position, i = 7, 2  # feature pair (4, 5) uses frequency 10000^(-4/8)
    frequency = 10000 ** (-2 * i / 8)
    assert pe.shape == (50, 8)
    assert pe[position, 2 * i].item() == pytest.approx(np.sin(position * frequency), abs=1e-6)
    assert pe[position, 2 * i + 1].item() == pytest.approx(np.cos(position * frequency), abs=1e-6)


def test_rotary_scores_depend_only_on_relative_position():
    rotary = RotaryEmbedding(8)
    q, k = torch.randn(1, 1, 12), torch.randn(1, 1, 12)
    length = 30
    rq = rotary(q.expand(1, length, 12))
    rk = rotary(k.expand(1, length, 12))
    scores = rq[0] @ rk[0].T  # (positions, positions)
    torch.testing.assert_close(scores.diagonal(3), torch.full((length - 3,), scores[0, 3].item()), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(rq[0, 0], q[0, 0])  # position 0 is not rotated
    torch.testing.assert_close(rq[0, 5, 8:], q[0, 0, 8:])  # features past dim pass through


def test_tiny_model_overfits_real_mixtures_and_separates_them_in_chunks():
    torch.manual_seed(0)
    mixtures, sources = real_mixtures(2)
    model = models.build("sepformer", **TINY)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    baseline = pit_si_snr(mixtures[:, None].expand(-1, 2, -1), sources).item()  # no separation
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: one thread is several times faster on a busy CPU
    try:
        for _ in range(80):
            loss = -pit_si_snr(model(mixtures), sources)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        after = pit_si_snr(model(mixtures), sources).item()
    assert after > baseline + 3.0, (baseline, after)

    # The trained model through chunked inference on the mixtures played back to back:
    # chunks straddle the joins and the speaker order must stay aligned across chunks.
    from voxsep.inference.separate import separate_mixture

    estimates = separate_mixture(model.eval(), mixtures.reshape(-1), chunk_size=6000, overlap=2000)
    chunked = pit_si_snr(estimates[None], sources.transpose(0, 1).reshape(1, 2, -1)).item()
    assert estimates.shape == (2, mixtures.numel()) and chunked > baseline + 2.0, (baseline, chunked)
