"""The registry of the offline corpus's voice sources: :data:`SOURCES`, each source's
:class:`~.common.VoiceSource` (declared once, as ``SOURCE`` at the end of its module).

Adding a source is its module (speaker table, clip reader, ``SOURCE``) and one entry at
the end of :data:`SOURCES`: the speaker table, the clips of a voice, the package check,
how utterances are planned and the corpus README all come from the declaration.
"""

from __future__ import annotations

from voxsep_corpus.voices import asterisk, drascula, fillets, fotaq, kajongg, klettres, ktuberling, synthetic, tuxpaint
from voxsep_corpus.voices.common import VoiceSource

#: Every voice source in the order of the speaker table (a speaker's index seeds its
#: utterances): a new source is appended, so that every earlier speaker keeps its seeds.
SOURCES: tuple[VoiceSource, ...] = (
    asterisk.SOURCE, fillets.SOURCE, klettres.SOURCE, synthetic.SOURCE,
    # Added after the table above was fixed: training only, pool-only.
    ktuberling.SOURCE, tuxpaint.SOURCE, drascula.SOURCE, fotaq.SOURCE, kajongg.SOURCE,
)

_BY_ENGINE = {engine: source for source in SOURCES for engine in source.speaker_engines}


def source_of(engine: str) -> VoiceSource:
    """The source whose voices have ``Speaker.engine == engine`` (not ``"derived"``: see its origin)."""
    try:
        return _BY_ENGINE[engine]
    except KeyError:
        raise ValueError(f"no voice source makes {engine!r} voices; known: {', '.join(_BY_ENGINE)}") from None


def recorded_sources() -> list[VoiceSource]:
    """The sources of recorded speech, in registry order."""
    return [source for source in SOURCES if source.recorded]


def in_readme_order() -> list[VoiceSource]:
    """The sources as the corpus README lists them: recorded speech first, then synthetic voices."""
    return recorded_sources() + [source for source in SOURCES if not source.recorded]
