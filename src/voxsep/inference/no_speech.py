"""Is there any speech in a mixture? Used by counting (``count_talkers``): a file of
silence or of steady noise has no talker, so it gets 0, not "1 talker found".

The rule is scale-free (it compares the file with itself): the signal is differenced
(a first-order high-pass, as speech front ends pre-emphasise, which turns coloured
steady noise -- pink, brown, hum -- into a spectrally flatter one), cut into
``FRAME_SECONDS`` frames, and the spread of the frame energies is measured as the gap
in dB between the ``HIGH_PERCENTILE`` and the ``LOW_PERCENTILE`` frame. Speech comes
and goes with its syllables and pauses; steady noise does not:

* 474 asterisk prompts (English, French, >= 1 s): spread 17.9 dB at the least,
  median 42.9 dB; the bundled example mixture 22.0 dB; that mixture in white noise at
  0 dB SNR 3.1 dB, in pink noise at 0 dB SNR 8.2 dB;
* 3 s of white noise 1.75 dB, 16-bit dither 1.56 dB, pink 1.48 dB, brown 1.35 dB, a
  50 Hz hum 0.37 dB.

A spread under ``NO_SPEECH_SPREAD_DB`` (2.5 dB), or a file that is all zeros after
differencing (digital silence, a constant), holds no speech. Non-steady sounds that are
not speech (music, clicks) are not recognised here: the model's outputs decide.
"""

from __future__ import annotations

import numpy as np
import torch

FRAME_SECONDS = 0.02
LOW_PERCENTILE, HIGH_PERCENTILE = 10.0, 95.0
NO_SPEECH_SPREAD_DB = 2.5

__all__ = ["no_speech_reason", "NO_SPEECH_SPREAD_DB"]


def no_speech_reason(mixture: torch.Tensor | np.ndarray, sample_rate: int) -> str | None:
    """Why ``mixture`` (``([channels,] time)``) holds no speech, or ``None`` if it may."""
    from voxsep.core.audio import frame_energies

    if mixture.shape[-1] < 2:
        return "too short to hold speech"
    n = max(1, int(round(FRAME_SECONDS * sample_rate)))
    # Frame energies of the difference of the channel average, piece by piece (no full copy).
    energy = frame_energies(mixture.reshape(1, -1, mixture.shape[-1]), n, difference=True)[0]
    if mixture.shape[-1] - 1 >= n and (mixture.shape[-1] - 1) % n:
        energy = energy[:-1]  # the zero-padded last frame would read as a pause
    top = float(energy.max())
    if not top > 0:
        return "the input is digital silence"
    db = 10.0 * np.log10(np.maximum(energy, top * 1e-12))
    spread = float(np.percentile(db, HIGH_PERCENTILE) - np.percentile(db, LOW_PERCENTILE))
    if spread < NO_SPEECH_SPREAD_DB:
        return (f"the input holds no speech: silence or steady noise (its level varies by {spread:.1f} dB over time, "
                f"speech by far more; less than {NO_SPEECH_SPREAD_DB:g} dB means none)")
    return None
