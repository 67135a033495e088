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

import datetime
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterator, Literal, Sequence

from faker import Faker
from faker.providers.ssn.zh_CN import Provider as _ZhSsn

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
            *FINDINGS_ZH, *medical_vocabulary(), *SCREEN_PRESETS, *SCREEN_MODES, *SCREEN_X,
            *SCREEN_ZH, *SCREEN_ABBR, *SCREEN_MEAS)


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


# --------------------------------------------------------------------------- screen text (train only)
# What ultrasound, X-ray, CT and MR consoles print on the image: settings, presets, probes,
# measurement labels. Drawn only when the train split is generated (Values.aug), so the dev
# and test texts stay exactly what they were; composed from parts, so the model learns the
# shape (short abbreviation + value) rather than a list.
SCREEN_ABBR = ["Map", "MAP", "Gn", "GN", "G", "Gain", "GAIN", "DR", "Dyn", "DYN R", "dB", "FR", "Fr",
               "P", "Pwr", "PWR", "AO", "Frq", "FRQ", "F", "D", "Dep", "PRF", "WF", "SV", "Ang",
               "Steer", "STEER", "Scale", "Persist", "PERS", "Edge", "EDGE", "Focus", "Zoom", "Smooth",
               "Rej", "Enh", "TGC", "Dens", "CF", "PW", "CW", "PD", "PDI", "THI", "SRI", "CRI", "HD",
               "TDI", "Comp", "Cine", "Loop", "Spd", "Sweep", "Filt", "Wall", "BL", "Base", "Vel",
               "Gate", "Flow", "Opt", "Sens", "Sat", "Ch", "Pr", "Freq", "Q", "AGC", "AP", "Acq",
               "Tint", "Rng", "Av", "Img", "Harm", "Pen", "Gen", "Res", "Line", "Lat", "Pers", "Sm",
               "Thk", "Spc", "Tilt", "Se", "Im", "Ex", "ET", "EC", "Mag", "DFOV", "EI", "DI", "S",
               "LgM", "EXI", "REX", "SID", "DAP", "ESD", "mA", "ms", "kV", "W", "L", "C", "Win", "Lev"]
SCREEN_VALUES = ["G", "C", "H", "M", "L", "A", "B", "D", "F", "V", "Hi", "Med", "Lo", "On", "Off",
                 "Auto", "Max", "Min", "Low", "High", "Std", "Pen", "Res", "Gen", "1/2", "2/3", "F/1"]
SCREEN_UNITS = ["", "", "dB", "Hz", "kHz", "MHz", "cm", "mm", "%", "cm/s", "m/s", "fps", "deg",
                "mGy", "s", "ms", "kV", "mA", "g", "bpm", "ml"]
SCREEN_MODES = ["2D", "B", "M", "B/M", "CF", "CFM", "PW", "CW", "PD", "PDI", "THI", "TDI", "Color",
                "Power", "Doppler", "Elasto", "SWE", "CEUS", "Contrast", "Dual", "Quad", "Live",
                "Frz", "Freeze", "Cine", "Biopsy", "Panoramic", "3D", "4D", "HD", "XBeam", "SonoCT",
                "XRES", "iScan", "Compound", "Harmonic", "Speckle", "Trapezoid", "Steer", "Auto Opt",
                "HPen", "HRes", "HGen", "Pen", "Res", "Gen", "Norm", "Zoom", "Split", "Duplex",
                "Triplex", "TVI", "AMM", "Strain", "Flow", "Store", "Print", "Meas", "Calc"]
SCREEN_PRESETS = ["Obstetric", "Obstetrics", "OB", "OB1", "OB 1", "OB 2/3", "OB/GYN", "Early OB",
                  "Gyn", "GYN", "Gynecology", "Abd", "ABD", "Abdomen", "Abd Gen", "Abd Pen",
                  "Abdominal", "Renal", "Kidney", "Liver", "Aorta", "Bladder", "Prostate",
                  "Testicle", "Scrotal", "Thyroid", "Breast", "Small Parts", "SmP", "SMP", "MSK",
                  "Nerve", "Vascular", "Vasc", "VASC", "Carotid", "Venous", "Arterial", "LE Venous",
                  "UE Arterial", "Cardiac", "Card", "CARD", "Adult Echo", "Ped Echo", "Fetal Heart",
                  "Fetal", "Neonatal", "Neo Head", "TCD", "Pelvic", "Pelvis", "TV", "TA", "Endocavity",
                  "EV", "Lung", "FAST", "Pediatric", "Ped Abd", "Superficial", "Penile",
                  "Transcranial", "Musculoskeletal", "Thy", "Brst", "Bowel", "Appendix", "Hip",
                  "Shoulder", "Vessel", "DVT", "Renal Art", "Portal", "Urology", "Uro", "Cardio"]
SCREEN_MEAS = ["CRL", "BPD", "HC", "AC", "FL", "HL", "EFW", "GA", "AFI", "FHR", "NT", "OFD", "TCD",
               "CM", "MVP", "EDD", "LMP", "CI", "Vel", "RI", "PI", "S/D", "PSV", "EDV", "TAMAX",
               "TAMEAN", "VTI", "HR", "Dist", "D", "Vol", "Area", "Circ", "Angle", "Depth", "Ratio",
               "SD", "Mean", "Max", "Min", "ROI", "Len", "Diam", "Thick", "Acc", "AT", "Grad", "PG"]
SCREEN_X = ["AP", "PA", "LAT", "ERECT", "SUPINE", "PRONE", "DECUB", "OBL", "PORTABLE", "AEC",
            "Grid", "No Grid", "Marker", "R", "L", "LT", "RT", "STND", "BONE", "BONE+", "SOFT",
            "LUNG", "DETAIL", "CHEST", "STANDARD", "SHARP", "SMOOTH", "H", "F", "A", "S", "I"]
SCREEN_ZH = ["增益", "动态范围", "帧频", "帧率", "深度", "频率", "彩色增益", "脉冲重复频率", "取样容积",
             "取样门", "角度", "声功率", "输出功率", "聚焦", "焦点", "放大", "余辉", "平滑", "边缘增强",
             "扫描线密度", "线密度", "壁滤波", "基线", "速度标尺", "灰阶图", "伪彩", "谐波成像",
             "组织谐波成像", "空间复合成像", "复合成像", "斑点抑制", "图像优化", "自动优化", "宽景成像",
             "弹性成像", "造影模式", "穿刺引导", "双幅", "四幅", "冻结", "解冻", "测量", "注释",
             "体位标记", "探头", "预设", "检查模式", "心脏模式", "产科模式", "妇科模式", "腹部模式",
             "血管模式", "小器官", "浅表", "肌骨", "泌尿", "经颅", "胎儿心脏", "胎心", "双顶径", "头围",
             "腹围", "股骨长", "肱骨长", "羊水", "羊水深度", "孕周", "预产期", "胎儿体重", "血流",
             "阻力指数", "搏动指数", "收缩期峰值流速", "舒张末期流速", "心率", "管电压", "管电流",
             "曝光量", "曝光时间", "窗宽", "窗位", "层厚", "层间距", "螺距", "重建核", "骨窗", "肺窗",
             "纵隔窗", "软组织窗", "剂量", "仰卧", "俯卧", "站立", "左侧卧位", "右侧卧位", "正位", "侧位",
             "斜位", "凸阵", "线阵", "相控阵", "腔内", "经腹", "经阴道", "经直肠", "容积", "面积", "距离",
             "周长", "角度测量", "流速", "压差", "时间", "图像", "电影", "存储", "打印", "报告", "病例",
             "灰阶", "彩色", "能量", "频谱", "脉冲波", "连续波", "组织多普勒", "M型", "B型", "二维"]
_ZH_UNITS = ["", "", "cm", "mm", "Hz", "MHz", "kHz", "dB", "%", "cm/s", "kV", "mA", "次/分", "周", "天",
             "g", "ml", "级", "档"]


def _num(r: random.Random) -> str:
    return r.choice([str(r.randint(0, 9)), str(r.randint(10, 99)), str(r.randint(100, 999)),
                     f"{r.uniform(0, 20):.1f}", f"{r.uniform(0, 3):.2f}", f"-{r.randint(1, 30)}",
                     f"{r.randint(1, 9)}/{r.randint(1, 9)}", f"{r.randint(1, 40)}w{r.randint(0, 6)}d"])


def _probe(r: random.Random) -> str:
    a, b = sorted((r.randint(1, 18), r.randint(1, 18)))
    return r.choice([f"{r.choice('CLSVXEPM')}{b}-{a}", f"{r.choice('CLSVXEPM')}{b}-{a}{r.choice(['', 'v', 'io', 'ec', 'D', '-D', 'A', 'HD'])}",
                     f"{b}{r.choice('LCSV')}{r.choice(['', str(a), '-D', '-RS'])}",
                     f"{r.choice(['ML', 'CL', 'LA', 'SP', 'EC', 'VF'])}{a}-{b}", f"{r.choice('CLSV')}{a}-{b}-D"])


def _screen(r: random.Random, zh: bool = False) -> str:
    """One piece of on-screen device text (train only)."""
    if zh and r.random() < 0.7:
        w = r.choice(SCREEN_ZH)
        c = r.random()
        if c < 0.4:
            return w
        if c < 0.85:
            return f"{w}{r.choice([' ', '', ': ', '：'])}{_num(r)}{r.choice(_ZH_UNITS)}"
        return w + r.choice(SCREEN_ZH)
    c = r.random()
    if c < 0.35:
        abbr = r.choice(SCREEN_ABBR)
        val = r.choice(SCREEN_VALUES) if r.random() < 0.25 else _num(r) + r.choice(SCREEN_UNITS)
        return f"{abbr}{r.choice([' ', ' ', '', ': ', '=', '  '])}{val}"
    if c < 0.5:
        return r.choice(SCREEN_PRESETS)
    if c < 0.6:
        return _probe(r)
    if c < 0.72:
        return r.choice(SCREEN_MODES) + (f" {r.choice(SCREEN_ABBR)} {_num(r)}" if r.random() < 0.3 else "")
    if c < 0.87:
        return f"{r.choice(SCREEN_MEAS)}{r.choice([' ', '', ': ', '='])}{_num(r)}{r.choice(SCREEN_UNITS)}"
    return " ".join(r.choice(SCREEN_X) for _ in range(r.randint(1, 2)))


def _clin_train(r: random.Random, zh: bool = False) -> str:
    """Training filler: the shared clinical filler plus on-screen device text."""
    c = r.random()
    if c < 0.25:
        return _screen(r, zh)
    if c < 0.45 and not zh:  # open clinical vocabulary, often one upper-case word alone
        m = r.choice(medical_vocabulary())
        return m.upper() if r.random() < 0.6 else m
    return _clin(r, zh)


# --------------------------------------------------------------------------- value makers
class Values:
    """PHI value generators: each returns the surface string of one entity."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.aug = False  # train split only: richer names, screen text, glued OCR (see generate)
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

    def person_train(self, zh: bool = False) -> str:
        """Training names: the shared forms plus shapes consoles and reports produce
        (LAST FIRST M, DICOM PN with empty components, hyphenated names)."""
        r = self.rng
        if (zh and r.random() < 0.75) or r.random() < 0.7:
            return self.person(zh)
        if zh:
            fam, giv = self.zh.last_romanized_name(), self.zh.first_romanized_name()
        else:
            fam, giv = self.en.last_name(), self.en.first_name()
        mid = self.en.first_name()
        form = r.randrange(1, 8)
        if form == 1:
            s = f"{fam} {giv}"
        elif form == 2:
            s = f"{fam} {giv} {mid[0]}"
        elif form == 3:
            s = f"{fam}^{giv}^{r.choice([mid, mid[0], ''])}^^"
        elif form == 4:
            s = f"{fam}-{self.en.last_name()}, {giv}"
        elif form == 5:
            s = f"{giv} {mid} {fam}"
        elif form == 6:
            s = f"{fam},{giv}"
        else:
            s = f"{fam}^{giv[0]}"
        return s.upper() if r.random() < 0.6 else s

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
        """An 18-digit resident ID as Faker's zh_CN ``ssn()`` makes it (the same draws), but
        with birth dates counted back from a fixed day instead of today, so that every
        split is the same whenever it is generated."""
        z = self.zh
        age = datetime.timedelta(days=z.random_int(18 * 365, 90 * 365))
        born = (_CN_ID_REFERENCE_DAY - age).strftime("%Y%m%d")
        body = z.numerify(z.random_element(_ZhSsn.area_codes) + born + "##")
        body += z.random.choice("0123456789")
        return body + str((1 - 2 * int(body, 13)) % 11).replace("10", "X")

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


# The day the shipped tagger's data was generated (weights/MANIFEST.json, ner/phi-tagger).
_CN_ID_REFERENCE_DAY = datetime.date(2026, 11, 26)


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
    # names in more positions and after more labels (wording of their own, not the dev/test sets)
    "{PERSON} was scanned for {CLIN}.",
    "Study of {PERSON}: {CLIN}, {CLIN}.",
    "Images of {PERSON} reviewed with {DR}.",
    "Seen today: {PERSON}, {CLIN}.",
    "{DATE}: {PERSON} returned for {CLIN}.",
    "Note for {PERSON} - {CLIN}",
    "{PERSON} states {CLIN} since {DATE}.",
    "Discussed with {PERSON} at {PHONE}.",
    "Spoke to {PERSON} regarding {CLIN}.",
    "{ORG} / {PERSON} / {CLIN}",
    "{CLIN} in {PERSON}, {AGE}, {CLIN}.",
    "Mr. {PERSON} and Mrs. {PERSON} were informed.",
    "Ms {PERSON} declined {CLIN}.",
    "PATIENT NAME: {PERSON}  SEX: F  {CLIN}",
    "Patient's Name {PERSON} Patient ID {MRN}",
    "Pat.Name:{PERSON} DOB:{DATE}",
    "ocr:PATIENT:{PERSON} {AGE}",
    "ocr:NAME:{PERSON} ID:{MRN}",
    "ocr:Pt{PERSON} {CLIN}",
    "ocr:PT NAME {PERSON}  {DATE}",
    "ocr:{PERSON} {AGE} {DATE}",
    "ocr:{CLIN} {CLIN} {PERSON} {ACC}",
    "ocr:{MRN} {DATE} {PERSON}",
    "ocr:{PERSON} {CLIN} {CLIN} {CLIN}",
    "ocr:{W} {W} {PERSON} {MRN}",
    "ocr:{CLIN} {CLIN} {CLIN} {CLIN} {CLIN}",
    "ocr:{CLIN}   {CLIN}",
    "ocr:{CLIN}",
    "{CLIN}",
    "zh:受检者：{PERSONZH} {CLINZH}",
    "zh:病人{PERSONZH}{AGE}，{CLINZH}",
    "zh:{CLINZH} {PERSONZH} {MRN}",
    "zh:{CLINZH} {CLINZH} {CLINZH}",
    "ocr:{CLINZH} {CLINZH} {CLINZH}",
    "ocr:{PERSONZH}{AGE}",
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
        return [((_clin_train if v.aug else _clin)(r, zh), None)]
    if base == "PERSON" and v.aug:
        return [(v.person_train(zh), "PERSON")]
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


def _glue_and_split(segs: list[tuple[str, str | None]], r: random.Random) -> list[tuple[str, str | None]]:
    """Training-only OCR damage around names: the space between a label and the name after
    it dropped (``NAME:DOE^JOHN``, ``PATIENTLAURA HUGHES``). Only label text is glued: gluing
    a name to clinical words or splitting it makes new tokens that teach the model that any
    unknown word may be a name (measured: more clinical words flagged on the dev split)."""
    out = list(segs)
    for i, (text, lab) in enumerate(out):
        if lab != "PERSON" or i == 0:
            continue
        t, lb = out[i - 1]
        if lb is None and (t.rstrip()[-1:].isalpha() or t.rstrip().endswith(":")) and r.random() < 0.1:
            out[i - 1] = (t.rstrip(), lb)
    return out


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
    if kind == "ocr" and v.aug:
        segs = _glue_and_split(segs, r)
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
           "PERSON": ["Name", "Patient", "姓名", "Dr.", "by", "for", "of", "患者", "Pt", "NAME", "PATIENT",
                      "Patient Name", "PATIENT NAME", "Pat Name", "PAT NAME", "PT NAME", "Pt.", "PT",
                      "Pat", "Patient's Name", "Nm", "病人", "受检者", "Referring", "Operator", "Ref Phys"],
           "PERSONZH": ["姓名", "患者", "医师", "Name", "Patient", "病人", "受检者", "NAME", "姓名:"],
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
        pre = (r.choice(lab) + r.choice([" ", ": ", "：", "", " ", ":", "  "])) if lab and r.random() < 0.45 else ""
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
    v.aug = split == "train"
    out = []
    for _ in range(n):
        if split == "train" and v.rng.random() < 0.45:
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
