"""Signal processing of the generator: resampling, trimming, speaker and room colouring.

Pure functions of their inputs (and of an RNG the caller seeds), deterministic on one
machine: polyphase filters, biquads and image-source rooms, no threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import gcd

import numpy as np
from scipy.signal import butter, firwin, resample_poly, sosfilt

QUIET_LEVEL = 64 / 32768  # |sample| at or below this counts as quiet (-54 dBFS)
SPEED_OF_SOUND = 343.0


@lru_cache(maxsize=16)
def _lowpass(up: int, down: int) -> np.ndarray:
    """resample_poly's own default filter (Kaiser, beta 5), designed once per worker."""
    max_rate = max(up, down)
    return firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))


def resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Polyphase resampling (deterministic, no FFT-length dependence)."""
    if src == dst:
        return np.asarray(x, dtype=np.float64)
    g = gcd(src, dst)
    up, down = dst // g, src // g
    return resample_poly(x, up, down, window=_lowpass(up, down))


def warp(x: np.ndarray, factor: float) -> np.ndarray:
    """Scale every frequency by `factor` (formants and pitch: a shorter or longer vocal
    tract) by playing the samples faster or slower; the duration changes by 1/factor."""
    step = round(factor * 50)
    return x if step == 50 else resample(x, step, 50)


def trim(x: np.ndarray, sr: int, floor_db: float = -40.0, margin_ms: int = 20) -> np.ndarray:
    """Cut leading/trailing silence: keep frames within floor_db of the loudest 10 ms frame."""
    hop = sr // 100
    frames = len(x) // hop
    if frames == 0:
        return x
    rms = np.sqrt(np.mean(x[: frames * hop].reshape(frames, hop) ** 2, axis=1))
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (floor_db / 20))
    if rms.max() == 0 or loud.size == 0:
        return x[:0]
    margin = sr * margin_ms // 1000
    return x[max(0, loud[0] * hop - margin) : min(len(x), (loud[-1] + 1) * hop + margin)]


def split_on_pauses(x: np.ndarray, sr: int, min_pause_ms: int, pad_ms: int) -> list[np.ndarray]:
    """Cut a batch recording at the long pauses between utterances."""
    quiet = np.abs(x) <= QUIET_LEVEL
    edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet.astype(np.int8), [0]))))
    min_run, pad = sr * min_pause_ms // 1000, sr * pad_ms // 1000
    pieces, start = [], 0
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if b - a >= min_run:
            if a > start:  # keep a little of the pause on each side, as a solo run has
                pieces.append(x[max(0, start - pad) : a + pad])
            start = b
    if start < len(x):
        pieces.append(x[max(0, start - pad) :])
    return pieces


def colored_noise(rng: np.random.Generator, n: int, sr: int, exponent: float) -> np.ndarray:
    """Noise with power ~ 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    f[0] = f[1] if n > 1 else 1.0
    spec *= np.maximum(f, 20.0) ** (-exponent / 2)  # flat below 20 Hz: no DC drift
    y = np.fft.irfft(spec, n)
    return y / (np.sqrt(np.mean(y**2)) or 1.0)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2))) if len(x) else 0.0


# ---- rooms -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Room:
    """A shoebox room, a talker and a microphone in it (metres, seconds)."""

    dims: tuple[float, float, float]
    rt60: float
    source: tuple[float, float, float]
    mic: tuple[float, float, float]


def draw_room(
    rng: np.random.Generator,
    *,
    width: tuple[float, float],
    depth: tuple[float, float],
    height: tuple[float, float],
    rt60: tuple[float, float],
    distance: tuple[float, float],
) -> Room:
    """A random room; the talker stands `distance` from the mic, both away from the walls."""
    dims = (rng.uniform(*width), rng.uniform(*depth), rng.uniform(*height))
    margin = 0.4
    mic = np.array([rng.uniform(margin, d - margin) for d in dims[:2]] + [rng.uniform(0.7, 1.2)])
    d = rng.uniform(*distance)
    angle = rng.uniform(0, 2 * np.pi)
    src = mic + np.array([d * np.cos(angle), d * np.sin(angle), rng.uniform(0.1, 0.6)])
    src = np.clip(src, margin, np.array(dims) - margin)
    return Room(
        tuple(round(float(v), 3) for v in dims),  # type: ignore[arg-type]
        round(float(rng.uniform(*rt60)), 3),
        tuple(round(float(v), 3) for v in src),  # type: ignore[arg-type]
        tuple(round(float(v), 3) for v in mic),  # type: ignore[arg-type]
    )


@lru_cache(maxsize=128)
def room_response(room: Room, sr: int, max_order: int) -> np.ndarray:
    """The room's impulse response (image sources, pyroomacoustics), direct path first and
    unit energy; computed once per worker and room."""
    try:
        import pyroomacoustics as pra
    except ImportError:
        from ml.synth.common import SynthError

        raise SynthError(
            "pyroomacoustics is not installed: install the PyPI package pyroomacoustics "
            "(`make setup`)"
        ) from None
    absorption, order = pra.inverse_sabine(room.rt60, list(room.dims))
    shoebox = pra.ShoeBox(
        list(room.dims),
        fs=sr,
        materials=pra.Material(float(absorption)),
        max_order=int(min(order, max_order)),
        air_absorption=False,
        use_rand_ism=False,
    )
    shoebox.add_source(list(room.source))
    shoebox.add_microphone(np.array(room.mic, dtype=float).reshape(3, 1))
    shoebox.compute_rir()
    h = np.asarray(shoebox.rir[0][0], dtype=np.float64)
    peak = int(np.argmax(np.abs(h)))
    h = h[max(0, peak - 8) :]  # the talker's onset stays where it was placed
    return h / (np.sqrt(np.sum(h**2)) or 1.0)


def reverberate(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """`x` through the room, cut to its own length (the tail past the clip is lost)."""
    from scipy.signal import oaconvolve

    return oaconvolve(x, h)[: len(x)]


# ---- microphone --------------------------------------------------------------------------


def peaking(f0: float, gain_db: float, q: float, sr: int) -> np.ndarray:
    """RBJ peaking-EQ biquad as one second-order section."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / sr
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]


def microphone(
    x: np.ndarray, sr: int, highpass_hz: float, lowpass_hz: float, eq: tuple[float, float, float]
) -> np.ndarray:
    """A cheap microphone and its channel: band limits and one resonance (f0, dB, Q)."""
    sos = [butter(2, highpass_hz, "highpass", fs=sr, output="sos")]
    if lowpass_hz < sr / 2 * 0.95:
        sos.append(butter(4, lowpass_hz, "lowpass", fs=sr, output="sos"))
    sos.append(peaking(*eq, sr))
    return sosfilt(np.concatenate(sos), x)
