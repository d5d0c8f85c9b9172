"""Two-speaker mixtures of ASVspoof 2019 LA utterances, exactly as the study 02 source's Appendix A.1 makes them.

Recipe (Listing A.1, ``overlap_audio`` and its driver loop):

- a pair is spoof + bona fide with probability 1/2 (file1 spoof, file2 bona
  fide), else bona fide + bona fide or spoof + spoof with 1/2 each (two
  distinct files drawn without replacement);
- one of the two (chosen at random) gets ``int(sr * U(0, 1))`` samples of
  leading silence; both are trimmed to the shorter length;
- gains ``U(0.7, 1.3)`` each; sum; peak normalisation, guarded here against a
  silent pair (the source divides by the peak unconditionally);
- label ``SS`` / ``SB`` / ``BB``; flac at the source rate; one metadata line
  ``mixed_file file1 label1 file2 label2 mixed_label`` per mixture, where
  ``mixed_file`` is ``<utt1>_<utt2>.flac`` and ``file1``/``file2`` the
  basenames of the two source files.

Differences from the source, each needed for a reproducible study: a seeded
``numpy`` generator instead of ``secrets`` (cryptographic, unseeded); an
(unordered) pair is never drawn twice (the source's file name
``<utt1>_<utt2>.flac`` made a repeated pair overwrite its earlier mixture while
its metadata line stayed); and a sidecar ``params.tsv`` records the delay, the
gains and the normalisation factor, so that the two scaled sources (which sum
to the mixture) can be rebuilt for the oracle separator and for SI-SNR.

The whole plan is drawn before any audio is read and written first; a rerun
with the same arguments renders only the mixtures whose flac is missing, so an
interrupted generation resumes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from asvnb import audio
from asvnb.config import stable_hash
from asvnb.data import ProtocolError, read_fields
from asvnb.data.asvspoof import BONAFIDE, SPOOF, CMTrial
from asvnb.files import write_json, write_text
from asvnb.provenance import code_key

LABELS = ("SS", "SB", "BB")
METADATA, PARAMS, INFO = "metadata.txt", "params.tsv", "mixtures.json"
PARAMS_HEADER = "mixed_file delayed delay_s gain1 gain2"


@dataclass(frozen=True)
class Mixture:
    """One mixture: the metadata line's six fields and the parameters that rebuild it from its sources."""

    mixed_file: str
    file1: str
    label1: str
    file2: str
    label2: str
    mixed_label: str
    delayed: int  # 1 or 2: which source got the leading silence
    delay_s: float  # U(0, 1) seconds; samples = int(sr * delay_s), as in the source
    gain1: float
    gain2: float

    @property
    def utts(self) -> tuple[str, str]:
        """Utterance IDs of the two sources."""
        return Path(self.file1).stem, Path(self.file2).stem

    @property
    def labels(self) -> tuple[int, int]:
        """Stream labels in metadata order, 1 = spoof, 0 = bona fide (the source's ``label_map``)."""
        return int(self.label1 == SPOOF), int(self.label2 == SPOOF)

    def metadata_line(self) -> str:
        """``mixed_file file1 label1 file2 label2 mixed_label``."""
        return " ".join(
            (self.mixed_file, self.file1, self.label1, self.file2, self.label2, self.mixed_label)
        )


def mixed_label(label1: str, label2: str) -> str:
    """``SS``, ``BB`` or ``SB`` (either order) of two CM keys."""
    for lab in (label1, label2):
        if lab not in (BONAFIDE, SPOOF):
            raise ValueError(f"label {lab!r} is neither {BONAFIDE!r} nor {SPOOF!r}")
    if label1 == label2:
        return "SS" if label1 == SPOOF else "BB"
    return "SB"


def mix_sources(
    a1: np.ndarray,
    a2: np.ndarray,
    delay: int,
    delayed: int,
    gain1: float,
    gain2: float,
    eps: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Delay one source, trim to the shorter, apply gains, sum, peak-normalise (silence-guarded).

    Returns ``(mixture, sources (2, T), scale)``: the sources are the delayed,
    trimmed, gained and scaled signals, so ``sources.sum(0) == mixture``.
    """
    if delayed not in (1, 2):
        raise ValueError(f"delayed must be 1 or 2, got {delayed}")
    if delay < 0:
        raise ValueError(f"delay must be >= 0 samples, got {delay}")
    a1, a2 = np.asarray(a1, dtype=np.float64), np.asarray(a2, dtype=np.float64)
    if delayed == 1:
        a1 = np.pad(a1, (delay, 0))
    else:
        a2 = np.pad(a2, (delay, 0))
    n = min(len(a1), len(a2))
    s = np.stack([a1[:n] * gain1, a2[:n] * gain2])
    mix = s.sum(0)
    peak = float(np.max(np.abs(mix))) if n else 0.0
    # the source divides by the peak unconditionally: a silent pair gives NaNs
    scale = 1.0 / peak if peak >= eps else 1.0
    return (mix * scale).astype(np.float32), (s * scale).astype(np.float32), scale


def plan_mixtures(
    trials: Sequence[CMTrial], n: int, seed: int, ext: str = ".flac"
) -> list[Mixture]:
    """Draw ``n`` mixtures from CM trials with the source's pair probabilities; seeded and without repeated pairs."""
    spoof = [t.utt for t in trials if t.key == SPOOF]
    bona = [t.utt for t in trials if t.key == BONAFIDE]
    if len(spoof) < 2 or len(bona) < 2:
        raise ValueError(
            f"mixtures need at least 2 spoof and 2 bona fide trials, got {len(spoof)} and {len(bona)}"
        )
    rng = np.random.default_rng(seed)
    seen: set[frozenset[str]] = set()
    out: list[Mixture] = []
    draws = 0
    while len(out) < n:
        draws += 1
        if (
            draws > 50 * n + 1000
        ):  # far more repeats than distinct pairs: the trials are too few for n
            raise ValueError(
                f"cannot draw {n} distinct pairs from {len(spoof)} spoof and {len(bona)} bona fide "
                f"trials (got {len(out)}); ask for fewer mixtures"
            )
        if rng.integers(2) == 0:  # 50%: spoof + bona fide, file1 spoof as in the source
            u1, u2 = spoof[rng.integers(len(spoof))], bona[rng.integers(len(bona))]
            l1, l2 = SPOOF, BONAFIDE
        elif rng.integers(2) == 0:  # 25%: two distinct bona fide files
            i, j = rng.choice(len(bona), size=2, replace=False)
            u1, u2, l1, l2 = bona[i], bona[j], BONAFIDE, BONAFIDE
        else:  # 25%: two distinct spoofs
            i, j = rng.choice(len(spoof), size=2, replace=False)
            u1, u2, l1, l2 = spoof[i], spoof[j], SPOOF, SPOOF
        delay_s, delayed = float(rng.uniform(0, 1)), int(rng.integers(2)) + 1
        g1, g2 = float(rng.uniform(0.7, 1.3)), float(rng.uniform(0.7, 1.3))
        key = frozenset((u1, u2))
        if (
            key in seen
        ):  # the draws above are still consumed, so the plan stays a function of the seed
            continue
        seen.add(key)
        out.append(
            Mixture(
                f"{u1}_{u2}{ext}",
                f"{u1}{ext}",
                l1,
                f"{u2}{ext}",
                l2,
                mixed_label(l1, l2),
                delayed,
                delay_s,
                g1,
                g2,
            )
        )
    return out


def render(m: Mixture, audio_dir: str | Path) -> tuple[np.ndarray, np.ndarray, int]:
    """Build one mixture from its source files at their own rate: ``(mixture, sources (2, T), sr)``."""
    audio_dir = Path(audio_dir)
    p1, p2 = audio_dir / m.file1, audio_dir / m.file2
    a1, sr1 = audio.load_audio(p1, sr=None), audio.audio_info(p1).samplerate
    a2, sr2 = audio.load_audio(p2, sr=None), audio.audio_info(p2).samplerate
    if sr1 != sr2:
        raise audio.AudioError(f"{p1} ({sr1} Hz) and {p2} ({sr2} Hz): sampling rates do not match")
    mix, src, _ = mix_sources(a1, a2, int(sr1 * m.delay_s), m.delayed, m.gain1, m.gain2)
    return mix, src, sr1


@dataclass
class MixtureSet:
    """A folder of mixtures: ``flac/``, ``metadata.txt`` (source format), ``params.tsv`` and ``mixtures.json``."""

    root: Path
    mixtures: list[Mixture]
    source_dir: Path

    @property
    def audio_dir(self) -> Path:
        """Where the mixture flac files are."""
        return self.root / "flac"

    def __len__(self) -> int:
        return len(self.mixtures)

    def path(self, i: int) -> Path:
        """The flac file of mixture ``i``."""
        return self.audio_dir / self.mixtures[i].mixed_file

    def load(self, i: int, sr: int | None = None) -> np.ndarray:
        """Mixture ``i`` as float32 (at ``sr``; None: its own rate)."""
        return audio.load_audio(self.path(i), sr=sr)

    def sources(self, i: int, sr: int | None = None) -> np.ndarray:
        """The two scaled sources of mixture ``i`` (2, T), rebuilt from the source files; they sum to the mixture."""
        _, src, file_sr = render(self.mixtures[i], self.source_dir)
        if sr is not None and sr != file_sr:
            src = np.stack([audio.resample(s, file_sr, sr) for s in src])
        return src

    def counts(self) -> dict[str, int]:
        """Number of mixtures per mixed label."""
        return {lab: sum(m.mixed_label == lab for m in self.mixtures) for lab in LABELS}


def write_metadata(path: Path, mixtures: Sequence[Mixture]) -> None:
    """Write the source's metadata file (atomic)."""
    write_text(path, "".join(m.metadata_line() + "\n" for m in mixtures))


def read_metadata(path: str | Path) -> list[tuple[str, str, str, str, str, str]]:
    """Read a metadata file of the source's format; a bad line is an error with its line number."""
    path = Path(path)
    out = []
    for i, f, line in read_fields(path, 6):
        if f[2] not in (BONAFIDE, SPOOF) or f[4] not in (BONAFIDE, SPOOF):
            raise ProtocolError(path, i, "labels must be 'bonafide' or 'spoof'", line)
        if f[5] != mixed_label(f[2], f[4]):
            raise ProtocolError(
                path, i, f"mixed label {f[5]!r} does not match {f[2]} + {f[4]}", line
            )
        out.append(tuple(f))
    return out


def _write_params(path: Path, mixtures: Sequence[Mixture]) -> None:
    rows = [PARAMS_HEADER] + [
        f"{m.mixed_file} {m.delayed} {m.delay_s!r} {m.gain1!r} {m.gain2!r}" for m in mixtures
    ]
    write_text(path, "\n".join(rows) + "\n")


def _read_params(path: Path) -> dict[str, tuple[int, float, float, float]]:
    out = {}
    for i, f, line in read_fields(path, 5):
        if " ".join(f) == PARAMS_HEADER:
            continue
        try:
            out[f[0]] = (int(f[1]), float(f[2]), float(f[3]), float(f[4]))
        except ValueError:
            raise ProtocolError(path, i, f"expected '{PARAMS_HEADER}' with numbers", line) from None
    return out


def load_mixture_set(root: str | Path, source_dir: str | Path) -> MixtureSet:
    """Open a mixture folder written by :func:`generate`: metadata joined with its parameters."""
    root = Path(root)
    meta, params = read_metadata(root / METADATA), _read_params(root / PARAMS)
    mixtures = []
    for f in meta:
        if f[0] not in params:
            raise ProtocolError(
                root / PARAMS, None, f"no parameters for mixture {f[0]} of {root / METADATA}"
            )
        mixtures.append(Mixture(*f, *params[f[0]]))
    return MixtureSet(root, mixtures, Path(source_dir))


def generate(
    trials: Sequence[CMTrial],
    source_dir: str | Path,
    out: str | Path,
    n: int,
    seed: int,
    progress: bool = False,
) -> MixtureSet:
    """Plan and write ``n`` mixtures into ``out`` (resumable: existing flac files of the same plan are kept)."""
    out, source_dir = Path(out), Path(source_dir)
    mixtures = plan_mixtures(trials, n, seed)
    # the recipes and the code that renders them: a change to the mixing code is a new plan
    plan_id = stable_hash({"plan": [asdict(m) for m in mixtures], "code": code_key(__name__)})
    info_path = out / INFO
    (out / "flac").mkdir(parents=True, exist_ok=True)
    if info_path.is_file() and json.loads(info_path.read_text()).get("plan") != plan_id:
        # another plan's files would be mixed into this one: start the folder again
        for p in (out / "flac").glob("*.flac"):
            p.unlink()
    write_metadata(out / METADATA, mixtures)
    _write_params(out / PARAMS, mixtures)
    write_json(info_path, {"plan": plan_id, "n": n, "seed": seed, "source_dir": str(source_dir)})
    ms = MixtureSet(out, mixtures, source_dir)
    for i in tqdm(range(len(ms)), desc=f"mixing {out.name}", disable=not progress, leave=False):
        if not ms.path(i).is_file():
            mix, _, sr = render(ms.mixtures[i], source_dir)
            audio.save_audio(ms.path(i), mix, sr)
    return ms


def generate_from_la(la, out: str | Path, n: int, seed: int, progress: bool = False) -> MixtureSet:
    """Mixtures of one :class:`asvnb.data.asvspoof.LA2019` split (real or embedded)."""
    return generate(la.trials, la.audio_dir, out, n, seed, progress=progress)


class DynamicMixtures(torch.utils.data.IterableDataset):
    """Endless A.1 mixtures of random source pairs (delay, trim, gains, peak normalisation), cropped to ``seconds``.

    Each pass draws ``n`` mixtures from ``(seed, epoch)``: the trainer sets the
    epoch, so a resumed run draws what an uninterrupted one would.
    """

    def __init__(self, waves: Sequence[np.ndarray], n: int, seconds: float, sr: int, seed: int):
        self.waves, self.n, self.len, self.sr = list(waves), n, int(seconds * sr), sr
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the mixtures of ``epoch`` (0-based, as the self-counted passes of the first build were)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rng = np.random.default_rng((self.seed, self.epoch))
        for _ in range(self.n):
            i, j = rng.choice(len(self.waves), size=2, replace=False)
            mix, src, _ = mix_sources(
                self.waves[i],
                self.waves[j],
                int(self.sr * rng.uniform(0, 1)),
                int(rng.integers(2)) + 1,
                rng.uniform(0.7, 1.3),
                rng.uniform(0.7, 1.3),
            )
            if len(mix) > self.len:
                o = int(rng.integers(0, len(mix) - self.len + 1))
                mix, src = mix[o : o + self.len], src[:, o : o + self.len]
            else:
                mix, src = (
                    np.pad(mix, (0, self.len - len(mix))),
                    np.pad(src, ((0, 0), (0, self.len - len(mix)))),
                )
            yield torch.from_numpy(mix), torch.from_numpy(np.ascontiguousarray(src.T))
