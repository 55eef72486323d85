"""What the voice sources of the offline corpus share: :class:`Speaker`, the speed-shifted
copies of a voice (:func:`_derived`) and the audio measurements behind the speaker tables
(:func:`trim_silence`, :func:`remove_rumble`, :func:`median_f0`; sex from :data:`MALE_F0_HZ`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DERIVED_FACTORS = (0.8, 1.18)
MALE_F0_HZ = 165.0  # median F0 below this: labelled male


@dataclass(frozen=True)
class Speaker:
    """One talker of the offline corpus.

    Attributes:
        name: speaker id (folder name, utterance-id prefix).
        sex: ``"F"`` or ``"M"`` (for derived speakers: the origin's).
        kind: ``"real"`` (recorded speech, including speed-shifted copies) or ``"synthetic"``.
        split: ``"train"``, ``"valid"`` or ``"test"``.
        group: speakers of one group are (or may be) one person, or derived from one; a
            group is in one split and never mixed with itself in the mixture sets.
        engine: ``"asterisk"``, ``"fillets"``, ``"klettres"``, ``"ktuberling"``, ``"tuxpaint"``,
            ``"fotaq"``, ``"kajongg"``, ``"derived"``, ``"espeak"``, ``"flite"`` or ``"festival"``.
        voice: asterisk folders (comma-separated, ``folder/*.gsm`` for GSM prompt sets),
            ``<language>:<characters>[@<levels>]`` (fillets), the KLettres folder,
            ``<language>[:<part>+<part>...]`` (KTuberling folder, optionally only those
            sound-theme parts, see :func:`ktuberling_part`), the Tux Paint language
            (``<stamp>_desc_<language>.ogg``), ``en:<character>[+<character>...]`` (FOTAQ,
            see :func:`fotaq_clips`), ``<language>/<folder>[+<language>/<folder>]`` (Kajongg,
            see :func:`kajongg_clips`), the origin speaker (derived)
            or the TTS voice name.
        description: human-readable origin.
        package: the Debian package the audio comes from.
        pitch: espeak-ng pitch; rate: espeak-ng words per minute; factor: speed factor.
        scale: utterances made for this speaker = ``scale`` x utterances per speaker.
        f0: median F0 (Hz) measured with :func:`median_f0` at 8 kHz (0: not measured).
        pool_only: in ``utterances_<split>.csv`` (dynamic mixing) but never drawn into the
            precomputed mixture sets (voices added after those sets were fixed).
    """

    name: str
    sex: str
    kind: str
    split: str
    group: str
    engine: str
    voice: str
    description: str
    package: str = ""
    pitch: int = 50
    rate: int = 160
    factor: float = 1.0
    scale: int = 1
    f0: float = 0.0
    pool_only: bool = False

    @property
    def human(self) -> bool:
        """A recording of a person as they spoke (not a speed-shifted copy, not TTS)."""
        return self.kind == "real" and self.engine != "derived"


@dataclass(frozen=True)
class VoiceSource:
    """One voice source of the offline corpus: everything the build, the package check and
    the corpus README take from it, declared once (``SOURCE`` at the end of the source's
    module) and listed once in :data:`voxsep_corpus.voices.registry.SOURCES`.

    Attributes:
        name: the source (its module's name).
        speakers: its rows of the speaker table, in their fixed order.
        packages: ``sample_rate -> {Debian package: a path it installs}`` for everything
            the build reads from it (called at check time, so a patched root is seen).
        clips: ``Speaker.voice -> [clip, ...]``, the clips a recorded voice's utterances
            are made of (empty or header-only files left out); ``None`` for synthetic voices.
        engines: the ``Speaker.engine`` of its voices (default: ``(name,)``).
        plan_from_headers: plan utterances from the clips' header lengths (mostly-speech
            prompts) instead of their trimmed lengths.
        short_clips: short clips (letters, words) kept decoded, trimmed at -30 dB and
            reused in up to ``KLETTRES_PASSES`` utterances.
        ktuberling_reference: its human training voices are among those the KTuberling
            selection was made against (:func:`~.speakers.training_voice_languages`); sources
            added later say no, so that the reference set never changes.
        readme_contents: its lines under "What it contains" of the corpus README.
        readme_decisions: its lines under "Labelling decisions" (what was left out, and why).
        licences: ``(package(s), licence)`` lines of the README's Licences section.
    """

    name: str
    speakers: Callable[[], list[Speaker]]
    packages: Callable[[int], dict[str, Path]]
    clips: Callable[[str], list[Path]] | None = None
    engines: tuple[str, ...] = ()
    plan_from_headers: bool = False
    short_clips: bool = False
    ktuberling_reference: bool = False
    readme_contents: tuple[str, ...] = ()
    readme_decisions: tuple[str, ...] = ()
    licences: tuple[tuple[str, str], ...] = ()

    @property
    def recorded(self) -> bool:
        """Recorded speech (its voices are made of clips), not synthesised."""
        return self.clips is not None

    @property
    def speaker_engines(self) -> tuple[str, ...]:
        return self.engines or (self.name,)


def audible_clips(paths: list[Path]) -> list[Path]:
    """The clips among ``paths`` that hold audio (fillets-ng-data-nl 1.0.1 ships two empty Ogg
    files, elevator1/zd1-m-cesta and gems/zav-v-sto)."""
    from voxsep.core.audio import audio_info

    return [path for path in paths if audio_info(path).frames > 0]


def _derived(origin: Speaker) -> list[Speaker]:
    """``origin`` resampled by each of :data:`DERIVED_FACTORS` (pitch and formants shifted): same group and split."""
    speakers = []
    for factor in DERIVED_FACTORS:
        change = "lowered" if factor < 1 else "raised"
        speakers.append(Speaker(f"{origin.name}_x{factor:g}".replace(".", "p"), origin.sex, "real", origin.split,
                                origin.group, "derived", origin.name,
                                f"{origin.name} resampled x{factor:g} (pitch and formants {change} "
                                f"{abs(1 - factor) * 100:.0f}%); derived, same split as {origin.name}",
                                package=origin.package, factor=factor))
    return speakers


def trim_silence(signal: np.ndarray, sample_rate: int, threshold_db: float = -40.0, pad: float = 0.05) -> np.ndarray:
    """Cut leading/trailing parts quieter than ``threshold_db`` below the peak (10 ms frames), keeping ``pad`` s."""
    frame = max(1, sample_rate // 100)
    n = signal.size // frame
    if n == 0:
        return signal
    energy = (signal[: n * frame].reshape(n, frame).astype(np.float64) ** 2).mean(axis=1)
    active = np.nonzero(energy >= energy.max() * 10 ** (threshold_db / 10))[0]
    if active.size == 0:
        return signal
    keep = int(pad * sample_rate)
    start = max(0, active[0] * frame - keep)
    stop = min(signal.size, (active[-1] + 1) * frame + keep)
    return signal[start:stop]


def remove_rumble(signal: np.ndarray, sample_rate: int, cutoff: float = 70.0) -> np.ndarray:
    """Remove DC and hum below ``cutoff`` Hz (mean removal + 4th-order Butterworth high-pass).

    Some KLettres clips carry a DC offset of ~-37 dBFS and low hum that hide their silences
    from :func:`trim_silence`; speech has no energy below ~70 Hz worth keeping.
    """
    from scipy.signal import butter, sosfilt

    x = np.asarray(signal, dtype=np.float64)
    return sosfilt(butter(4, cutoff, "highpass", fs=sample_rate, output="sos"), x - x.mean()).astype(np.float32)


def median_f0(signal: np.ndarray, sample_rate: int, fmin: float = 60.0, fmax: float = 400.0) -> float:
    """Median F0 (Hz) of the voiced frames of ``signal``, by YIN (de Cheveigné & Kawahara 2002).

    40 ms frames every 10 ms; frames more than 30 dB below the loudest are skipped; a
    frame is voiced when the cumulative-mean-normalised difference dips below 0.15. This
    is how the F0 column of the speaker tables was measured (on 8 kHz audio); it is a
    coarse check (sex, obviously processed voices), not a pitch tracker.

    Returns:
        The median F0, or ``nan`` when no frame is voiced.
    """
    x = np.asarray(signal, dtype=np.float64)
    n, hop = int(0.04 * sample_rate), int(0.01 * sample_rate)
    tau_min, tau_max = int(sample_rate / fmax), int(sample_rate / fmin)
    width = n - tau_max
    if x.size < n or width <= 0:
        return float("nan")
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop]
    energy = (frames[:, :width] ** 2).mean(axis=1)
    frames = frames[energy > energy.max() * 1e-3]
    lags = np.arange(tau_max + 1)
    f0 = []
    for frame in frames:
        power = np.concatenate([[0.0], np.cumsum(frame ** 2)])
        corr = np.correlate(frame, frame[:width], "valid")[: tau_max + 1]
        diff = power[width] + (power[lags + width] - power[lags]) - 2 * corr
        cmnd = diff[1:] * lags[1:] / np.maximum(np.cumsum(diff[1:]), 1e-12)
        dips = np.nonzero(cmnd[tau_min - 1:] < 0.15)[0]
        if dips.size:
            tau = dips[0] + tau_min
            while tau < tau_max and cmnd[tau] < cmnd[tau - 1]:  # cmnd[tau - 1] is lag tau
                tau += 1
            f0.append(sample_rate / tau)
    return float(np.median(f0)) if f0 else float("nan")


def _semitones(a: float, b: float) -> float:
    """How far apart two frequencies are, in semitones (>= 0)."""
    return abs(12 * np.log2(a / b))
