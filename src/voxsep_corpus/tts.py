"""Offline voices for the offline corpus: text generation and the three Debian TTS engines.

* :func:`make_sentence_text` — deterministic, varied English text from sentence
  templates and word lists (no network, no corpus).
* :func:`synthesize` — espeak-ng, flite or festival speaking a list of texts, returning
  float32 mono signals at the engine's rate. Festival runs once per call with a
  batch script (its start-up costs ~0.5 s), espeak-ng and flite once per text.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["make_sentence_text", "synthesize"]

_SUBJECTS = ["the old sailor", "my neighbour", "a young doctor", "the tall engineer", "our teacher",
             "the quiet farmer", "a clever student", "the busy baker", "her brother", "the night guard",
             "a tired pilot", "the local mayor", "his cousin", "the river captain", "a famous singer",
             "the new manager", "a careful driver", "the painter", "my grandmother", "the shop keeper"]
_VERBS = ["carried", "found", "painted", "repaired", "counted", "described", "ordered", "borrowed",
          "cleaned", "measured", "opened", "delivered", "planted", "forgot", "returned", "noticed",
          "collected", "tested", "moved", "sold"]
_ADJECTIVES = ["green", "heavy", "broken", "shiny", "wooden", "tiny", "ancient", "yellow", "narrow",
               "silver", "warm", "empty", "strange", "golden", "soft", "bright", "dusty", "frozen",
               "purple", "quiet"]
_OBJECTS = ["boxes", "letters", "bicycles", "windows", "lamps", "baskets", "tickets", "chairs", "maps",
            "bottles", "keys", "blankets", "coins", "apples", "boats", "clocks", "stones", "papers",
            "candles", "shoes"]
_PLACES = ["near the station", "behind the market", "in the garden", "before the storm",
           "after lunch", "on the third floor", "along the river", "under the bridge",
           "at the harbour", "in the small village", "during the long winter", "next to the school",
           "across the valley", "outside the museum", "every single morning", "late last night"]
_NUMBERS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve",
            "fifteen", "twenty", "forty", "a hundred"]
_TAILS = ["and then the {O} were gone", "so we left {P}", "but nobody asked about the {O}",
          "as everyone expected", "while the {O} stayed {P}"]
_TEMPLATES = [
    "{S} {V} {N} {A} {O} {P}.",
    "Yesterday {s} {V} the {A} {O} {P}.",
    "Why has {s} {V} {N} {A} {O}?",
    "{S} says that {N} {A} {O} were {V} {P}.",
    "Please tell {s} that the {A} {O} are ready {P}.",
    "If {s} had not {V} the {O}, we would have waited {P}.",
    "Nobody knew how {s} {V} so many {A} {O}.",
    "{S} {V} the {O}, and then walked home {P}.",
]


def make_sentence_text(rng: np.random.Generator, n_sentences: int = 1, tail_probability: float = 1.0) -> str:
    """Compose ``n_sentences`` random English sentences (8–12 words each, ~4–6 s spoken).

    Args:
        rng: the random generator (text is deterministic for a given generator state).
        n_sentences: number of sentences.
        tail_probability: chance that a sentence gets a short extra clause.

    Returns:
        The text, sentences separated by a space.
    """
    sentences = []
    for _ in range(n_sentences):
        template = _TEMPLATES[rng.integers(len(_TEMPLATES))]
        subject = _SUBJECTS[rng.integers(len(_SUBJECTS))]
        text = template.format(S=subject[0].upper() + subject[1:], s=subject,
                               V=_VERBS[rng.integers(len(_VERBS))], N=_NUMBERS[rng.integers(len(_NUMBERS))],
                               A=_ADJECTIVES[rng.integers(len(_ADJECTIVES))],
                               O=_OBJECTS[rng.integers(len(_OBJECTS))], P=_PLACES[rng.integers(len(_PLACES))])
        if rng.random() < tail_probability:
            text = text[:-1] + ", " + _TAILS[rng.integers(len(_TAILS))].format(
                O=_OBJECTS[rng.integers(len(_OBJECTS))], P=_PLACES[rng.integers(len(_PLACES))]) + "."
        sentences.append(text)
    return " ".join(sentences)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    from voxsep.core.audio import read_audio

    audio, rate = read_audio(path, channels=1)
    return audio[0], rate


def synthesize(engine: str, voice: str, texts: Sequence[str], stretches: Sequence[float],
               pitch: int = 50, rate: int = 160) -> list[tuple[np.ndarray, int]]:
    """Speak each text with an offline TTS engine.

    Args:
        engine: ``"espeak"`` (espeak-ng), ``"flite"`` or ``"festival"``.
        voice: the engine's voice name (``"en+m3"``; ``"awb"``; ``"kal_diphone"``).
        texts: what to say, one output per text.
        stretches: duration stretch per text (> 1 is slower speech).
        pitch: espeak-ng base pitch (0–99); ignored by the other engines.
        rate: espeak-ng words per minute before the stretch; ignored by the others.

    Returns:
        ``(signal float32 (time,), sample_rate)`` per text.

    Raises:
        RuntimeError: the engine failed (its stderr is in the message).
    """
    outputs: list[tuple[np.ndarray, int]] = []
    with tempfile.TemporaryDirectory(prefix="voxsep-tts-") as tmp:
        tmp_dir = Path(tmp)
        paths = [tmp_dir / f"{i}.wav" for i in range(len(texts))]
        if engine == "festival":
            lines = [f"(voice_{voice})"]
            for text, stretch, path in zip(texts, stretches, paths):
                clean = text.replace('"', "").replace("\\", "")
                lines.append(f"(Parameter.set 'Duration_Stretch {stretch:.3f})")
                lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{clean}")) "{path}" \'riff)')
            script = tmp_dir / "batch.scm"
            script.write_text("\n".join(lines) + "\n")
            _call(["festival", "-b", str(script)], engine)
        else:
            for text, stretch, path in zip(texts, stretches, paths):
                if engine == "espeak":
                    command = ["espeak-ng", "-v", voice, "-s", str(int(round(rate / stretch))), "-p", str(pitch),
                               "-w", str(path), text]
                elif engine == "flite":
                    command = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.3f}",
                               "-t", text, "-o", str(path)]
                else:
                    raise ValueError(f"unknown TTS engine {engine!r}; use espeak, flite or festival")
                _call(command, engine)
        for path in paths:
            if not path.exists():
                raise RuntimeError(f"{engine} voice {voice!r} wrote no audio to {path}")
            outputs.append(_read_wav(path))
    return outputs


def _call(command: list[str], engine: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{engine} failed ({' '.join(command[:4])} ...): {result.stderr.strip()[-500:]}")
