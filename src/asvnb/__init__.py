"""asvnb: the shared package behind the voice anti-spoofing book.

The modules follow the pipeline: ``data`` -> ``audio``/``features`` -> ``models``
-> ``train`` -> ``metrics`` -> ``plots``/``report``; ``book`` executes the
notebooks and builds the book.
"""

__version__ = "0.1.0"
