"""Settings of the pixel redactor (config section ``pixels``)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from deid_node.config import PROJECT_ROOT, ConfigError, Section

POLICIES = ("phi", "all-text")
# the detector's other looks at a frame (detector.view)
DETECT_VIEWS = ("shift",)


@dataclass(frozen=True)
class PixelSettings:
    """What the redactor blanks and when it gives an instance to the quarantine.

    policy: ``phi`` keeps text the analyzer finds harmless (settings, markers, scales);
    ``all-text`` blanks every detected box. ``uncertainty_threshold``: an image whose
    uncertainty (see docs/pixels.md) is above it goes to quarantine.
    """

    policy: str = "phi"
    uncertainty_threshold: float = 0.8
    mc_passes: int = 8
    ocr_confidence_floor: float = 0.5
    ocr_confident: float = 0.75
    detection_threshold: float = 0.5
    ambiguous_floor: float = 0.08
    pad: int = 3
    rules: Path = PROJECT_ROOT / "rules" / "pixels.yaml"
    detector: str = "detector/text_frcnn.pt"
    # a fine-tune of EasyOCR's english_g2 under weights/ (MANIFEST-checked), or "" for
    # english_g2 as published
    recogniser: str = "ocr/english_g2_overlay.pt"
    # the script check under weights/ (pixels.script; "": off): a box it finds in a script
    # the recogniser cannot read (Han...) is blanked, never kept on its Latin reading
    script_check: str = "script/script_net.pt"
    other_script_threshold: float = 0.5
    # ...and this one for a box read at OCR confidence under `unsure_script_below` (kept
    # as device terms only, from `safe_word_floor`): a Japanese name read "SAx x3" at 0.031
    # scored 0.53. Over every reading under `ocr_confidence_floor` it cost 10 settings
    # boxes on 600 tuning images; under 0.05, two
    unsure_script_threshold: float = 0.25
    unsure_script_below: float = 0.05
    # the script check does not overrule a reading at `ocr_confident` or more that is all
    # device terms with one spelled as listed of this many letters ("Frq 3.5 MHz" at 0.94,
    # "Obstetric" at 0.999 scored as Han): Han, Hangul and Hebrew are read as digits or a
    # letter or two ("204", "E4:4", "se9"), never so. 0: the check always wins
    latin_term_letters: int = 3
    max_sampled_frames: int = 8
    # frames looked at besides the samples, where they show something no sample shows
    # (pixels/frames.py); more such frames send the instance to quarantine
    max_extra_frames: int = 8
    static_tolerance: int = 24
    threads: int = 1
    ocr_batch: int = 16
    # OCR confidence from which a reading of device terms can be kept (below
    # ocr_confidence_floor only with a spelled-out term and a plausible length, _safe). On
    # 600 tuning images 0.05 -> 0.01 kept 11 settings boxes more ("Rot 0" at 0.022, "ECG"
    # at 0.013); at 0 "ROYAL INFIRMARY" read "ROT A5" at 0.005 leaked
    safe_word_floor: float = 0.01
    extend_ink: float = 4.0
    extend_label: float = 16.0
    # a box blanked as unreadable grows across its line to the letters whose ink enters it,
    # ending within this many box thicknesses beyond it (redactor._extend_across_ink; 0:
    # off): Arabic was boxed by the core of its letters only, its ascenders left standing
    extend_across: float = 1.0
    ocr_retry: bool = True
    lenient_safe: bool = True
    # a row with ink on more than this share of its length is no gap between two lines of
    # one box. At 5% the thin-stroke rows of large text ("5", "Thyroid" at 20+ px) read as
    # gaps (2.3% of 1,895 single-line ground-truth boxes counted two lines); at 1%, 0.8%.
    line_gap_ink: float = 0.01
    # a kept box is followed along its ink and the longer box read again: PHI in it blanks
    # the longer box (a line the detector stopped short, "OB 199/0" of "DOB 19970128")
    recheck_cut_short: bool = True
    # every reading must hold this share of the characters its box can hold, or the box
    # is unreadable: "mm" read from a box the size of "Birth 04/22/1973" (ground-truth
    # boxes of 150 tuning images: the shortest correct reading fills 0.32, "B"; median 0.89)
    min_fill: float = 0.2
    # an unreadable box whose ink holds at most this many characters, with no blanked box
    # over it or within two line heights in its row or column, is kept
    # (redactor._keep_too_short; 0: off)
    too_short_chars: float = 2.0
    # a setting kept on its own inside a longer blanked detection is left unblanked where
    # the ink parts around it by at least spare_gap of the line's thickness
    spare_kept_fields: bool = True
    spare_gap: float = 0.3
    # ...and only when its reading holds this share of the characters its ink can hold
    # ("MED" read from "MEDICAL" of an institution's name does not)
    spare_min_fill: float = 0.5
    # a second-look reading of device terms must hold this share of the characters its box
    # can hold: "w" (a window setting) read from "Acc: 17131969" by one of six views is
    # refused, "B" in a box two or three characters wide is not.
    retry_min_fill: float = 0.3
    # the second look reads a box again only when its crop is at most this many times as
    # wide as high: it can only keep a box as device terms, which are short, and a long
    # crop costs a read of every view (on 139 tuning images none over 10 was kept by it,
    # and they took 40% of its reading; edge slivers of a radiograph held it for 49 s)
    retry_max_aspect: float = 10.0
    # ...and reads boxes (the shortest first) only while their crops add up to at most
    # this many line heights: a bound on its time per instance (2 of 770 reads of the
    # tuning and evaluation splits went over; the rest stay unreadable, and so blanked)
    retry_max_length: float = 50.0
    # lenient_safe: a term this long may be matched one edit away ("Pegsist"); shorter
    # words are left alone (one edit turns "Stone" into "Store").
    fuzzy_min_letters: int = 6
    # below ocr_confidence_floor a reading of device terms is kept only when it holds a
    # term of this many letters: at 2, "Dr. Kim" read "Ur: /im" at 0.06 passed as two terms
    floor_term_letters: int = 3
    # ...or this many terms of 2+ letters, each read at ocr_confident or more on its own
    # characters (redactor._sure_short_terms; 0: off)
    floor_sure_terms: int = 2
    # a blanked detection's settings end (redactor._safe_ends) may be one 2-letter term
    # ("Klinikum Nord AP") when the rest of the reading holds one of the instance's
    # identifiers and the end no piece of one ("Patel Ra" of "Raj": not kept)
    identity_ends: bool = True
    # one detection is split into fields where its ink stops for more than this many line
    # thicknesses (0: never split), see redactor.split_at_gaps
    split_gap: float = 1.0
    # one detection over two or more text lines is split into lines, each read and judged
    # alone (redactor.split_lines); off: such a box is blanked as multi-line
    split_lines: bool = True
    # an unreadable box is read again followed along its ink (redactor._reread_extended)
    reread_extended: bool = True
    # an unreadable box is read as one of the recogniser's this many likeliest readings
    # when that one is all device terms (redactor._reread_alternatives; 0: off)
    ocr_beams: int = 24
    # ...for a box whose own reading has at least this OCR confidence: under it the search
    # makes device terms of anything ("Keiko Patel" in a font neither split draws, read
    # "Mlaced" at 0.011, became "M1a ped"; "ROYAL INFIRMARY" at 0.005 "ROT A5"). On 600
    # tuning images the readings it took under 0.02 were one, over no text
    beam_floor: float = 0.02
    # ...and, when none of those is, as the likeliest reading made of device terms only
    # (a search constrained to them, match.setting_head) at least as likely (False: off)
    ocr_lexicon: bool = True
    # the second look also asks english_g2 as published (with a fine-tuned recogniser)
    retry_base: bool = True
    # ...and, last, this other fine-tune under weights/ (MANIFEST-checked; "": off): two
    # recognisers trained apart misread different crops, and the second look takes only
    # device-term readings
    retry_recogniser: str = "ocr/english_g2_second_look.pt"
    # other looks of the detector at every frame (detector.view); their boxes are added
    # where the plain look found no text ([]: the plain look only)
    detect_views: tuple[str, ...] = ("shift",)
    # the detector was trained on text 8-28 px high at its working size and finds taller
    # text in scattered pieces (a name 90-120 px high on a 640×480 capture: a third to
    # nearly all of its ink left in view); a look at this share of the working size finds
    # it whole. Its boxes of one line along x in one colour, at least `large_text_min`
    # working pixels high, are added (0: no such look; redactor._large_text)
    large_text_size: float = 0.5
    large_text_min: float = 44.0
    # a reading the analyzer found nothing in is blanked when it holds a word of this many
    # letters that is no device term (match.unknown_word; 0: such readings are kept)
    unknown_word_letters: int = 4

    @classmethod
    def default(cls) -> "PixelSettings":
        return cls()

    @classmethod
    def from_section(cls, section: Section) -> "PixelSettings":
        known = {f.name for f in fields(cls)}
        for key in section.keys():
            if key not in known:
                prefix = f"{section.prefix}." if section.prefix else ""
                raise ConfigError(f"{section.source}: '{prefix}{key}' is not a pixels setting; "
                                  f"known settings: {', '.join(sorted(known))}")
        d = cls()
        values: dict[str, Any] = {
            "policy": section.choice("policy", POLICIES, d.policy),
            "uncertainty_threshold": section.float("uncertainty_threshold",
                                                   d.uncertainty_threshold, 0.0, 1.0),
            "mc_passes": section.int("mc_passes", d.mc_passes, 1, 64),
            "ocr_confidence_floor": section.float("ocr_confidence_floor",
                                                  d.ocr_confidence_floor, 0.0, 1.0),
            "ocr_confident": section.float("ocr_confident", d.ocr_confident, 0.0, 1.0),
            "detection_threshold": section.float("detection_threshold", d.detection_threshold,
                                                 0.05, 0.99),
            "ambiguous_floor": section.float("ambiguous_floor", d.ambiguous_floor, 0.01, 0.99),
            "pad": section.int("pad", d.pad, 0, 64),
            "rules": section.path("rules", str(d.rules)),
            "detector": section.str("detector", d.detector),
            "recogniser": section.str("recogniser", d.recogniser),
            "script_check": section.str("script_check", d.script_check),
            "other_script_threshold": section.float("other_script_threshold",
                                                    d.other_script_threshold, 0.0, 1.0),
            "unsure_script_threshold": section.float("unsure_script_threshold",
                                                     d.unsure_script_threshold, 0.0, 1.0),
            "unsure_script_below": section.float("unsure_script_below",
                                                 d.unsure_script_below, 0.0, 1.0),
            "latin_term_letters": section.int("latin_term_letters", d.latin_term_letters, 0, 40),
            "max_sampled_frames": section.int("max_sampled_frames", d.max_sampled_frames, 1, 10000),
            "max_extra_frames": section.int("max_extra_frames", d.max_extra_frames, 0, 10000),
            "static_tolerance": section.int("static_tolerance", d.static_tolerance, 0, 65535),
            "threads": section.int("threads", d.threads, 1, 64),
            "ocr_batch": section.int("ocr_batch", d.ocr_batch, 1, 256),
            "extend_ink": section.float("extend_ink", d.extend_ink, 0.0, 20.0),
            "extend_label": section.float("extend_label", d.extend_label, 0.0, 60.0),
            "extend_across": section.float("extend_across", d.extend_across, 0.0, 4.0),
            "safe_word_floor": section.float("safe_word_floor", d.safe_word_floor, 0.0, 1.0),
            "ocr_retry": section.bool("ocr_retry", d.ocr_retry),
            "lenient_safe": section.bool("lenient_safe", d.lenient_safe),
            "line_gap_ink": section.float("line_gap_ink", d.line_gap_ink, 0.0, 0.5),
            "min_fill": section.float("min_fill", d.min_fill, 0.0, 1.0),
            "recheck_cut_short": section.bool("recheck_cut_short", d.recheck_cut_short),
            "spare_kept_fields": section.bool("spare_kept_fields", d.spare_kept_fields),
            "too_short_chars": section.float("too_short_chars", d.too_short_chars, 0.0, 10.0),
            "spare_gap": section.float("spare_gap", d.spare_gap, 0.05, 2.0),
            "spare_min_fill": section.float("spare_min_fill", d.spare_min_fill, 0.0, 1.0),
            "retry_min_fill": section.float("retry_min_fill", d.retry_min_fill, 0.0, 1.0),
            "retry_max_aspect": section.float("retry_max_aspect", d.retry_max_aspect,
                                              1.0, 100.0),
            "retry_max_length": section.float("retry_max_length", d.retry_max_length,
                                              0.0, 10000.0),
            "fuzzy_min_letters": section.int("fuzzy_min_letters", d.fuzzy_min_letters, 3, 40),
            "floor_term_letters": section.int("floor_term_letters", d.floor_term_letters, 1, 40),
            "floor_sure_terms": section.int("floor_sure_terms", d.floor_sure_terms, 0, 10),
            "identity_ends": section.bool("identity_ends", d.identity_ends),
            "split_gap": section.float("split_gap", d.split_gap, 0.0, 20.0),
            "split_lines": section.bool("split_lines", d.split_lines),
            "reread_extended": section.bool("reread_extended", d.reread_extended),
            "ocr_beams": section.int("ocr_beams", d.ocr_beams, 0, 64),
            "beam_floor": section.float("beam_floor", d.beam_floor, 0.0, 1.0),
            "ocr_lexicon": section.bool("ocr_lexicon", d.ocr_lexicon),
            "retry_base": section.bool("retry_base", d.retry_base),
            "retry_recogniser": section.str("retry_recogniser", d.retry_recogniser),
            "detect_views": tuple(section.str_list("detect_views", list(d.detect_views))),
            "large_text_size": section.float("large_text_size", d.large_text_size, 0.0, 0.9),
            "large_text_min": section.float("large_text_min", d.large_text_min, 0.0, 1000.0),
            "unknown_word_letters": section.int("unknown_word_letters",
                                                d.unknown_word_letters, 0, 40),
        }
        if values["ocr_confident"] <= values["ocr_confidence_floor"]:
            prefix = f"{section.prefix}." if section.prefix else ""
            raise ConfigError(f"{section.source}: '{prefix}ocr_confident' must be above "
                              f"'{prefix}ocr_confidence_floor'")
        if values["ambiguous_floor"] >= values["detection_threshold"]:
            prefix = f"{section.prefix}." if section.prefix else ""
            raise ConfigError(f"{section.source}: '{prefix}ambiguous_floor' must be below "
                              f"'{prefix}detection_threshold'")
        unknown = [v for v in values["detect_views"] if v not in DETECT_VIEWS]
        if unknown:
            prefix = f"{section.prefix}." if section.prefix else ""
            raise ConfigError(f"{section.source}: '{prefix}detect_views' has unknown view(s) "
                              f"{', '.join(unknown)}; known: {', '.join(DETECT_VIEWS)}")
        return cls(**values)
