"""The embedded corpus: real recordings from Debian packages, spoofed by real methods, written in each real dataset's layout.

``build_corpus(out, scale, seed)`` is what ``asvnb data synth`` runs.
"""

from asvnb.data.synth.build import SCALES, Scale, build_corpus
from asvnb.data.synth.sources import SystemPackagesMissing

__all__ = ["SCALES", "Scale", "SystemPackagesMissing", "build_corpus"]
