"""voxsep_corpus: the corpus builders behind ``voxsep prepare <name>``, beside the separation library.

One module per corpus: ``offline`` (the corpus made from Debian packages only, with its
voice sources in :mod:`voxsep_corpus.voices`, one module and one
:class:`~voxsep_corpus.voices.common.VoiceSource` declaration each, listed in
:data:`voxsep_corpus.voices.registry.SOURCES`, and ``rooms``, ``tts``), ``wsj0mix``,
``librimix``, ``wham``, ``binaural`` and ``check``; ``levels`` (ITU-T P.56 active level,
wsj0-mix style mixing) and ``common`` (output folders, manifests, worker pools) serve them.

This package sits above :mod:`voxsep` and may import it; the separation library never
imports this package (only ``voxsep.commands.prepare``, the command line, does, inside its
functions). It raises typed errors and prints nothing.
"""
