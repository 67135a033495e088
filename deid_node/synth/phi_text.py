"""Synthetic PHI text for training and measuring the PHI analyzer.

Every sample is built from segments (text, entity or None), so gold character spans stay
exact through OCR-like noise. Names and addresses come from Faker (en_US and zh_CN);
templates imitate what reaches the analyzer: DICOM descriptions, comments, histories,
report sentences and burned-in image annotations. Two template sets exist and never mix:
``train`` (training only), ``dev`` (VALID_TEMPLATES: held-out wording used for error
analysis and the threshold sweep) and ``test`` (TEST_TEMPLATES: held-out wording used
only for the reported figures, written before any tuning looked at it).
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterator, Literal, Sequence

from faker import Faker

Split = Literal["train", "dev", "test"]
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December"]


@dataclass(frozen=True)
class Sample:
    """One text with its gold PHI spans (start, end, entity)."""

    text: str
    spans: tuple[tuple[int, int, str], ...]
    kind: str  # "free" (descriptions, comments, reports) or "ocr" (image annotations)
    lang: str  # "en" or "zh"


# --------------------------------------------------------------------------- clinical filler
# Words that must survive: anatomy, modality, sequences, units, settings. Shared by both
# template sets (the vocabulary of radiology is the same; the wording around it differs).
ANATOMY = ["CHEST", "ABDOMEN", "PELVIS", "BRAIN", "HEAD", "NECK", "SPINE", "C-SPINE", "L-SPINE",
           "KNEE", "SHOULDER", "HIP", "ANKLE", "WRIST", "LIVER", "KIDNEY", "THYROID", "BREAST",
           "LYMPH NODE", "CAROTID", "AORTA", "HEART", "LUNG", "PROSTATE", "UTERUS", "OVARY",
           "GALLBLADDER", "PANCREAS", "SPLEEN", "BLADDER", "ORBIT", "SINUS", "TEMPORAL BONE",
           "Left kidney", "right lobe", "upper lobe", "lower extremity", "femur", "tibia",
           "Thoracic spine", "Lumbar spine", "Cervical spine", "mediastinum", "pleura"]
ANATOMY_ZH = ["胸部", "腹部", "盆腔", "头颅", "颈部", "腰椎", "颈椎", "胸椎", "膝关节", "肩关节",
              "肝脏", "肾脏", "甲状腺", "乳腺", "淋巴结", "颈动脉", "主动脉", "心脏", "肺", "前列腺",
              "子宫", "卵巢", "胆囊", "胰腺", "脾脏", "膀胱", "眼眶", "鼻窦", "左肾", "右肺上叶"]
MODALITY = ["CT", "MR", "MRI", "US", "CR", "DX", "XA", "PET/CT", "NM", "MG", "X-RAY", "ULTRASOUND",
            "Doppler", "CTA", "MRA", "Fluoro"]
SEQUENCES = ["AX T2 FLAIR", "SAG T1", "COR T2 FS", "AX DWI", "ADC", "SWI", "T1 POST GAD",
             "AX T1 MPRAGE", "STIR", "GRE", "TOF", "B1000", "DTI", "3D VIBE", "HASTE", "LOCALIZER",
             "SCOUT", "Topogram", "AX 5.0 SOFT TISSUE", "LUNG 1.25", "BONE WINDOW", "MIP", "MPR",
             "Arterial phase", "Portal venous", "Delayed", "W/O CONTRAST", "W/ CONTRAST",
             "WITH AND WITHOUT CONTRAST", "NON CONTRAST", "CE", "PLAIN"]
SETTINGS = ["5.0 MHz", "5.0MHz", "DEPTH 16cm", "DEPTH 12 CM", "GAIN 50%", "TIS 0.4", "TIB 0.1",
            "MI 1.1", "FR 25Hz", "FR 30", "DR 60", "PWR 100%", "kVp 120", "mAs 250", "120 kV",
            "SL 5.0mm", "WL 40", "WW 400", "C 40 W 400", "IMG 23/120", "SE 3", "IM 45", "2D",
            "CFM", "PW", "M-MODE", "HR 72 bpm", "L", "R", "AP", "PA", "LAT", "AX", "SAG", "COR",
            "ZOOM 1.5", "FOV 240", "TR 4000", "TE 90", "NEX 2", "Matrix 256x256", "CTDIvol 12.3 mGy",
            "DLP 450 mGy*cm", "3.5 MHz", "C5-1", "L12-5", "Res", "Gen", "Pen", "Frq 7.5",
            "1/2", "x1.0", "0.5 mm", "10 cm", "ROI 1", "Area 2.3 cm2", "Dist 1.24 cm", "Vol 12 ml"]
SETTINGS_ZH = ["深度 16cm", "增益 50%", "频率 5.0MHz", "层厚 5mm", "平扫", "增强", "横断位", "矢状位",
               "冠状位", "彩超", "多普勒", "动脉期", "静脉期", "延迟期"]
FINDINGS = ["no acute abnormality", "unremarkable", "mild degenerative change",
            "small pleural effusion", "no focal lesion", "stable nodule", "hypoechoic lesion",
            "consolidation", "fracture", "normal study", "follow up recommended",
            "no evidence of metastasis", "cyst", "calcification", "enlarged lymph node",
            "NORMAL", "NEGATIVE", "ROUTINE", "STAT", "PRIOR", "COMPARISON", "IMPRESSION",
            "FINDINGS", "HISTORY", "INDICATION", "TECHNIQUE", "pain", "trauma", "fever", "cough",
            "shortness of breath", "r/o appendicitis", "s/p surgery", "known malignancy",
            "Resident", "Attending", "Technologist", "Radiologist", "Physician", "Nurse",
            "Host", "Link", "Viewer", "Station", "Department", "Radiology", "Medical record",
            "Outpatient", "Inpatient", "Emergency", "ICU"]
FINDINGS_ZH = ["未见明显异常", "考虑炎症", "建议复查", "结节", "囊肿", "钙化", "骨折", "积液",
               "未见转移", "淋巴结肿大", "占位", "增生", "正常", "平扫未见异常", "请结合临床",
               "腹痛", "发热", "咳嗽", "外伤", "术后复查", "检查所见", "诊断意见", "医生", "医师",
               "主任医师", "住院医师", "护士", "技师", "医嘱", "医保", "就医", "门诊", "急诊", "住院",
               "放射科", "超声科", "检验科", "病房", "科室", "院内", "出院", "入院"]


_ANIMAL = re.compile(r"breed|horse|dog|cattle|pig|sheep|goat|terrier|hound|spaniel|poodle|retriever|"
                     r"chicken|duck|rabbit|cat\b|mouse|rat\b|pony|donkey|'s\b", re.I)


def medical_vocabulary(part: Literal["train", "dev"] = "train") -> tuple[str, ...]:
    """The training part (about 85%) or the held-out dev part of :func:`_all_medical`, split
    by a hash of the phrase, so the threshold sweep can measure clinical false positives on
    concepts the model never saw."""
    import hashlib

    def is_dev(m: str) -> bool:
        return hashlib.sha1(m.lower().encode()).digest()[0] < 38  # ~15%

    return tuple(m for m in _all_medical() if is_dev(m) == (part == "dev"))


@lru_cache(maxsize=1)
def _all_medical() -> tuple[str, ...]:
    """Clinical concept names from the code dictionaries shipped with pydicom (SNOMED CT,
    FMA, RadLex, DCM, NCIt, UCUM, LOINC): an open vocabulary of anatomy, findings,
    procedures and units, so the model does not take every unseen upper-case word for a
    name. Concepts containing a Faker first or last name are left out (eponyms would
    contradict the PERSON labels)."""
    import pydicom.sr._concepts_dict as concepts
    from faker.providers.person.en_US import Provider as EnNames

    names = {n.lower() for n in (*EnNames.first_names, *EnNames.last_names)}
    out: set[str] = set()
    for scheme in ("SCT", "FMA", "RADLEX", "DCM", "NCIt", "UCUM", "LN", "MDC"):
        for entries in concepts.concepts.get(scheme, {}).values():
            for meaning, _ in entries.values():
                m = re.sub(r"\s*\([^)]*\)\s*$", "", meaning).strip()
                if not (2 <= len(m) <= 40 and len(m.split()) <= 5) or _ANIMAL.search(m):
                    continue
                if any(w.lower() in names for w in re.findall(r"[A-Za-z]+", m)):
                    continue
                out.add(m)
    return tuple(sorted(out))


def dev_clinical_phrases(n: int = 1500, seed: int = 4243) -> list[str]:
    """Clinical phrases for the sweep: held-out medical concepts, in the cases seen on images."""
    r = random.Random(seed)
    vocab = medical_vocabulary("dev")
    return [_case(r, r.choice(vocab)) for _ in range(n)]


def training_vocabulary() -> tuple[str, ...]:
    """Every fixed clinical phrase training can draw (to measure how much of a test list it
    has literally seen)."""
    return (*ANATOMY, *ANATOMY_ZH, *MODALITY, *SEQUENCES, *SETTINGS, *SETTINGS_ZH, *FINDINGS,
            *FINDINGS_ZH, *medical_vocabulary())


_UNITS = ["mm", "cm", "Hz", "kHz", "MHz", "dB", "%", "s", "ms", "mA", "kV", "kVp", "mAs", "mGy",
          "HU", "ml", "cm/s", "bpm", "mm2", "cm2", "deg", "x", "fps", "mSv", ""]
_RESERVED = {"MRN", "ID", "PID", "ACC", "SSN", "SN", "DOB", "TEL", "NO", "MR", "IP"}


def _setting(r: random.Random) -> str:
    """A device setting or measurement: abbreviation, number, unit (``TI 2200``, ``12MHz``)."""
    abbr = "".join(r.choice("ABCDEFGHIKLMNOPRSTVWXYZ") for _ in range(r.randint(1, 4)))
    if abbr in _RESERVED:
        abbr = "GN"
    if r.random() < 0.5:
        abbr = abbr[0] + abbr[1:].lower() if r.random() < 0.3 else abbr
    num = r.choice([str(r.randint(0, 9)), str(r.randint(10, 99)), str(r.randint(100, 4000)),
                    f"{r.uniform(0, 20):.1f}", f"{r.uniform(0, 3):.2f}", f"{r.randint(1, 9)}:{r.randint(1, 9)}",
                    f"{r.randint(1, 300)}/{r.randint(1, 300)}"])
    unit = r.choice(_UNITS)
    form = r.randrange(4)
    if form == 0:
        return f"{abbr} {num}{unit}"
    if form == 1:
        return f"{abbr} {num} {unit}".strip()
    if form == 2:
        return f"{num}{unit}"
    return f"{abbr}{r.choice([':', ' ', '='])}{num}"


_ZH_PART = ["头", "颈", "胸", "腹", "盆腔", "肝", "胆", "脾", "胰", "肾", "肺", "心", "脑", "骨", "关节",
            "椎体", "椎间盘", "血管", "静脉", "动脉", "淋巴结", "甲状腺", "乳腺", "子宫", "附件", "膀胱",
            "前列腺", "纵隔", "胸膜", "腹膜", "肠", "胃", "食管", "鼻窦", "眼眶", "颅", "骶尾", "肋骨",
            "锁骨", "股骨", "胫骨", "肱骨", "下肢", "上肢", "主动脉", "门静脉", "胆管", "肾上腺", "输尿管"]
_ZH_MOD = ["左", "右", "双侧", "上", "下", "前", "后", "内", "外", "中", "远端", "近端", "多发", "单发",
           "弥漫性", "局灶性", "轻度", "中度", "重度", "少量", "大量", ""]
_ZH_FIND = ["结节", "囊肿", "钙化", "增厚", "扩张", "狭窄", "积液", "占位", "病变", "炎症", "肿大",
            "强化", "重建", "扫描", "显影", "造影", "平扫", "增强", "斑块", "血栓", "骨折", "水肿",
            "出血", "梗死", "萎缩", "增生", "未见异常", "形态正常", "信号异常", "密度减低", "回声减低",
            "血流信号", "造影剂", "对比剂", "多平面重建", "三维重建", "薄层", "检查", "复查", "随访"]


def _zh_medical(r: random.Random) -> str:
    """A compositional Chinese clinical phrase: modifier + organ + finding."""
    return r.choice(_ZH_MOD) + r.choice(_ZH_PART) + r.choice(["", r.choice(_ZH_FIND)])


def _case(r: random.Random, text: str) -> str:
    c = r.random()
    return text.upper() if c < 0.5 else text.lower() if c < 0.65 else text


def _clin(rng: random.Random, zh: bool = False) -> str:
    c = rng.random()
    if zh:
        if c < 0.5:
            return _zh_medical(rng)
    elif c < 0.35:
        return _case(rng, rng.choice(medical_vocabulary()))
    elif c < 0.55:
        return _setting(rng)
    pools = [ANATOMY, MODALITY, SEQUENCES, SETTINGS, FINDINGS]
    if zh:
        pools = [ANATOMY_ZH, SETTINGS_ZH, FINDINGS_ZH, MODALITY, SETTINGS]
    return rng.choice(rng.choice(pools))


# --------------------------------------------------------------------------- value makers
class Values:
    """PHI value generators: each returns the surface string of one entity."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.en = Faker("en_US")
        self.zh = Faker("zh_CN")
        self.en.seed_instance(seed)
        self.zh.seed_instance(seed + 1)

    def words(self, zh: bool = False) -> str:
        """1-3 ordinary words (not PHI), in the cases seen in headers and reports."""
        r = self.rng
        ws = (self.zh if zh else self.en).words(r.randint(1, 3))
        if zh:
            return "".join(ws)
        text = " ".join(ws)
        c = r.random()
        return text.upper() if c < 0.3 else text.capitalize() if c < 0.6 else text.title() if c < 0.7 else text

    # names -------------------------------------------------------------
    def person(self, zh: bool = False) -> str:
        r = self.rng
        if zh and r.random() < 0.75:
            fam, giv = self.zh.last_name(), self.zh.first_name()
            if r.random() < 0.15:
                return f"{fam}^{giv}"
            return fam + giv
        if zh:
            fam, giv = self.zh.last_romanized_name(), self.zh.first_romanized_name()
        else:
            fam, giv = self.en.last_name(), self.en.first_name()
        mid = self.en.first_name()[0] if r.random() < 0.3 else ""
        form = r.randrange(10)
        if form == 0:
            s = f"{fam}^{giv}" + (f"^{mid}" if mid else "")
        elif form == 1:
            s = f"{fam}, {giv}"
        elif form == 2:
            s = f"{fam}, {giv[0]}"
        elif form == 3:
            s = f"{giv[0]}. {fam}"
        elif form == 4:
            s = f"{giv} {mid + '. ' if mid else ''}{fam}"
        elif form == 5:
            s = f"{fam} {giv[0]}"
        elif form == 6:
            s = fam
        else:
            s = f"{giv} {fam}"
        return s.upper() if r.random() < 0.45 else s

    def doctor(self, zh: bool = False) -> tuple[str, str]:
        """(title, name): the title is not PHI, the name is."""
        if zh:
            return self.rng.choice(["医师", "医生", "主任", "报告医师：", "审核医师:"]), self.person(True)
        return self.rng.choice(["Dr.", "Dr", "DR", "Dr.", "Prof."]), self.person(False)

    # dates -------------------------------------------------------------
    def date(self, ocr: bool = False) -> str:
        r = self.rng
        y, m, d = r.randint(1925, 2026), r.randint(1, 12), r.randint(1, 28)
        yy = y % 100
        mon = MONTHS[m - 1]
        forms = [f"{d:02d}-{mon}-{yy:02d}", f"{y}/{m:02d}/{d:02d}", f"{m:02d}.{d:02d}.{y}",
                 f"{y}{m:02d}{d:02d}", f"{y}-{m:02d}-{d:02d}", f"{m}/{d}/{y}", f"{m}/{d}/{yy:02d}",
                 f"{d:02d}/{m:02d}/{y}", f"{d}-{mon}-{y}", f"{mon} {d}, {y}",
                 f"{MONTH_NAMES[m - 1]} {d}, {y}", f"{d} {MONTH_NAMES[m - 1]} {y}",
                 f"{d:02d}.{m:02d}.{y}", f"{y}年{m}月{d}日", f"{y}.{m:02d}.{d:02d}",
                 f"{d:02d}{mon}{y}", f"{mon}-{d:02d}-{y}"]
        s = r.choice(forms)
        if r.random() < 0.25:
            hh, mm, ss = r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)
            s = r.choice([f"{s} {hh:02d}:{mm:02d}", f"{s} {hh:02d}:{mm:02d}:{ss:02d}",
                          f"{y}{m:02d}{d:02d}{hh:02d}{mm:02d}{ss:02d}"])
        return s.upper() if ocr else s

    def age(self) -> str:
        a = self.rng.randint(90, 104)
        return self.rng.choice([f"{a:03d}Y", f"{a} y/o", f"{a}yo", f"{a} years",
                                f"{a}-year-old", f"{a}岁", f"{a}Y"])

    # identifiers -------------------------------------------------------
    def mrn(self) -> str:
        r = self.rng
        n = r.randint(6, 10)
        digits = "".join(r.choice("0123456789") for _ in range(n))
        return r.choice([digits, digits, f"{r.choice(['M', 'MR', 'P', 'H', 'ZY', 'BL'])}{digits}",
                         f"{digits[:3]}-{digits[3:]}"])

    def accession(self) -> str:
        r = self.rng
        d = "".join(r.choice("0123456789") for _ in range(r.randint(6, 9)))
        return r.choice([f"A{d}", f"ACC{d}", f"RAD-{r.randint(2015, 2026)}-{d[:6]}", d,
                         f"CT{d}", f"US{d[:7]}", f"{r.randint(2015, 2026)}{d}"])

    def ssn(self) -> str:
        return self.en.ssn()

    def cn_id(self) -> str:
        return self.zh.ssn()

    def insurance(self) -> str:
        r = self.rng
        base = [r.randint(0, 9) for _ in range(r.choice([15, 17, 18]))]
        base.append(_luhn_digit(base))
        s = "".join(map(str, base))
        return r.choice([s, f"{r.choice(['YB', 'SB', 'H', 'INS'])}{s[:10]}",
                         f"{r.choice(['W', 'XYZ', 'BCB'])}{s[:9]}"])

    def passport(self) -> str:
        r = self.rng
        return r.choice([f"E{r.randint(10**7, 10**8 - 1)}", f"G{r.randint(10**7, 10**8 - 1)}",
                         f"{r.randint(10**8, 10**9 - 1)}"])

    def any_id(self) -> str:
        return self.rng.choice([self.mrn, self.mrn, self.accession, self.ssn, self.cn_id,
                                self.insurance, self.passport])()

    def device(self) -> str:
        r = self.rng
        d = "".join(r.choice("0123456789") for _ in range(r.randint(5, 9)))
        return r.choice([d, f"{r.choice('ABCDEFGHKLMNPRSTUVWXYZ')}{d}", f"{d[:4]}-{d[4:]}",
                         f"SN{d}", f"{r.choice(['US', 'CT', 'MR'])}{d[:5]}{r.choice('ABCDEF')}"])

    # contact -----------------------------------------------------------
    def phone(self, zh: bool = False) -> str:
        r = self.rng
        if zh:
            mob = self.zh.phone_number()
            area = r.choice(["010", "021", "020", "0755", "028", "0571", "025", "027", "0731"])
            line = str(r.randint(2000000, 89999999))
            return r.choice([mob, mob, f"{mob[:3]} {mob[3:7]} {mob[7:]}", f"+86 {mob}",
                             f"{mob[:3]}-{mob[3:7]}-{mob[7:]}", f"{area}-{line}",
                             f"({area}){line}", f"{area} {line}"])
        return r.choice([self.en.phone_number(), f"({r.randint(201, 989)}) {r.randint(200, 999)}-{r.randint(0, 9999):04d}",
                         f"{r.randint(201, 989)}-{r.randint(200, 999)}-{r.randint(0, 9999):04d}"])

    def email(self, zh: bool = False) -> str:
        return (self.zh if zh else self.en).email()

    def url(self) -> str:
        return self.rng.choice([self.en.url(), f"https://{self.en.domain_name()}/patient/{self.rng.randint(1000, 99999)}",
                                f"www.{self.en.domain_name()}"])

    def ip(self) -> str:
        return self.en.ipv4_private() if self.rng.random() < 0.6 else self.en.ipv4_public()

    def address(self, zh: bool = False) -> str:
        r = self.rng
        if zh:
            return r.choice([self.zh.address(), self.zh.street_address(),
                             f"{self.zh.province()}{self.zh.city_name()}市{self.zh.district()}区{self.zh.street_address()}",
                             f"{self.zh.city_name()}市{self.zh.street_address()}"]).replace("\n", " ")
        return r.choice([self.en.address().replace("\n", ", "), self.en.street_address(),
                         f"{self.en.street_address()}, {self.en.city()}, {self.en.state_abbr()} {self.en.zipcode()}",
                         f"{self.en.city()}, {self.en.state_abbr()}"])

    def org(self, zh: bool = False) -> str:
        r = self.rng
        if zh:
            c = self.zh.city_name()
            return r.choice([f"{c}市第{r.choice('一二三四五六七')}人民医院", f"{c}中心医院",
                             f"{self.zh.province()}人民医院", f"{c}大学附属医院",
                             f"{c}市中医院", f"{self.zh.last_name()}氏诊所",
                             f"{c}妇幼保健院", f"{c}{self.zh.district()}区卫生服务中心"])
        c, ln = self.en.city(), self.en.last_name()
        return r.choice([f"{c} General Hospital", f"{ln} Memorial Hospital", f"St. {ln} Medical Center",
                         f"{c} Regional Medical Center", f"{ln} Imaging Center", f"{c} Clinic",
                         f"{ln} Family Practice", f"{c.upper()} RADIOLOGY", f"{ln} Children's Hospital",
                         f"University of {c} Hospital"])


def _luhn_digit(digits: Sequence[int]) -> int:
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


# --------------------------------------------------------------------------- templates
# Slots: {PERSON} {DR} {DATE} {AGE} {MRN} {ACC} {SSN} {CNID} {INS} {PASS} {ID} {DEV}
# {PHONE} {EMAIL} {URL} {IP} {ADDR} {ORG} and unlabelled {CLIN}. {..ZH} variants use zh_CN.
# kind prefix "ocr:" makes an image-annotation sample (upper case, OCR noise).
TRAIN_TEMPLATES: tuple[str, ...] = (
    "Patient {PERSON} seen on {DATE} for {CLIN}.",
    "{PERSON}, MRN {MRN}, {CLIN} {CLIN}",
    "Referred by {DR} for {CLIN} of the {CLIN}.",
    "Comparison: prior {CLIN} dated {DATE}.",
    "History: {AGE} year old with {CLIN}. Contact {PHONE}.",
    "Accession {ACC} - {CLIN} {CLIN}",
    "Study performed at {ORG}, {ADDR}.",
    "Report sent to {EMAIL} on {DATE}",
    "Images available at {URL}",
    "Pt: {PERSON}  DOB: {DATE}  ID: {MRN}",
    "Reading physician {DR}; dictated {DATE}",
    "SSN {SSN} on file. Address {ADDR}.",
    "{CLIN} {CLIN} - {PERSON} - {DATE}",
    "Call {DR} at {PHONE} with results.",
    "Device serial number {DEV}, station {CLIN}",
    "Workstation IP {IP}; {CLIN}",
    "Passport {PASS}, insurance {INS}",
    "Patient is a {AGE} female, {CLIN}, seen at {ORG}.",
    "{CLIN}",
    "{CLIN} {CLIN}",
    "{CLIN}: {CLIN}, {CLIN}.",
    "IMPRESSION: {CLIN}. {CLIN}.",
    "FINDINGS: {CLIN} in the {CLIN}. No {CLIN}.",
    "Protocol {CLIN} {CLIN}",
    "ocr:{PERSON} {DATE} {CLIN} {CLIN}",
    "ocr:{PERSON}  {MRN}",
    "ocr:{ORG} {CLIN} {CLIN}",
    "ocr:MRN {MRN} {CLIN}",
    "ocr:{CLIN} {CLIN} {CLIN}",
    "ocr:{CLIN} {CLIN}",
    "ocr:{CLIN}",
    "ocr:ID:{MRN} {DATE}",
    "ocr:{DATE} {CLIN}",
    "ocr:NAME: {PERSON}",
    "ocr:{PERSON} ACC {ACC}",
    "ocr:SN {DEV} {CLIN}",
    "zh:患者{PERSONZH}，{CLINZH}，{DATE}就诊。",
    "zh:姓名：{PERSONZH} 住院号：{MRN} {CLINZH}",
    "zh:病历号{MRN}，{CLINZH}{CLINZH}",
    "zh:身份证号：{CNID}",
    "zh:联系电话：{PHONEZH}，地址：{ADDRZH}",
    "zh:检查医院：{ORGZH}",
    "zh:{ORGZH}放射科 {DRZH}",
    "zh:医保卡号:{INS} {CLINZH}",
    "zh:{CLINZH}，{CLINZH}。",
    "zh:{CLINZH}{CLINZH}，建议{CLINZH}",
    "zh:检查日期：{DATE}  {CLINZH}",
    "zh:{PERSONZH} 男 {AGE} {CLINZH}",
    "zh:报告医师：{PERSONZH}  审核：{PERSONZH}",
    "zh:手机{PHONEZH}",
    "zh:家住{ADDRZH}，{CLINZH}",
    "zh:{CLINZH} {CLIN} {CLIN}",
    "ocr:{PERSONZH} {MRN} {CLINZH}",
    "ocr:{ORGZH} {DATE}",
    "ocr:{CLINZH} {CLIN}",
    "ocr:{PERSONZH} {DATE}",
    "Patient {PERSONZH} ({PERSON}) ID {CNID}",
    "Contact number {PHONEZH} ({PERSON})",
    "{W} {PERSON} {W} {CLIN}",
    "{W}: {PERSON}",
    "{W} of {PERSON} {W} {DATE}",
    "{W} for {PERSON}, {W}",
    "{W} by {DR} {W}",
    "{W} {ORG} {W}",
    "{W} {PHONE} {W}",
    "{W} {ADDR}; {CLIN}",
    "{W} {MRN} {W}",
    "{W} {W} {CLIN} {W}",
    "{W}. {W} {CLIN}.",
    "{W} {CLIN}, {W} {AGE}",
    "{W} {DATE} {W} {ORG}",
    "ocr:{W} {PERSON} {CLIN}",
    "ocr:{CLIN} {W} {DATE}",
    "zh:{WZH}{PERSONZH}{WZH}",
    "zh:{WZH}{DATE}{WZH}{ORGZH}",
    "zh:{WZH}，{CLINZH}，{WZH}",
    "zh:{WZH}{MRN}，{WZH}{PHONEZH}",
    "zh:{WZH}{ADDRZH}{WZH}",
    "zh:{DRZH}{WZH}",
)

VALID_TEMPLATES: tuple[str, ...] = (
    "{CLIN} for {PERSON}; requested {DATE}.",
    "Clinical note: {PERSON} presents with {CLIN}, {AGE}.",
    "Medical record number: {MRN}. {CLIN}.",
    "Prior exam at {ORG} on {DATE} showed {CLIN}.",
    "Please phone {PHONE} to discuss {CLIN}.",
    "Attending: {DR}. Resident: {DR}.",
    "Home address {ADDR}; {CLIN}",
    "Results emailed to {EMAIL}.",
    "Acc# {ACC} / {CLIN} {CLIN}",
    "Social security {SSN}",
    "Serial {DEV} probe {CLIN}",
    "Viewer link {URL} from host {IP}",
    "{CLIN}, {CLIN}; {CLIN}.",
    "Conclusion: {CLIN}. Recommend {CLIN}.",
    "{CLIN} - {CLIN}",
    "The {CLIN} is {CLIN}.",
    "Exam of {PERSON} dated {DATE} at {ORG}",
    "ocr:{PERSON}   {DATE}   {CLIN}",
    "ocr:{CLIN}  {PERSON}  {MRN}",
    "ocr:PID {MRN}  {CLIN} {CLIN}",
    "ocr:{CLIN} {CLIN} {CLIN} {CLIN}",
    "ocr:{CLIN}  {CLIN}",
    "ocr:{DATE}  {ORG}",
    "ocr:PATIENT {PERSON} {AGE}",
    "ocr:S/N:{DEV}",
    "zh:{CLINZH}，患者{PERSONZH}，{AGE}。",
    "zh:登记号{MRN}，检查号{ACC}",
    "zh:证件号码 {CNID}，电话 {PHONEZH}",
    "zh:于{DATE}在{ORGZH}行{CLINZH}检查",
    "zh:住址{ADDRZH}",
    "zh:{CLINZH}；{CLINZH}；{CLINZH}",
    "zh:主治医生{PERSONZH}，联系方式{PHONEZH}",
    "zh:{CLINZH}，{CLINZH}",
    "ocr:{PERSONZH}  {DATE}  {CLINZH}",
    "ocr:{CLINZH}  {CLIN}  {CLIN}",
    "ocr:住院号 {MRN}  {PERSONZH}",
    "{PERSONZH}, {CLIN}, mobile {PHONEZH}",
)

# Final held-out wording: used only for the reported figures, never for error analysis.
TEST_TEMPLATES: tuple[str, ...] = (
    "Indication: {CLIN}. Ordering provider {DR}, pager {PHONE}.",
    "{PERSON} ({AGE}) underwent {CLIN} on {DATE}.",
    "Outside films from {ORG} reviewed; {CLIN}.",
    "MR# {MRN} | {CLIN} | {DATE}",
    "Technologist note: {CLIN}. Patient {PERSON} tolerated well.",
    "Correspondence: {ADDR}",
    "Reach the family at {PHONE} or {EMAIL}.",
    "Accession number {ACC}, requisition signed by {DR}",
    "SSN: {SSN}; insurance ID {INS}",
    "Uploaded from {IP} to {URL}",
    "Equipment S/N {DEV}; {CLIN} {CLIN}",
    "Compared with {CLIN} from {DATE}: {CLIN}.",
    "Assessment: {CLIN}; {CLIN}.",
    "No {CLIN}. {CLIN} within normal limits.",
    "ocr:{DATE} {PERSON} {CLIN}",
    "ocr:{MRN}  {PERSON}  {CLIN}",
    "ocr:{ORG}  {CLIN}  {CLIN}",
    "ocr:{CLIN}  {CLIN}  {CLIN}",
    "ocr:{PERSON}  {AGE}  {CLIN}",
    "ocr:ACC {ACC}  {DATE}",
    "ocr:{CLIN} {DATE}",
    "zh:{PERSONZH}，{AGE}，因{CLINZH}就诊。",
    "zh:门诊号：{MRN}  {CLINZH}",
    "zh:身份证 {CNID}  手机 {PHONEZH}",
    "zh:送检单位：{ORGZH}  {DATE}",
    "zh:通讯地址：{ADDRZH}",
    "zh:{CLINZH}，{CLINZH}，{CLINZH}。",
    "zh:检查者{PERSONZH}  记录者{PERSONZH}",
    "zh:影像号{ACC}，{CLINZH}",
    "ocr:{PERSONZH}  {AGE}  {CLINZH}",
    "ocr:{DATE}  {PERSONZH}  {MRN}",
    "ocr:{CLINZH}  {CLINZH}  {CLIN}",
    "Chinese patient {PERSONZH}, ID card {CNID}, tel {PHONEZH}",
)

_SLOT = re.compile(r"\{([A-Z]+)\}")


def _make(slot: str, v: Values, ocr: bool) -> list[tuple[str, str | None]]:
    """Segments for one slot (a doctor slot yields an unlabelled title and a name)."""
    zh = slot.endswith("ZH")
    base = slot[:-2] if zh else slot
    r = v.rng
    if base == "CLIN":
        return [(_clin(r, zh), None)]
    if base == "W":
        return [(v.words(zh), None)]
    if base == "SENT":
        return [((v.zh if zh else v.en).sentence(), None)]
    if base == "DR":
        title, name = v.doctor(zh)
        return [(title + ("" if zh else " "), None), (name, "PERSON")]
    maker: dict[str, tuple[Callable[[], str], str]] = {
        "PERSON": (lambda: v.person(zh), "PERSON"), "DATE": (lambda: v.date(ocr), "DATE"),
        "AGE": (v.age, "AGE"), "MRN": (v.mrn, "ID"), "ACC": (v.accession, "ID"),
        "SSN": (v.ssn, "ID"), "CNID": (v.cn_id, "ID"), "INS": (v.insurance, "ID"),
        "PASS": (v.passport, "ID"), "ID": (v.any_id, "ID"), "DEV": (v.device, "DEVICE_ID"),
        "PHONE": (lambda: v.phone(zh), "PHONE"), "EMAIL": (lambda: v.email(zh), "EMAIL"),
        "URL": (v.url, "URL"), "IP": (v.ip, "IP"), "ADDR": (lambda: v.address(zh), "ADDRESS"),
        "ORG": (lambda: v.org(zh), "ORGANIZATION"),
    }
    fn, label = maker[base]
    return [(fn(), label)]


_CONFUSE = {"O": "0", "0": "O", "I": "1", "1": "I", "l": "1", "S": "5", "5": "S", "B": "8",
            "8": "B", "Z": "2", "G": "6"}


def _ocr_noise(seg: str, r: random.Random) -> str:
    """Upper case, confusable characters, dropped and inserted spaces."""
    out = []
    for ch in seg.upper():
        if ch in _CONFUSE and r.random() < 0.03:
            ch = _CONFUSE[ch]
        if ch == " " and r.random() < 0.08:
            continue
        if ch == " " and r.random() < 0.1:
            ch = "  "
        out.append(ch)
        if ch.isalnum() and r.random() < 0.004:
            out.append(" ")
    return "".join(out)


def render(template: str, v: Values) -> Sample:
    """Fill one template and apply the noise of its kind."""
    r = v.rng
    kind, lang = "free", "en"
    if template.startswith("ocr:"):
        kind, template = "ocr", template[4:]
    if template.startswith("zh:"):
        lang, template = "zh", template[3:]
    if "ZH}" in template:
        lang = "zh"
    segs: list[tuple[str, str | None]] = []
    pos = 0
    for m in _SLOT.finditer(template):
        if m.start() > pos:
            segs.append((template[pos:m.start()], None))
        segs.extend(_make(m.group(1), v, kind == "ocr"))
        pos = m.end()
    if pos < len(template):
        segs.append((template[pos:], None))
    if kind == "free" and r.random() < 0.15:  # DICOM descriptions are often all upper case
        segs = [(s.upper(), lab) for s, lab in segs]
    text, spans = [], []
    at = 0
    for s, lab in segs:
        if kind == "ocr":
            s = _ocr_noise(s, r)
        if lab is not None:
            strip_l = len(s) - len(s.lstrip())
            core = s.strip()
            if core:
                spans.append((at + strip_l, at + strip_l + len(core), lab))
        text.append(s)
        at += len(s)
    return Sample("".join(text), tuple(spans), kind, lang)


_FIELD_SLOTS = ("PERSON", "PERSON", "PERSON", "PERSONZH", "PERSONZH", "DATE", "DATE", "MRN", "ACC",
                "CNID", "PHONE", "PHONEZH", "AGE", "ORG", "ORGZH", "DEV", "CLIN", "CLIN", "CLIN",
                "CLIN", "CLINZH", "CLINZH", "W", "W", "WZH", "SENT")
_LABELS = {"MRN": ["MRN", "ID", "PID", "住院号", "病历号", "门诊号", "MR#", "Patient ID", "ID:"],
           "ACC": ["ACC", "Acc#", "Accession", "检查号", "ACC NO"],
           "DATE": ["DOB", "Date", "出生日期", "检查日期", "Study date", "on", "dated", "于"],
           "PERSON": ["Name", "Patient", "姓名", "Dr.", "by", "for", "of", "患者", "Pt"],
           "PERSONZH": ["姓名", "患者", "医师", "Name", "Patient"],
           "PHONE": ["Tel", "Phone", "电话", "手机", "call"], "PHONEZH": ["电话", "手机", "联系电话", "Tel"],
           "DEV": ["SN", "S/N", "Serial", "序列号"], "CNID": ["身份证号", "ID", "证件号码"]}


def _fields(v: Values) -> str:
    """A template-free line: 2-6 random fields in random order, some with label words, so
    the model learns what a name or ID looks like rather than where templates put it."""
    r = v.rng
    n = r.randint(2, 6)
    parts = []
    for _ in range(n):
        slot = r.choice(_FIELD_SLOTS)
        lab = _LABELS.get(slot)
        pre = (r.choice(lab) + r.choice([" ", ": ", "：", "", " "])) if lab and r.random() < 0.4 else ""
        parts.append(pre.replace("{", "").replace("}", "") + "{" + slot + "}")
    seps = [" ", "  ", "   ", ", ", "; ", ". ", " / ", "，", " - "]
    text = parts[0]
    for p in parts[1:]:
        text += r.choice(seps) + p
    return ("ocr:" if r.random() < 0.5 else "") + text


SEEDS = {"train": 1729, "dev": 4242, "test": 90210}


def generate(split: Split, n: int, seed: int | None = None) -> list[Sample]:
    """*n* samples of *split*: train uses TRAIN_TEMPLATES, dev VALID_TEMPLATES, test
    TEST_TEMPLATES; the three sets share no template."""
    seed = SEEDS[split] if seed is None else seed
    v = Values(seed)
    templates = {"train": TRAIN_TEMPLATES, "dev": VALID_TEMPLATES, "test": TEST_TEMPLATES}[split]
    out = []
    for _ in range(n):
        if split == "train" and v.rng.random() < 0.4:
            sample = render(_fields(v), v)
        else:
            sample = render(v.rng.choice(templates), v)
        if v.rng.random() < 0.2:  # reports run sentences together
            sample = _join(sample, render(v.rng.choice(templates), v), v.rng)
        out.append(sample)
    return out


def _join(a: Sample, b: Sample, r: random.Random) -> Sample:
    sep = r.choice([" ", "  ", ". ", "; ", "，", " / ", "\n"])
    off = len(a.text) + len(sep)
    spans = a.spans + tuple((s + off, e + off, lab) for s, e, lab in b.spans)
    kind = "ocr" if "ocr" in (a.kind, b.kind) else "free"
    lang = "zh" if "zh" in (a.lang, b.lang) else "en"
    return Sample(a.text + sep + b.text, spans, kind, lang)


def iter_texts(samples: Sequence[Sample]) -> Iterator[str]:
    return (s.text for s in samples)
