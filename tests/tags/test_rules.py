"""The rule files: complete, reproducible from the reference, validated when loaded."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from deid_node.config import PROJECT_ROOT, ConfigError, Section
from deid_node.tags import ProfileSettings, TagEngine
from deid_node.tags import build_rules
from deid_node.tags.profile import DEFAULT_OPTIONS, load_rules

from .helpers import KEY, rich_ct

RULES = PROJECT_ROOT / "rules"
REFERENCE = PROJECT_ROOT.parent / "shared" / "reference" / "ps3.15-table-e1-1.json"


def test_annex_e_has_every_row_of_the_table():
    data = yaml.safe_load((RULES / "annex-e.yaml").read_text())
    assert data["row_count"] == len(data["rules"]) == 621
    assert "edition" in data and "2025" in data["edition"]
    tags = [r["tag"] for r in data["rules"]]
    assert len(set(tags)) == 621
    assert {"(50XX,XXXX)", "(60XX,3000)", "(60XX,4000)", "private"} <= set(tags)
    actions = {r["basic"] for r in data["rules"]}
    assert actions == {"D", "Z", "X", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}
    assert len(data["options"]) == 10


@pytest.mark.skipif(not REFERENCE.is_file(), reason="the shared reference is not present")
def test_annex_e_is_reproducible_from_the_reference():
    built = build_rules.build(REFERENCE)
    shipped = yaml.safe_load((RULES / "annex-e.yaml").read_text())
    assert built == shipped


def test_engine_does_not_read_the_shared_folder(monkeypatch):
    opened = []
    real_open = Path.read_text

    def spy(self, *a, **k):
        opened.append(str(self))
        return real_open(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", spy)
    TagEngine(ProfileSettings.default(), KEY)
    assert opened and not any("shared" in p for p in opened)


def test_option_precedence_takes_the_safer_action():
    rules = load_rules(dataclasses.replace(ProfileSettings.default(),
                                           options=("retain_device_identity",
                                                    "retain_longitudinal_modified_dates")))
    # Date of Last Calibration: Retain Device Identity says K, Modified Dates says C.
    assert rules.exact[0x00181200].action == "C"
    rules = load_rules(dataclasses.replace(ProfileSettings.default(), options=()))
    assert rules.exact[0x00181200].action == "X"
    assert rules.lookup(0x60023000).tag == "(60XX,3000)"
    assert rules.lookup(0x501E1234).tag == "(50XX,XXXX)"


def test_default_profile_is_the_issue_s():
    assert set(ProfileSettings.default().options) == {
        "retain_longitudinal_modified_dates", "retain_patient_characteristics",
        "retain_device_identity", "clean_descriptors", "clean_structured_content",
        "clean_graphics", "retain_safe_private"}
    assert ProfileSettings.default().key_file.name == "site.key"


def _section(data: dict) -> Section:
    return Section(data, "test.yaml", "profile", PROJECT_ROOT)


def test_from_section_parses_and_validates(tmp_path):
    s = ProfileSettings.from_section(_section({
        "options": ["retain_uids", "clean_descriptors"], "pseudonym_prefix": "TRIAL7",
        "key_file": str(tmp_path / "k"), "crosswalk": {"enabled": True, "path": "var/cw.jsonl"}}))
    assert s.options == ("retain_uids", "clean_descriptors") and s.pseudonym_prefix == "TRIAL7"
    assert s.crosswalk_enabled and s.crosswalk_path == PROJECT_ROOT / "var" / "cw.jsonl"
    assert ProfileSettings.from_section(_section({})).options == DEFAULT_OPTIONS


@pytest.mark.parametrize("data,key", [
    ({"optoins": []}, "profile.optoins"),
    ({"options": ["retain_everything"]}, "profile.options"),
    ({"options": ["retain_longitudinal_full_dates", "retain_longitudinal_modified_dates"]},
     "profile.options"),
    ({"pseudonym_prefix": "bad prefix!"}, "profile.pseudonym_prefix"),
    ({"crosswalk": {"enabled": "yes"}}, "profile.crosswalk.enabled"),
    ({"crosswalk": {"file": "x"}}, "profile.crosswalk.file"),
])
def test_from_section_errors_name_the_key(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        ProfileSettings.from_section(_section(data))


def _rules_copy(tmp_path: Path, overrides: str) -> ProfileSettings:
    site = tmp_path / "site.yaml"
    site.write_text(overrides)
    return dataclasses.replace(ProfileSettings.default(), site_overrides=site)


def test_site_override_changes_an_action(tmp_path):
    settings = _rules_copy(tmp_path, 'overrides:\n  - tag: "(0008,0080)"\n    action: K\n'
                                     '    reason: registry needs the site\n')
    ds = rich_ct()
    from deid_node import identity
    TagEngine(settings, KEY).apply(ds, identity.collect(ds))
    assert ds.InstitutionName == "St Elsewhere Hospital"


@pytest.mark.parametrize("text,match", [
    ('overrides:\n  - tag: "(0008,0080)"\n    action: K\n', "reason"),
    ('overrides:\n  - tag: "(0008,0080)"\n    action: KEEP\n    reason: r\n', "action"),
    ('overrides:\n  - tag: "0008,0080"\n    action: K\n    reason: r\n', "tag"),
    ("overrides: [\n", "YAML"),
])
def test_bad_site_overrides_are_refused(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        TagEngine(_rules_copy(tmp_path, text), KEY)


def test_shipped_site_overrides_are_empty_and_documented():
    text = (RULES / "site-overrides.yaml").read_text()
    assert yaml.safe_load(text) == {"overrides": []}
    assert "reason" in text and "tag" in text


def test_every_safe_private_entry_has_a_source():
    data = yaml.safe_load((RULES / "safe-private.yaml").read_text())
    assert len(data["entries"]) >= 5
    for entry in data["entries"]:
        assert entry["creator"] and entry["vr"] and entry["source"] and entry["why"]


def test_safe_private_without_source_is_refused(tmp_path):
    bad = tmp_path / "safe.yaml"
    bad.write_text("entries:\n  - creator: X\n    element: (0019,xx01)\n    vr: DS\n")
    with pytest.raises(ConfigError, match="source"):
        TagEngine(dataclasses.replace(ProfileSettings.default(), safe_private=bad), KEY)
