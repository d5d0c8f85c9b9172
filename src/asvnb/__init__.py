"""asvnb: the shared package behind the voice anti-spoofing book.

The modules are layered as the pipeline runs, each importing only from layers
below it (``tests/test_layers.py`` checks): ``config``/``errors``/``files`` ->
``audio`` -> ``data`` -> ``features`` -> ``metrics`` -> ``models`` -> ``train``
-> ``scoring`` -> ``results``/``report``/``plots`` -> ``studies`` ->
``leaderboard``/``overview`` -> ``book``/``cli``.
"""

__version__ = "0.1.0"
