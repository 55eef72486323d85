"""Training output: ``train.log``, a progress bar (or plain lines), TensorBoard.

Only rank 0 logs; the other processes get silent objects.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# Anchor colours of a perceptually ordered dark-blue → green → yellow map (viridis-like).
_COLOUR_ANCHORS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float32
)


def setup_logger(exp_dir: Path | None, is_main: bool, name: str = "voxsep.train") -> logging.Logger:
    """A logger writing to stderr, rank 0 only, and to ``exp_dir/train.log`` (appending).

    With ``exp_dir=None`` the records are kept in memory until :func:`attach_log_file`
    writes them to ``train.log`` -- a run that fails while being set up writes no file.
    """
    logger = logging.getLogger(name)
    close_logger(logger)
    logger.propagate = False
    logger.setLevel(logging.INFO if is_main else logging.ERROR)
    if is_main:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(console)
        if exp_dir is None:
            logger.addHandler(logging.handlers.BufferingHandler(capacity=10_000))
        else:
            attach_log_file(logger, exp_dir)
    return logger


def attach_log_file(logger: logging.Logger, exp_dir: Path) -> None:
    """Also write ``logger``'s records to ``exp_dir/train.log`` (appending), once the run
    is known to start -- a run that fails while being set up leaves no log file."""
    file_handler = logging.FileHandler(Path(exp_dir) / "train.log")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    for handler in [h for h in logger.handlers if isinstance(h, logging.handlers.BufferingHandler)]:
        for record in handler.buffer:  # what was logged while the run was being set up
            file_handler.handle(record)
        logger.removeHandler(handler)
        handler.close()
    logger.addHandler(file_handler)


def close_logger(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def spectrogram_image(signal: np.ndarray, sample_rate: int, n_fft: int = 256, dynamic_range_db: float = 80.0) -> np.ndarray:
    """Log-magnitude spectrogram of a 1-D signal as an RGB image ``(freq, frames, 3)`` uint8.

    Low frequencies are at the bottom. Hann window, 75 % overlap; the top
    ``dynamic_range_db`` below the peak are mapped through a viridis-like colour map.
    """
    from scipy.signal import stft

    signal = np.asarray(signal, dtype=np.float32).reshape(-1)
    if signal.size < n_fft:
        signal = np.pad(signal, (0, n_fft - signal.size))
    _, _, spec = stft(signal, fs=sample_rate, nperseg=n_fft, noverlap=3 * n_fft // 4)
    db = 20 * np.log10(np.abs(spec) + 1e-8)
    level = np.clip((db - (db.max() - dynamic_range_db)) / dynamic_range_db, 0.0, 1.0)[::-1]
    position = level * (len(_COLOUR_ANCHORS) - 1)
    low = np.floor(position).astype(int).clip(0, len(_COLOUR_ANCHORS) - 2)
    frac = (position - low)[..., None]
    rgb = _COLOUR_ANCHORS[low] * (1 - frac) + _COLOUR_ANCHORS[low + 1] * frac
    return rgb.round().astype(np.uint8)


class Progress:
    """A tqdm bar with ETA on a terminal; otherwise a plain line every ``every`` steps."""

    def __init__(self, total: int, initial: int, enabled: bool, logger: logging.Logger, every: int) -> None:
        self.enabled = enabled
        self.logger = logger
        self.every = max(1, every)
        self.total = total
        self.step = initial
        self.start_time = time.perf_counter()
        self.start_step = initial
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total or None, initial=initial, unit="step", dynamic_ncols=True, file=sys.stderr)

    def update(self, step: int, values: dict[str, float]) -> None:
        """Advance to optimiser step ``step``; ``values`` are shown (bar) or logged (lines)."""
        if not self.enabled:
            return
        advanced = step - self.step
        self.step = step
        if self.bar is not None:
            self.bar.update(advanced)
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in values.items()}, refresh=False)
            if step % self.every == 0:  # the bar is the console view; train.log gets the line
                _file_only(self.logger, _format_line(step, self.total, values, self._eta()))
        elif step % self.every == 0:
            self.logger.info(_format_line(step, self.total, values, self._eta()))

    def _eta(self) -> str:
        done = self.step - self.start_step
        if not self.total or done <= 0:
            return ""
        seconds = (time.perf_counter() - self.start_time) / done * max(0, self.total - self.step)
        return f" eta {int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"

    def write(self, message: str) -> None:
        """Log a line without breaking the bar."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.clear()
        self.logger.info(message)
        if self.bar is not None:
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _format_line(step: int, total: int, values: dict[str, float], eta: str) -> str:
    fields = " ".join(f"{k} {v:.4g}" for k, v in values.items())
    return f"step {step}{'/' + str(total) if total else ''} {fields}{eta}"


def _file_only(logger: logging.Logger, message: str) -> None:
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, message, None, None)
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


class TensorBoard:
    """A ``SummaryWriter`` under ``exp_dir/tensorboard`` on rank 0; no-ops elsewhere."""

    def __init__(self, exp_dir: Path, enabled: bool) -> None:
        self.writer: Any = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(Path(exp_dir) / "tensorboard"))

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def audio_example(self, tag: str, mixture: np.ndarray, estimates: np.ndarray, sample_rate: int, step: int) -> None:
        """Audio of a mixture ``(time,)`` and its estimates ``(n_src, time)`` plus spectrograms."""
        if self.writer is None:
            return
        peak = max(float(np.abs(mixture).max()), float(np.abs(estimates).max()), 1e-8)
        signals = {"mixture": mixture, **{f"estimate{i + 1}": e for i, e in enumerate(estimates)}}
        for name, signal in signals.items():
            signal = np.asarray(signal, dtype=np.float32).reshape(-1)
            self.writer.add_audio(f"{tag}/{name}", signal / peak, step, sample_rate=sample_rate)
        image = np.concatenate([spectrogram_image(s, sample_rate) for s in signals.values()], axis=0)
        self.writer.add_image(f"{tag}/spectrograms", image, step, dataformats="HWC")

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
