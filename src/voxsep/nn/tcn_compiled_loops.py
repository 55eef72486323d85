"""The compiled loops of :mod:`voxsep.nn.tcn_compiled` (imports Numba; imported on first use).

Module-level functions, so that Numba caches their machine code on disk (``cache=True``,
keyed by this file and the CPU) and a new process loads it instead of compiling again.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

njit = functools.partial(numba.njit, fastmath=True, cache=True, nogil=True)


# rows8 / rows4 / rows2 / rows1: one product for 8, 4, 2 or 1 frames, written out per frame on
# purpose — LLVM keeps a frame's running sum in a vector register only when it is a named
# variable, and eight sums per weight row is what makes one pass over the weights serve
# eight frames (measured on 48 paper-size products of 10 frames: the sums kept in a small
# array ran >10x slower; the loops the other way round, vectorised over outputs, 1.7x slower).
@njit(inline="always")
def rows8(x, weight, bias, out, m0):
    n_out, n_in = weight.shape
    x0, x1, x2, x3 = x[m0], x[m0 + 1], x[m0 + 2], x[m0 + 3]
    x4, x5, x6, x7 = x[m0 + 4], x[m0 + 5], x[m0 + 6], x[m0 + 7]
    for o in range(n_out):
        w = weight[o]
        s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = np.float32(0.0)
        for i in range(n_in):
            wi = w[i]
            s0 += x0[i] * wi
            s1 += x1[i] * wi
            s2 += x2[i] * wi
            s3 += x3[i] * wi
            s4 += x4[i] * wi
            s5 += x5[i] * wi
            s6 += x6[i] * wi
            s7 += x7[i] * wi
        b = bias[o]
        out[m0, o] = s0 + b
        out[m0 + 1, o] = s1 + b
        out[m0 + 2, o] = s2 + b
        out[m0 + 3, o] = s3 + b
        out[m0 + 4, o] = s4 + b
        out[m0 + 5, o] = s5 + b
        out[m0 + 6, o] = s6 + b
        out[m0 + 7, o] = s7 + b

@njit(inline="always")
def rows4(x, weight, bias, out, m0):
    n_out, n_in = weight.shape
    x0, x1, x2, x3 = x[m0], x[m0 + 1], x[m0 + 2], x[m0 + 3]
    for o in range(n_out):
        w = weight[o]
        s0 = s1 = s2 = s3 = np.float32(0.0)
        for i in range(n_in):
            wi = w[i]
            s0 += x0[i] * wi
            s1 += x1[i] * wi
            s2 += x2[i] * wi
            s3 += x3[i] * wi
        b = bias[o]
        out[m0, o] = s0 + b
        out[m0 + 1, o] = s1 + b
        out[m0 + 2, o] = s2 + b
        out[m0 + 3, o] = s3 + b

@njit(inline="always")
def rows2(x, weight, bias, out, m0):
    n_out, n_in = weight.shape
    x0, x1 = x[m0], x[m0 + 1]
    for o in range(n_out):
        w = weight[o]
        s0 = s1 = np.float32(0.0)
        for i in range(n_in):
            wi = w[i]
            s0 += x0[i] * wi
            s1 += x1[i] * wi
        b = bias[o]
        out[m0, o] = s0 + b
        out[m0 + 1, o] = s1 + b

@njit(inline="always")
def rows1(x, weight, bias, out, m0):
    n_out, n_in = weight.shape
    x0 = x[m0]
    for o in range(n_out):
        w = weight[o]
        s0 = np.float32(0.0)
        for i in range(n_in):
            s0 += x0[i] * w[i]
        out[m0, o] = s0 + bias[o]

@njit
def product(x, weight, bias, out, k):
    """``out[:k] = x[:k] @ weight.T + bias``: ``x`` ``(≥k, I)``, ``weight`` ``(O, I)``."""
    m0 = 0
    while m0 + 8 <= k:
        rows8(x, weight, bias, out, m0)
        m0 += 8
    if m0 + 4 <= k:
        rows4(x, weight, bias, out, m0)
        m0 += 4
    if m0 + 2 <= k:
        rows2(x, weight, bias, out, m0)
        m0 += 2
    if m0 < k:
        rows1(x, weight, bias, out, m0)
        m0 += 1

@njit
def prelu(y, k, slope):
    """PReLU in place on ``y[:k]`` ``(k, C)`` with per-channel ``slope`` ``(C,)``."""
    for m in range(k):
        row = y[m]
        for c in range(row.shape[0]):
            if row[c] < 0:
                row[c] *= slope[c]

@njit
def cumulative_statistics(y, k, running, index, frames_before, mean, rstd, eps):
    """Cumulative layer norm statistics of ``y[:k]`` ``(k, C)`` continuing the running
    sums ``running[index]`` (sum, sum of squares; float64, updated): per frame, the
    mean and ``1/sqrt(var + eps)`` over all values up to it."""
    channels = y.shape[1]
    total, squares = running[index, 0], running[index, 1]
    for m in range(k):
        row = y[m]
        s = 0.0
        q = 0.0
        for c in range(channels):
            v = np.float64(row[c])
            s += v
            q += v * v
        total += s
        squares += q
        count = (frames_before + m + 1) * channels
        mu = total / count
        var = max(squares / count - mu * mu, 0.0)
        mean[m] = mu
        rstd[m] = 1.0 / np.sqrt(var + eps)
    running[index, 0] = total
    running[index, 1] = squares

@njit
def normalise(y, k, mean, rstd):
    for m in range(k):
        row = y[m]
        mu, r = np.float32(mean[m]), np.float32(rstd[m])
        for c in range(row.shape[0]):
            row[c] = (row[c] - mu) * r

@njit
def chunk(x, k, frames_before, weights, blocks, dilation, has_input, has_output, use_skip, n_res, eps,
          ring, ring_start, ring_size, running, scratch, out):
    """The masker on ``k ≤ CHUNK_FRAMES`` frames ``x`` ``(k, in)`` → ``out`` ``(k, out)``.

    ``weights``: (input weight, input bias, output slope, output weight, output bias);
    ``blocks``: the blocks' weights stacked on a first dimension (in weight, in bias,
    in slope, dw gain, dw shift, taps ``(blocks, P, H)``, tap bias, dw slope, out weight,
    out bias), so one compiled function serves every depth;
    ``ring[ring_start[b] + f % ring_size[b]]`` holds block ``b``'s depthwise input of frame ``f``.
    """
    (in_w, in_b, out_slope, out_w, out_b) = weights
    h, y, z, o2, skip, mean, rstd = scratch
    if has_input:
        cumulative_statistics(x, k, running, 0, frames_before, mean, rstd, eps)
        normalise(x, k, mean, rstd)
        product(x, in_w, in_b, h, k)
        first = 1
    else:
        for m in range(k):
            h[m, :] = x[m]
        first = 0
    n_skip = skip.shape[1]
    for m in range(k):
        skip[m, :] = 0.0
    all_w_in, all_b_in, all_s_in, all_gain, all_shift, all_taps, all_tap_bias, all_s_dw, all_w_out, all_b_out = blocks
    for b in range(len(dilation)):
        w_in, b_in, s_in, gain, shift = all_w_in[b], all_b_in[b], all_s_in[b], all_gain[b], all_shift[b]
        taps, tap_bias, s_dw, w_out, b_out = all_taps[b], all_tap_bias[b], all_s_dw[b], all_w_out[b], all_b_out[b]
        hidden = gain.shape[0]
        product(h, w_in, b_in, y, k)
        prelu(y, k, s_in)
        cumulative_statistics(y, k, running, first + 2 * b, frames_before, mean, rstd, eps)
        start, size, d = ring_start[b], ring_size[b], dilation[b]
        for m in range(k):
            stored = ring[start + (frames_before + m) % size]
            mu, r = np.float32(mean[m]), np.float32(rstd[m])
            row = y[m]
            for c in range(hidden):
                stored[c] = shift[c] + gain[c] * ((row[c] - mu) * r)
        n_taps = taps.shape[0]
        for m in range(k):
            row = z[m]
            row[:] = tap_bias
            for j in range(n_taps):
                frame = frames_before + m - (n_taps - 1 - j) * d
                if frame >= 0:  # before the stream: the causal zero padding
                    source = ring[start + frame % size]
                    tap = taps[j]
                    for c in range(hidden):
                        row[c] += tap[c] * source[c]
        prelu(z, k, s_dw)
        cumulative_statistics(z, k, running, first + 2 * b + 1, frames_before, mean, rstd, eps)
        normalise(z, k, mean, rstd)
        product(z, w_out, b_out, o2, k)
        for m in range(k):
            for c in range(n_res):
                h[m, c] += o2[m, c]
            if use_skip:
                for c in range(n_skip):
                    skip[m, c] += o2[m, n_res + c]
    features = skip if use_skip else h
    if has_output:
        prelu(features, k, out_slope)
        product(features, out_w, out_b, out, k)
    else:
        for m in range(k):
            out[m, :] = features[m]


# ---------------------------------------------------------------------------------------
# Whole sequences with global norms (gLN) and bf16 products: the element-wise work of a
# block in three passes over memory instead of ~14 (TCNKernel.sequence, bf16 products).
# bf16 values travel as their bits (uint16); `wide` is a uint32 row whose float32 view
# `wide_f` reads them as float32.


@njit(inline="always")
def widen(bits, wide):
    """bf16 bits ``(C,)`` → ``wide`` (read it through its float32 view)."""
    for c in range(bits.shape[0]):
        wide[c] = np.uint32(bits[c]) << np.uint32(16)


@njit(inline="always")
def narrow(wide, bits):
    """float32 values (their uint32 bits ``wide``) → bf16 bits, rounded to nearest even."""
    for c in range(bits.shape[0]):
        b = wide[c]
        bits[c] = np.uint16((b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))


@njit
def prelu_moments_bf16(y, slope, wide, wide_f):
    """PReLU in place on ``y`` ``(frames, H)`` bf16 bits; returns the sum and the sum of
    squares of the result (float64): the gLN statistics of the depthwise input."""
    total = 0.0
    squares = 0.0
    for t in range(y.shape[0]):
        row = y[t]
        widen(row, wide)
        s = np.float32(0.0)
        q = np.float32(0.0)
        for c in range(row.shape[0]):
            v = wide_f[c]
            if v < 0:
                v *= slope[c]
            wide_f[c] = v
            s += v
            q += v * v
        narrow(wide, row)
        total += s
        squares += q
    return total, squares


@njit(inline="always")
def window_row(source, frames, ring):
    """The ring row holding frame ``source``, or the zero row past either end."""
    return source % ring if 0 <= source < frames else ring


@njit
def norm_depthwise_prelu_bf16(y, mean, rstd, gain, shift, taps, tap_bias, dilation, left, slope, z, wide, wide_f, acc,
                              normalised):
    """The gLN-normalised ``y`` ``(frames, H)`` (bf16 bits) through the dilated depthwise
    convolution (``taps`` ``(P, H)``, zero padding: ``left`` frames before) and a PReLU
    into ``z`` (bf16 bits, same shape); returns the sum and the sum of squares of ``z``.

    Each row of ``y`` is normalised once, into ``normalised``: a ring of at least
    ``(P - 1) * dilation + 1`` float32 rows (the window of one output frame) plus a last
    row of zeros, which the taps read where the window reaches past either end.
    """
    frames, hidden = y.shape
    n_taps = taps.shape[0]
    ring = normalised.shape[0] - 1
    normalised[ring, :] = 0.0
    scale = np.empty(hidden, np.float32)  # the norm as one affine: gain * rstd, shift - mean * gain * rstd
    offset = np.empty(hidden, np.float32)
    for c in range(hidden):
        scale[c] = gain[c] * rstd
        offset[c] = shift[c] - mean * gain[c] * rstd
    newest = -1  # the last source row normalised into the ring
    total = 0.0
    squares = 0.0
    for t in range(frames):
        last = min(t - left + (n_taps - 1) * dilation, frames - 1)
        while newest < last:
            newest += 1
            widen(y[newest], wide)
            row = normalised[newest % ring]
            for c in range(hidden):
                row[c] = wide_f[c] * scale[c] + offset[c]
        if n_taps == 3:  # the paper's kernel: one pass over the channels
            r0 = normalised[window_row(t - left, frames, ring)]
            r1 = normalised[window_row(t - left + dilation, frames, ring)]
            r2 = normalised[window_row(t - left + 2 * dilation, frames, ring)]
            t0, t1, t2 = taps[0], taps[1], taps[2]
            for c in range(hidden):
                acc[c] = tap_bias[c] + t0[c] * r0[c] + t1[c] * r1[c] + t2[c] * r2[c]
        else:
            acc[:] = tap_bias
            for j in range(n_taps):
                row = normalised[window_row(t - left + j * dilation, frames, ring)]
                tap = taps[j]
                for c in range(hidden):
                    acc[c] += tap[c] * row[c]
        s = np.float32(0.0)
        q = np.float32(0.0)
        for c in range(hidden):
            v = acc[c]
            if v < 0:
                v *= slope[c]
            wide_f[c] = v
            s += v
            q += v * v
        narrow(wide, z[t])
        total += s
        squares += q
    return total, squares


@njit
def scale_residual_skip_bf16(product, rstd, bias, n_res, x, x_bits, skip, wide, wide_f):
    """A block's output: ``rstd * product + bias`` (``product`` ``(frames, O)`` bf16 bits of
    the unnormalised depthwise output times the folded weights) added to the residual
    stream ``x`` ``(frames, n_res)`` (also written as bf16 bits ``x_bits``, the next
    block's operand) and to the skip sum ``skip`` ``(frames, O - n_res)`` (if any)."""
    frames = product.shape[0]
    n_skip = skip.shape[1]
    for t in range(frames):
        widen(product[t], wide)
        xr = x[t]
        for c in range(n_res):
            v = xr[c] + (wide_f[c] * rstd + bias[c])
            xr[c] = v
        sr = skip[t]
        for c in range(n_skip):
            sr[c] += wide_f[n_res + c] * rstd + bias[n_res + c]
        for c in range(n_res):
            wide_f[c] = xr[c]
        narrow(wide[:n_res], x_bits[t])
