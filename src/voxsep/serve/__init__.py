"""``voxsep serve``: a local web page to separate uploaded recordings (``voxsep.serve.app``)."""
