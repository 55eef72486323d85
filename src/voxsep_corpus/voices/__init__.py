"""The voice sources of the offline corpus (``voxsep prepare offline``), one module each.

Every source module holds its speaker table (with the long comment saying how each voice
was chosen), what it leaves out (``_<SOURCE>_EXCLUDED``, listed in the corpus README), the
reader that finds a voice's clips, where there is one the selection rule and measurement
the table was made from, and ``speakers()``, its rows as :class:`~.common.Speaker`:

* ``common``: :class:`~.common.Speaker`, derived (speed-shifted) copies, the audio
  measurements (:func:`~.common.trim_silence`, :func:`~.common.remove_rumble`,
  :func:`~.common.median_f0`);
* ``clips``: any clip decoded at a rate (:func:`~.clips._load_prompt`) and measured as the
  utterances are made (:func:`~.clips.measure_clip`);
* ``asterisk``, ``fillets``, ``klettres``, ``ktuberling``, ``tuxpaint``, ``drascula``,
  ``fotaq`` (with ``queen``: the game's data file), ``kajongg``: recorded voices;
  ``synthetic``: the espeak-ng, flite and festival voices;
* ``speakers``: the speaker table of the corpus (``SPEAKERS``, sources in a fixed order)
  and the clips of any speaker.

The build itself (utterances, mixtures, manifests, README) is
:mod:`voxsep_corpus.offline`.
"""
