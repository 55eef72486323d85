"""The voice sources of the offline corpus (``voxsep prepare offline``), one module each.

Every source module holds its speaker table (with the long comment saying how each voice
was chosen), what it leaves out (``_<SOURCE>_EXCLUDED``), the reader that finds a voice's
clips, where there is one the selection rule and measurement the table was made from,
``speakers()``, its rows as :class:`~.common.Speaker`, and ``SOURCE``, its one
:class:`~.common.VoiceSource` declaration (speakers, clips, Debian packages, how its
utterances are planned, its README lines and licences), listed once in
:data:`.registry.SOURCES`:

* ``common``: :class:`~.common.Speaker`, :class:`~.common.VoiceSource`, derived
  (speed-shifted) copies, the audio measurements (:func:`~.common.trim_silence`,
  :func:`~.common.remove_rumble`, :func:`~.common.median_f0`);
* ``clips``: any clip decoded at a rate (:func:`~.clips._load_prompt`) and measured as the
  utterances are made (:func:`~.clips.measure_clip`);
* ``asterisk``, ``fillets``, ``klettres``, ``ktuberling``, ``tuxpaint``, ``drascula``,
  ``fotaq`` (with ``queen``: the game's data file), ``kajongg``: recorded voices;
  ``synthetic``: the espeak-ng, flite and festival voices;
* ``registry``: ``SOURCES``, every source in the fixed order of the speaker table;
* ``speakers``: the speaker table of the corpus (``SPEAKERS``, from the registry) and the
  clips of any speaker.

The build itself (utterances, mixtures, manifests, README) is
:mod:`voxsep_corpus.offline`, which names no source.
"""
