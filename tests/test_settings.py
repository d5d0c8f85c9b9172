"""Settings as data (issue 13): YAML per study and profile, overrides, strict dataclasses, departures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from asvnb import config
from asvnb.errors import json_object


@dataclass
class Setup:
    lr: float
    epochs: int = 1


@dataclass
class StudySettings:
    sr: int
    sizes: tuple[int, int]
    setups: dict[str, Setup] = field(default_factory=dict)
    weights: str | None = None
    profile: str = "embedded"


@pytest.fixture
def settings_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "configs" / "99_probe"
    root.mkdir(parents=True)
    (root / "embedded.yaml").write_text(
        "sr: 16000\nsizes: [96, 64]\nweights: null\nsetups:\n  CNN: {lr: 0.001, epochs: 8}\n"
    )
    (root / "source.yaml").write_text(
        "sr: 16000\nsizes: [224, 224]\nweights: imagenet\nsetups:\n  CNN: {lr: 0.001, epochs: 20}\n"
    )
    (root / "full.yaml").write_text("sr: [unclosed\n")
    monkeypatch.setattr(config, "settings_dir", lambda: tmp_path / "configs")
    return root


def test_a_profile_file_builds_nested_dataclasses(settings_tree: Path) -> None:
    data = config.load_settings("99_probe", "embedded")
    s = config.from_dict(StudySettings, data, "probe", profile="embedded")
    assert s == StudySettings(16000, (96, 64), {"CNN": Setup(0.001, 8)}, None, "embedded")
    assert isinstance(s.sizes, tuple) and isinstance(s.setups["CNN"], Setup)


def test_overrides_follow_dotted_keys_and_none_keeps_the_profile_value(settings_tree: Path) -> None:
    data = config.load_settings("99_probe", "embedded", {"setups.CNN.epochs": 3, "sr": None})
    assert data["setups"]["CNN"] == {"lr": 0.001, "epochs": 3}
    assert data["sr"] == 16000


def test_a_misspelt_setting_is_an_error_naming_the_file(settings_tree: Path) -> None:
    with pytest.raises(KeyError, match=r"embedded\.yaml.*'setups\.CNN\.epoch'"):
        config.load_settings("99_probe", "embedded", {"setups.CNN.epoch": 3})
    with pytest.raises(KeyError, match=r"probe\.setups\.CNN: unknown setting\(s\) momentum"):
        config.from_dict(
            StudySettings,
            {"sr": 1, "sizes": [1, 1], "setups": {"CNN": {"lr": 1, "momentum": 0.9}}},
            "probe",
        )


def test_broken_or_missing_files_are_named(settings_tree: Path) -> None:
    with pytest.raises(ValueError, match=r"full\.yaml: not valid YAML"):
        config.load_settings("99_probe", "full")
    with pytest.raises(FileNotFoundError, match=r"no settings for study '99_other'"):
        config.load_settings("99_other", "embedded")
    with pytest.raises(ValueError, match="unknown profile 'laptop'"):
        config.load_settings("99_probe", "laptop")


def test_departures_are_the_settings_that_differ(settings_tree: Path) -> None:
    ours = config.load_settings("99_probe", "embedded")
    source = config.load_settings("99_probe", "source")
    assert config.departures(source, ours) == [
        ("setups.CNN.epochs", 20, 8),
        ("sizes", [224, 224], [96, 64]),
        ("weights", "imagenet", None),
    ]


def test_every_study_has_both_profiles_and_they_load() -> None:
    studies = sorted(p.name for p in config.settings_dir().iterdir() if p.is_dir())
    assert studies, "no study settings under asvnb/configs"
    for study in studies:
        for profile in config.PROFILES:
            assert isinstance(config.load_settings(study, profile), dict), (study, profile)


def test_a_broken_json_file_names_the_file_the_fault_and_the_remedy(tmp_path: Path) -> None:
    manifest = tmp_path / "MANIFEST.json"
    manifest.write_text('{"scale": "small",')
    with pytest.raises(ValueError, match=r"MANIFEST.json: not valid JSON \(.*rebuild with `asvnb"):
        config.data_fingerprint(tmp_path)
    manifest.write_text('["scale", "small"]')
    with pytest.raises(ValueError, match="MANIFEST.json: expected a JSON object, found list"):
        config.data_fingerprint(tmp_path)
    manifest.write_text('{"scale": "small"}')
    assert json_object(manifest, "unused") == {"scale": "small"}
