"""Synthetic images with burned-in text, for training and measuring the pixel detector.

Real annotated burned-in PHI cannot leave a hospital, so the detector learns from images
drawn here: CT/MR-like slices, ultrasound sectors with speckle, colour Doppler, X-ray
gradients and screen captures with tables, with text in many fonts, sizes (8-28 px),
colours, with and without anti-aliasing, at borders and corners, rotated 90 degrees on
the side edges and over the anatomy. Every text item is returned with its tight box, its
text and whether it is PHI, and the sample's identity values, so the same generator
serves detector training, the PHI-box recall measure and the quarantine calibration.

Font families are split: ``TRAIN_FAMILIES`` are used for training, ``HELDOUT_FAMILIES``
only for the held-out set, and the held-out set also uses layouts training never saw.
"""
from __future__ import annotations

import glob
import os
import random
import string
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from deid_node.phi.patterns import cn_resident_check

FONT_DIRS = ("/usr/share/fonts",)
# family name → glob patterns (relative to /usr/share/fonts)
TRAIN_FAMILIES: dict[str, tuple[str, ...]] = {
    "dejavu": ("truetype/dejavu/DejaVuSans*.ttf", "truetype/dejavu/DejaVuSerif*.ttf"),
    "liberation": ("truetype/liberation/Liberation*.ttf",),
    "nimbus": ("opentype/urw-base35/Nimbus*.otf", "opentype/urw-base35/URWGothic*.otf"),
    "terminus": ("opentype/terminus/terminus-*.otb",),
    "inconsolata": ("truetype/inconsolata/Inconsolata.otf",),
}
HELDOUT_FAMILIES: dict[str, tuple[str, ...]] = {
    "freefont": ("truetype/freefont/Free*.ttf",),
    "opensans": ("truetype/open-sans/OpenSans-*.ttf",),
    "carlito": ("truetype/crosextra/Carlito-*.ttf",),
    "noto-mono": ("truetype/noto/Noto*Mono*.ttf",),
    "roboto": ("truetype/roboto/unhinted/RobotoTTF/Roboto-*.ttf",
               "truetype/roboto/unhinted/RobotoCondensed-*.ttf"),
    "urw-serif": ("opentype/urw-base35/C059-*.otf", "opentype/urw-base35/P052-*.otf"),
}
# Extra training variety (``variety=2``, used by the detector fine-tune): one more family on
# disk that neither split uses, and a stacked-column layout (lines one under the other at
# any x; not the held-out footer band or two columns).
TRAIN_EXTRA_FAMILIES: dict[str, tuple[str, ...]] = {
    "urw-bookman": ("opentype/urw-base35/URWBookman-*.otf",),
}
# CJK screens (``locale`` zh, ja, ko): one CJK family to train on, two others held out (a
# sans and a Ming/serif face; the Ming face has no Hangul); each also draws the Latin
# letters and digits of its lines.
CJK_TRAIN_FAMILIES: dict[str, tuple[str, ...]] = {
    "wqy-microhei": ("truetype/wqy/wqy-microhei.ttc",),
}
CJK_HELDOUT_FAMILIES: dict[str, tuple[str, ...]] = {
    "wqy-zenhei": ("truetype/wqy/wqy-zenhei.ttc",),
    "arphic-uming": ("truetype/arphic/uming.ttc",),
}
# Hebrew and Arabic screens (``locale`` he, ar; laid out right to left by Pillow's raqm
# engine), per script: fonts to train on, fonts held out (GNU FreeFont; FreeSerif alone for
# Arabic: FreeSans has no Arabic letters). Each also draws the Latin of its lines.
RTL_FAMILIES: dict[str, tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]] = {
    "he": ({"dejavu-sans": ("truetype/dejavu/DejaVuSans.ttf", "truetype/dejavu/DejaVuSans-Bold.ttf"),
            "culmus": ("truetype/culmus/DavidCLM-*.otf", "truetype/culmus/FrankRuehlCLM-*.ttf",
                       "truetype/culmus/HadasimCLM-*.ttf", "truetype/culmus/NachlieliCLM-*.otf",
                       "truetype/culmus/SimpleCLM-*.ttf", "truetype/culmus/MiriamMonoCLM-*.ttf")},
           {"freesans": ("truetype/freefont/FreeSans.ttf", "truetype/freefont/FreeSansBold.ttf"),
            "freeserif": ("truetype/freefont/FreeSerif.ttf", "truetype/freefont/FreeSerifBold.ttf")}),
    "ar": ({"dejavu-sans": ("truetype/dejavu/DejaVuSans.ttf", "truetype/dejavu/DejaVuSans-Bold.ttf"),
            "amiri": ("opentype/fonts-hosny-amiri/Amiri-Regular.ttf",
                      "opentype/fonts-hosny-amiri/Amiri-Bold.ttf",
                      "opentype/fonts-hosny-amiri/Amiri-Slanted.ttf",
                      "opentype/fonts-hosny-amiri/Amiri-BoldSlanted.ttf")},
           {"freeserif": ("truetype/freefont/FreeSerif.ttf", "truetype/freefont/FreeSerifBold.ttf")}),
}
LOCALES = ("en", "zh", "ja", "ko", "he", "ar")
TRAIN_LAYOUTS = ("corners", "header", "side", "scatter")
TRAIN_LAYOUTS_V2 = TRAIN_LAYOUTS + ("stack",)
HELDOUT_LAYOUTS = ("corners", "header", "side", "scatter", "footer_band", "two_column")
BACKGROUNDS = ("ct", "mr", "us", "doppler", "xray", "screen", "black")
SPECKLE_BACKGROUNDS = ("us", "doppler", "echo")


class FontsMissing(RuntimeError):
    """The Debian font packages listed in .ci/apt-packages.txt are not installed."""


@lru_cache(maxsize=8)
def font_files(split: str, variety: int = 1, locale: str = "en") -> tuple[str, ...]:
    if locale in RTL_FAMILIES:
        fams = RTL_FAMILIES[locale][0 if split == "train" else 1]
    elif locale != "en":
        fams = CJK_TRAIN_FAMILIES if split == "train" else CJK_HELDOUT_FAMILIES
        if locale == "ko" and split != "train":
            fams = {"wqy-zenhei": CJK_HELDOUT_FAMILIES["wqy-zenhei"]}  # AR PL UMing has no Hangul
    else:
        fams = TRAIN_FAMILIES if split == "train" else HELDOUT_FAMILIES
    if locale == "en" and split == "train" and variety >= 2:
        fams = {**TRAIN_FAMILIES, **TRAIN_EXTRA_FAMILIES}
    files: list[str] = []
    for patterns in fams.values():
        for pat in patterns:
            for root in FONT_DIRS:
                files.extend(sorted(glob.glob(os.path.join(root, pat))))
    files = [f for f in files if "Math" not in f and "ExtraLight" not in f and "Thin" not in f]
    if not files:
        raise FontsMissing(f"no {split} fonts ({locale}) found under {FONT_DIRS}; install the "
                           "font packages listed in .ci/apt-packages.txt (apt-get install -y ...)")
    return tuple(files)


@lru_cache(maxsize=2048)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(path, size)
    except OSError:
        # bitmap (OTB) fonts only come in their strike sizes; take the nearest one.
        for s in (size, 12, 14, 16, 18, 20, 22, 24, 28, 32):
            try:
                return ImageFont.truetype(path, s)
            except OSError:
                continue
        return ImageFont.load_default()


# ----------------------------------------------------------------------------- text content
_FIRST = ["JOHN", "MARY", "Ahmed", "Li", "Sofia", "Olusegun", "Keiko", "Pierre", "Anna", "Raj",
          "Maria", "James", "Fatima", "Chen", "Ivan", "Elena", "Carlos", "Grace", "Tom", "Yuki"]
_LAST = ["DOE", "SMITH", "Garcia", "Nguyen", "Okafor", "Tanaka", "Dubois", "Kowalski", "Patel",
         "O'Brien", "Müller", "Johansson", "Rossi", "Haddad", "Kim", "Fischer", "Lopez", "Brown",
         "Van der Berg", "Novak"]
_INST = ["St. Mary's Hospital", "General Hospital", "University Medical Center", "City Clinic",
         "Mercy Imaging", "Riverside Radiology", "Royal Infirmary", "Children's Hospital",
         "Klinikum Nord", "Hopital Saint-Louis", "Valley Health", "Lakeside Women's Center"]
_NONPHI = ["TIS 0.3", "TIB 0.8", "MI 1.2", "Gain 45 dB", "DR 60", "FR 25 Hz", "C5-1", "L12-5",
           "Depth 14 cm", "5 cm", "ABD", "LIVER", "R", "L", "AP", "PA", "LAT", "kVp 80",
           "mAs 12", "W 400 L 40", "Zoom 1.5", "PW", "CF", "2D", "THI", "Frq 3.5 MHz", "Map G",
           "ECG", "HR 72 bpm", "Vel 45 cm/s", "PRF 4.0 kHz", "WF 100 Hz", "Gn 62", "C 40",
           "Res", "Pen", "Gen", "RT KIDNEY", "LT BREAST", "Axial", "Sag", "Cor", "Ph 0",
           "SL 5.0", "FOV 350", "TR 500 TE 15", "RA", "LA", "mm", "cm/s", "-40", "+40", "12",
           "0.5", "x1.2", "Frame 34/120", "Store", "B", "M", "Thyroid", "Obstetric", "1/2",
           "75%", "P 100%", "Rot 0", "E", "AUTO", "MHz 7.5", "dB 60", "Persist Med"]
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def _date_formats(rng: random.Random, y: int, m: int, d: int) -> str:
    fmt = rng.randrange(8)
    if fmt == 0:
        return f"{y:04d}-{m:02d}-{d:02d}"
    if fmt == 1:
        return f"{d:02d}/{m:02d}/{y:04d}"
    if fmt == 2:
        return f"{m:02d}/{d:02d}/{y:04d}"
    if fmt == 3:
        return f"{d:02d}.{m:02d}.{y:04d}"
    if fmt == 4:
        return f"{y:04d}{m:02d}{d:02d}"
    if fmt == 5:
        return f"{d:02d}-{_MONTHS[m - 1].title()}-{y:04d}"
    if fmt == 6:
        return f"{d:02d} {_MONTHS[m - 1]} {y % 100:02d}"
    return f"{y:04d}/{m:02d}/{d:02d}"


@dataclass
class SampleIdentity:
    """The identifying values drawn into one synthetic image (for the deny-list check)."""

    names: list[str] = field(default_factory=list)
    name_parts: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    birth_dates: list[str] = field(default_factory=list)
    event_dates: list[str] = field(default_factory=list)
    institutions: list[str] = field(default_factory=list)

    def to_identity(self) -> Any:
        from deid_node.identity import Identity
        return Identity(tuple(self.names), tuple(self.name_parts), tuple(self.ids),
                        tuple(self.birth_dates), tuple(self.event_dates), (), (),
                        tuple(self.institutions))


def _make_identity(rng: random.Random) -> tuple[SampleIdentity, dict[str, str]]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    pid = "".join(rng.choice(string.digits) for _ in range(rng.randint(6, 10)))
    if rng.random() < 0.3:
        pid = rng.choice(string.ascii_uppercase) + pid
    acc = "".join(rng.choice(string.digits) for _ in range(rng.randint(8, 12)))
    by, bm, bd = rng.randint(1930, 2020), rng.randint(1, 12), rng.randint(1, 28)
    sy, sm, sd = rng.randint(2005, 2026), rng.randint(1, 12), rng.randint(1, 28)
    inst = rng.choice(_INST)
    ident = SampleIdentity([f"{last}^{first}"], [last, first], [pid, acc],
                           [f"{by:04d}{bm:02d}{bd:02d}"], [f"{sy:04d}{sm:02d}{sd:02d}"], [inst])
    case = rng.random()
    name = (f"{last}^{first}" if case < 0.3 else f"{last}, {first}" if case < 0.6
            else f"{first} {last}")
    if rng.random() < 0.5:
        name = name.upper()
    values = {
        "name": name,
        "name_lbl": rng.choice(["Name: ", "Patient: ", "Pt: ", "NAME ", ""]) + name,
        "id": rng.choice(["ID: ", "MRN ", "PID:", "ID ", ""]) + pid,
        "acc": rng.choice(["Acc: ", "ACC#", "Accession "]) + acc,
        "dob": rng.choice(["DOB: ", "Birth ", "DOB "]) + _date_formats(rng, by, bm, bd),
        "date": _date_formats(rng, sy, sm, sd)
        + (f" {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
           if rng.random() < 0.5 else ""),
        "inst": inst if rng.random() < 0.7 else inst.upper(),
        "doctor": rng.choice(["Dr. ", "Ref: Dr ", "Operator: "]) + rng.choice(_LAST),
    }
    return ident, values


def _nonphi(rng: random.Random, variety: int = 1) -> str:
    t = rng.choice(_NONPHI)
    if rng.random() < 0.3:
        t = f"{t} {rng.choice(_NONPHI)}"
        if variety >= 2 and rng.random() < 0.3:  # long settings lines
            t = f"{t} {rng.choice(_NONPHI)}"
    return t


# Screens in other scripts as scanners and PACS burn them in: a name after a label, a
# national ID, a phone, record numbers, dates in the country's formats, hospital names;
# settings in the language and in English. Chinese: Han names of 2-3 characters, 18-digit
# resident IDs (valid check digit). Japanese: names in katakana (as Japanese modalities
# show the patient's name) or kanji. Korean: Hangul names, resident registration numbers.
# Hebrew: Israeli identity numbers (valid check digit). Arabic: Egyptian national IDs.
@dataclass(frozen=True)
class _Screen:
    surnames: Sequence[str]
    given: Sequence[str]
    given_counts: tuple[int, ...]     # given-name pieces, drawn from `given`
    joiner: str                       # between surname and given name
    name_labels: tuple[str, ...]
    id_labels: tuple[str, ...]
    national_labels: tuple[str, ...]
    phone_labels: tuple[str, ...]
    dob_labels: tuple[str, ...]
    date_labels: tuple[str, ...]
    doctor_labels: tuple[str, ...]
    date_formats: tuple[str, ...]     # str.format patterns of y, m, d
    institutions: tuple[str, ...]
    settings: tuple[str, ...]
    national_id: Callable[[random.Random, int, int, int], str]
    mobile: Callable[[random.Random], str]
    spaced_mobile: bool               # also printed as "138 1234 5678" (half the time)
    doctor_joiner: str = ""           # between a doctor's surname and given name


def _cn_resident_id(rng: random.Random, y: int, m: int, d: int) -> str:
    """18 digits: region, birth date, sequence and the ISO 7064 MOD 11-2 check character."""
    body = (f"{rng.choice(['11', '31', '44', '51', '33', '42', '32', '37'])}{rng.randint(1, 99):02d}"
            f"{rng.randint(1, 99):02d}{y:04d}{m:02d}{d:02d}{rng.randint(0, 999):03d}")
    return body + cn_resident_check(body)


def _kr_resident_number(rng: random.Random, y: int, m: int, d: int) -> str:
    """YYMMDD-SNNNNNN (S: sex and century digit)."""
    s = rng.choice("12" if y < 2000 else "34")
    return f"{y % 100:02d}{m:02d}{d:02d}-{s}{rng.randint(0, 999999):06d}"


def _jp_insurance_number(rng: random.Random, y: int, m: int, d: int) -> str:
    return f"{rng.randint(1, 99):02d}{rng.randint(0, 999999):06d}"


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _cn_mobile(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + _digits(rng, 9)


def _il_identity_number(rng: random.Random, y: int, m: int, d: int) -> str:
    """Israeli identity number: 8 digits and a check digit (weights 1, 2; digits of each
    product summed)."""
    body = _digits(rng, 8)
    total = sum(sum(divmod(int(ch) * (1 + i % 2), 10)) for i, ch in enumerate(body))
    return body + str(-total % 10)


def _eg_national_id(rng: random.Random, y: int, m: int, d: int) -> str:
    """Egyptian national ID: century digit, birth date, governorate, sequence, check: 14."""
    return (f"{2 if y < 2000 else 3}{y % 100:02d}{m:02d}{d:02d}{rng.randint(1, 35):02d}"
            f"{_digits(rng, 4)}{rng.randint(1, 9)}")


def _il_mobile(rng: random.Random) -> str:
    return f"05{rng.choice('0234578')}-{_digits(rng, 7)}"


def _ar_mobile(rng: random.Random) -> str:
    return "01" + rng.choice("0125") + _digits(rng, 8)


def _jp_kr_mobile(rng: random.Random) -> str:
    return f"0{rng.choice(['10', '90', '80', '70'])}-{_digits(rng, 4)}-{_digits(rng, 4)}"


_SCREENS: dict[str, _Screen] = {
    "zh": _Screen(
        surnames="王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱覃武戴孔汤庞樊兰殷施陶洪翟安颜倪严牛温芦季俞章鲁葛伍申尤毕聂柴焦向柳邢岳齐沿梅莫庄辛管祝左涂谷祁时舒耿牟卜路詹关苗凌费纪靳盛童欧甄项曲成游阳裴席卫查屈鲍位覃霍翁隋植甘景薄单包司柏宁柯阮桂闵欧阳解强丛华车冉房边辜吉饶刁瞿戚丘古米池滕晋苑邬臧畅宫来嵺苟全褚廉简娄盖符奚木穆党燕郎邸冀谈姬屠连郜晏栾郁商蒙计喻揭窦迟宇敖糜鄢冷卓花艾蓝都巩稽井练仲乐虞卞封竺冼原官衣楚佟栗匡宗应台巫鞠僧桑荆谌银扬明沙薄伏岑习胥保和蔺",
        given="伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文辉鹏飞斌宇浩凯俊帆晨阳欣怡梓涵子轩雨彤思远佳琪嘉豪博文雅婷晓东海燕春梅秋菊冬雪立新永福德胜",
        given_counts=(1, 2, 2), joiner="",
        name_labels=("姓名：", "姓名:", "患者：", "病人:", "姓名 ", ""),
        id_labels=("住院号：", "病历号:", "门诊号 ", "ID:", "检查号：", "影像号 "),
        national_labels=("身份证：", "身份证号 ", "证件号:", ""),
        phone_labels=("手机：", "电话 ", "联系电话:"),
        dob_labels=("出生日期：", "出生:", "生日 "),
        date_labels=("检查日期：", "日期:", "检查时间 ", ""),
        doctor_labels=("医生：", "检查医生 ", "报告医生:"),
        date_formats=("{y:04d}年{m:02d}月{d:02d}日", "{y:04d}年{m}月{d}日",
                      "{y:04d}-{m:02d}-{d:02d}", "{y:04d}/{m:02d}/{d:02d}"),
        institutions=("北京协和医院", "上海市第一人民医院", "四川大学华西医院", "中山大学附属第一医院",
                      "浙江省人民医院", "华中科技大学同济医院", "南方医科大学南方医院", "解放军总医院",
                      "复旦大学附属中山医院", "广州市妇女儿童医疗中心", "江苏省人民医院", "湘雅医院"),
        settings=("增益 45 dB", "深度 14 cm", "帧频 25 Hz", "频率 3.5 MHz", "动态范围 60", "肝脏",
                  "甲状腺", "左肾", "右肾", "乳腺", "心脏", "腹部", "横切", "纵切", "冻结", "存储",
                  "胆囊", "脾脏", "颈动脉", "产科", "彩色多普勒", "二维", "谐波", "焦点", "左侧", "右侧"),
        national_id=_cn_resident_id, mobile=_cn_mobile, spaced_mobile=True),
    "ja": _Screen(
        surnames=("ヤマダ", "タナカ", "スズキ", "サトウ", "タカハシ", "ワタナベ", "イトウ", "ナカムラ",
                  "コバヤシ", "カトウ", "ヨシダ", "ヤマモト", "山田", "田中", "鈴木", "佐藤", "高橋",
                  "渡辺", "いとう", "なかむら"),
        given=("タロウ", "ハナコ", "ケンジ", "ユキ", "アキラ", "ミホ", "ヒロシ", "サクラ", "ダイスケ",
               "エミ", "太郎", "花子", "健二", "由紀", "さくら", "ひろし"),
        given_counts=(1,), joiner=" ",
        name_labels=("氏名：", "患者名 ", "カナ氏名:", "氏名 ", ""),
        id_labels=("患者ID：", "ID:", "カルテ番号 ", "受付番号:"),
        national_labels=("保険証番号：", "保険者番号 "),
        phone_labels=("電話：", "TEL ", "携帯:"),
        dob_labels=("生年月日：", "生年月日 ", "誕生日:"),
        date_labels=("検査日：", "検査日 ", "撮影日:", ""),
        doctor_labels=("医師：", "担当医 ", "技師:"),
        date_formats=("{y:04d}年{m:02d}月{d:02d}日", "{y:04d}年{m}月{d}日",
                      "{y:04d}/{m:02d}/{d:02d}", "{y:04d}.{m:02d}.{d:02d}"),
        institutions=("東京大学医学部附属病院", "聖路加国際病院", "大阪市立総合医療センター",
                      "さくらクリニック", "ヤマダ整形外科", "みなと総合病院"),
        settings=("ゲイン 45 dB", "深度 14 cm", "フリーズ", "肝臓", "甲状腺", "乳腺", "心臓", "腹部",
                  "右腎", "左腎", "カラー", "プローブ"),
        national_id=_jp_insurance_number, mobile=_jp_kr_mobile, spaced_mobile=False),
    "ko": _Screen(
        surnames="김이박최정강조윤장임한오서신권황안송전홍",
        given=("민준", "서연", "지훈", "수아", "도윤", "하은", "민서", "서준", "지우", "하준", "예린",
               "현우", "지민", "유진", "성민", "영희", "철수"),
        given_counts=(1,), joiner="",
        name_labels=("이름: ", "환자명 ", "성명:", "이름 ", ""),
        id_labels=("등록번호: ", "환자번호 ", "ID:", "차트번호 "),
        national_labels=("주민번호: ", "주민등록번호 ", ""),
        phone_labels=("전화: ", "연락처 ", "휴대폰:"),
        dob_labels=("생년월일: ", "생년월일 ", "생일:"),
        date_labels=("검사일: ", "검사일자 ", "촬영일:", ""),
        doctor_labels=("의사: ", "담당의 ", "판독의:"),
        date_formats=("{y:04d}년 {m:02d}월 {d:02d}일", "{y:04d}.{m:02d}.{d:02d}",
                      "{y:04d}-{m:02d}-{d:02d}", "{y:04d}/{m:02d}/{d:02d}"),
        institutions=("서울대학교병원", "세브란스병원", "삼성서울병원", "서울아산병원", "부산대학교병원",
                      "한빛의원"),
        settings=("게인 45 dB", "깊이 14 cm", "정지", "간", "갑상선", "유방", "심장", "복부", "우측",
                  "좌측", "컬러", "저장"),
        national_id=_kr_resident_number, mobile=_jp_kr_mobile, spaced_mobile=False),
    "he": _Screen(
        surnames=("כהן", "לוי", "מזרחי", "פרץ", "ביטון", "דהן", "אברהם", "פרידמן", "אזולאי",
                  "מלכה", "כץ", "שפירא", "גולן", "ברק", "אוחיון", "חדד", "גבאי"),
        given=("דוד", "משה", "יוסף", "אברהם", "שרה", "רחל", "מרים", "נועה", "תמר", "יעל", "אורי",
               "איתי", "דניאל", "מיכל", "רונית", "אליהו", "חנה"),
        given_counts=(1,), joiner=" ", doctor_joiner=" ",
        name_labels=("שם: ", "שם המטופל: ", "מטופל ", ""),
        id_labels=("מס' תיק: ", "ID:", "מספר מטופל "),
        national_labels=("ת.ז. ", 'ת"ז: ', "תעודת זהות ", ""),
        phone_labels=("טלפון: ", "נייד ", "טל': "),
        dob_labels=("תאריך לידה: ", "ת. לידה "),
        date_labels=("תאריך בדיקה: ", "תאריך ", ""),
        doctor_labels=("רופא: ", 'ד"ר ', "רופא מפנה: "),
        date_formats=("{d:02d}/{m:02d}/{y:04d}", "{d:02d}.{m:02d}.{y:04d}",
                      "{y:04d}-{m:02d}-{d:02d}"),
        institutions=("בית החולים הדסה", "המרכז הרפואי שיבא", 'רמב"ם', "איכילוב", "סורוקה",
                      "בילינסון", "מכבי שירותי בריאות"),
        settings=("כבד", "כליה ימין", "כליה שמאל", "בלוטת התריס", "שד", "לב", "בטן", "הקפאה",
                  "שמירה", "עומק 14 cm", "הגבר 45 dB", "ימין", "שמאל"),
        national_id=_il_identity_number, mobile=_il_mobile, spaced_mobile=False),
    "ar": _Screen(
        surnames=("العلي", "الأحمد", "حسن", "حسين", "إبراهيم", "الخطيب", "المصري", "الشامي",
                  "يوسف", "عبد الرحمن", "السيد", "النجار", "الحداد", "القحطاني", "العتيبي"),
        given=("محمد", "أحمد", "فاطمة", "علي", "خالد", "نور", "مريم", "عمر", "ليلى", "يوسف",
               "سارة", "حسن", "زينب", "عبد الله", "هدى"),
        given_counts=(1,), joiner=" ", doctor_joiner=" ",
        name_labels=("الاسم: ", "اسم المريض: ", "المريض ", ""),
        id_labels=("رقم الملف: ", "ID:", "رقم المريض "),
        national_labels=("الرقم القومي: ", "رقم الهوية ", ""),
        phone_labels=("الهاتف: ", "جوال ", "هاتف: "),
        dob_labels=("تاريخ الميلاد: ", "الميلاد "),
        date_labels=("تاريخ الفحص: ", "التاريخ ", ""),
        doctor_labels=("الطبيب: ", "د. ", "الطبيب المعالج: "),
        date_formats=("{d:02d}/{m:02d}/{y:04d}", "{y:04d}/{m:02d}/{d:02d}",
                      "{y:04d}-{m:02d}-{d:02d}"),
        institutions=("مستشفى الملك فيصل", "مستشفى القصر العيني", "مدينة الملك عبدالعزيز الطبية",
                      "مستشفى الجامعة", "مستشفى السلام", "المركز الطبي الدولي"),
        settings=("الكبد", "الكلية اليمنى", "الكلية اليسرى", "الغدة الدرقية", "الثدي", "القلب",
                  "البطن", "تجميد", "حفظ", "العمق 14 cm", "الكسب 45 dB", "يمين", "يسار"),
        national_id=_eg_national_id, mobile=_ar_mobile, spaced_mobile=False),
}


def _local_date(rng: random.Random, screen: _Screen, y: int, m: int, d: int) -> str:
    return screen.date_formats[rng.randrange(len(screen.date_formats))].format(y=y, m=m, d=d)


def _make_identity_local(rng: random.Random, locale: str) -> tuple[SampleIdentity, dict[str, str]]:
    sc = _SCREENS[locale]
    last = rng.choice(sc.surnames)
    first = "".join(rng.choice(sc.given) for _ in range(rng.choice(sc.given_counts)))
    by, bm, bd = rng.randint(1930, 2020), rng.randint(1, 12), rng.randint(1, 28)
    sy, sm, sd = rng.randint(2005, 2026), rng.randint(1, 12), rng.randint(1, 28)
    natid = sc.national_id(rng, by, bm, bd)
    mrn = _digits(rng, rng.randint(6, 10))
    mobile = sc.mobile(rng)
    inst = rng.choice(sc.institutions)
    ident = SampleIdentity([f"{last}^{first}"], [last, first], [natid, mrn, mobile],
                           [f"{by:04d}{bm:02d}{bd:02d}"], [f"{sy:04d}{sm:02d}{sd:02d}"], [inst])
    phone = mobile if not sc.spaced_mobile or rng.random() < 0.5 else (
        f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}")
    name = last + sc.joiner + first
    values = {
        "name": name,
        "name_lbl": rng.choice(sc.name_labels) + name,
        "id": rng.choice(sc.id_labels) + mrn,
        "national_id": rng.choice(sc.national_labels) + natid,
        "phone": rng.choice(sc.phone_labels) + phone,
        "dob": rng.choice(sc.dob_labels) + _local_date(rng, sc, by, bm, bd),
        "date": rng.choice(sc.date_labels) + _local_date(rng, sc, sy, sm, sd)
        + (f" {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}" if rng.random() < 0.5 else ""),
        "inst": inst,
        "doctor": rng.choice(sc.doctor_labels) + rng.choice(sc.surnames) + sc.doctor_joiner
        + rng.choice(sc.given),
    }
    return ident, values


def _nonphi_local(rng: random.Random, locale: str) -> str:
    return rng.choice(_SCREENS[locale].settings) if rng.random() < 0.6 else _nonphi(rng)


# ----------------------------------------------------------------------------- backgrounds
def _blur(a: np.ndarray, r: float) -> np.ndarray:
    im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    return np.asarray(im.filter(ImageFilter.GaussianBlur(r)), dtype=np.float32)


def _background(rng: random.Random, nrng: np.random.Generator, kind: str, h: int, w: int
                ) -> np.ndarray:
    """An H×W×3 float32 background of the given kind (0..255)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind in ("ct", "mr"):
        img = np.zeros((h, w), np.float32)
        cx, cy = w * rng.uniform(0.4, 0.6), h * rng.uniform(0.45, 0.55)
        ax, ay = w * rng.uniform(0.25, 0.4), h * rng.uniform(0.3, 0.42)
        body = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 < 1
        img[body] = rng.uniform(90, 150)
        for _ in range(rng.randint(3, 8)):
            ox, oy = cx + rng.uniform(-ax, ax) * 0.6, cy + rng.uniform(-ay, ay) * 0.6
            r1, r2 = rng.uniform(8, ax / 3), rng.uniform(8, ay / 3)
            m = ((xx - ox) / r1) ** 2 + ((yy - oy) / r2) ** 2 < 1
            img[m & body] = rng.uniform(40, 250)
        img = _blur(img, rng.uniform(1, 3))
        img += nrng.normal(0, rng.uniform(3, 12), (h, w)).astype(np.float32)
        img = np.clip(img, 0, 255)
        return np.repeat(img[..., None], 3, axis=2)
    if kind in ("us", "doppler"):
        img = np.zeros((h, w), np.float32)
        ax_, ay_ = w * rng.uniform(0.4, 0.6), h * rng.uniform(-0.05, 0.12)
        ang = np.arctan2(xx - ax_, yy - ay_)
        rad = np.hypot(xx - ax_, yy - ay_)
        half = np.deg2rad(rng.uniform(28, 48))
        r0, r1 = h * rng.uniform(0.0, 0.12), h * rng.uniform(0.75, 0.95)
        sector = (np.abs(ang) < half) & (rad > r0) & (rad < r1)
        field_ = _blur(nrng.uniform(0, 255, (h, w)).astype(np.float32), 12) * 2 - 130
        speckle = nrng.rayleigh(1.0, (h, w)).astype(np.float32)
        tissue = np.clip((field_ + 90) * speckle * 0.7, 0, 255)
        img[sector] = tissue[sector]
        img = _blur(img, 0.6)
        rgb = np.repeat(img[..., None], 3, axis=2)
        if rng.random() < 0.3:
            rgb *= np.array([1.0, rng.uniform(0.85, 1), rng.uniform(0.7, 1)], np.float32)
        if kind == "doppler":
            bx0, by0 = int(ax_ - rng.uniform(40, 120)), int(h * rng.uniform(0.25, 0.5))
            bx1, by1 = bx0 + rng.randint(80, 200), by0 + rng.randint(60, 150)
            flow = _blur(nrng.normal(0, 1, (h, w)).astype(np.float32) * 255, 6)
            box = np.zeros((h, w), bool)
            box[max(by0, 0):by1, max(bx0, 0):bx1] = True
            box &= sector
            red = box & (flow > 8)
            blue = box & (flow < -8)
            rgb[red] = np.stack([np.clip(150 + flow[red] * 3, 0, 255),
                                 np.clip(flow[red] * 2, 0, 255), np.zeros(red.sum())], 1)
            rgb[blue] = np.stack([np.zeros(blue.sum()), np.clip(-flow[blue] * 2, 0, 255),
                                  np.clip(150 - flow[blue] * 3, 0, 255)], 1)
            # colour bar on one side
            cx0 = rng.choice([10, w - 30])
            bar = np.linspace(1, -1, 120)[:, None]
            y0 = rng.randint(40, max(41, h - 200))
            rgb[y0:y0 + 120, cx0:cx0 + 12] = np.concatenate(
                [np.clip(bar, 0, 1) * 255, np.abs(bar) * 60, np.clip(-bar, 0, 1) * 255],
                1)[:, None, :]
        return rgb
    if kind == "xray":
        g = (xx / w * rng.uniform(-80, 80) + yy / h * rng.uniform(-80, 80) + rng.uniform(60, 160))
        img = g.copy()
        for _ in range(rng.randint(2, 6)):
            x0 = rng.uniform(0, w)
            width = rng.uniform(15, 60)
            bone = np.exp(-(((xx - x0 - (yy - h / 2) * rng.uniform(-0.5, 0.5)) / width) ** 2))
            img += bone * rng.uniform(30, 90)
        img = _blur(img, 2) + nrng.normal(0, rng.uniform(2, 8), (h, w)).astype(np.float32)
        if rng.random() < 0.3:
            img = 255 - img
        img = np.clip(img, 0, 255)
        return np.repeat(img[..., None], 3, axis=2)
    if kind == "screen":
        base = rng.choice([rng.uniform(200, 250), rng.uniform(20, 60)])
        rgb = np.full((h, w, 3), base, np.float32)
        rgb += np.array([rng.uniform(-15, 15) for _ in range(3)], np.float32)
        # a panel with an image, and table lines
        px0, py0 = rng.randint(0, w // 3), rng.randint(h // 6, h // 3)
        px1, py1 = px0 + rng.randint(w // 4, w // 2), py0 + rng.randint(h // 4, h // 2)
        sub = _background(rng, nrng, rng.choice(["ct", "us", "xray"]), py1 - py0, px1 - px0)
        rgb[py0:py1, px0:px1] = sub
        line = 255 - base if rng.random() < 0.5 else base + rng.choice([-40, 40])
        for yl in range(rng.randint(0, h // 4), h, rng.randint(18, 40)):
            if rng.random() < 0.6:
                rgb[yl, px1 + 5:] = line
        return np.clip(rgb, 0, 255)
    if kind == "pet":
        return _pet_fusion(rng, nrng, h, w)
    if kind in TRAIN_ONLY_BACKGROUNDS:
        return TRAIN_ONLY_BACKGROUNDS[kind](rng, nrng, h, w)
    return np.full((h, w, 3), rng.uniform(0, 25), np.float32)


def _windowed_tile(rng: random.Random, bg: np.ndarray) -> np.ndarray:
    """A radiograph as the redactor's native tiles of a large one see it (training only,
    ``variety=4``). The redactor windows a film to its own 0.5-99.5 percentiles
    (``display_rgb``); on a large, flat film that stretches a narrow range of grey over
    0-255, and the grain stands out two to four times as much as on the plain ``xray``
    background. This draws that look without a large film: the grain (the background less
    its 2-px blur) is stretched more than the rest. The shipped detector, never trained on
    such grain, proposes rows of slivers along a tile's edges (docs/pixels.md, seventeenth
    round); here those edges carry no text, or only the lines drawn on them."""
    grey = bg[..., 0]
    grain = grey - _blur(grey, 2)
    # a tile spans a fraction of the film: its slow gradient and anatomy are stretched
    # less than the grain, which the window stretches by the whole factor
    whole, grain_gain = rng.uniform(1.0, 1.6), rng.uniform(1.5, 4.0)
    mid = float(np.median(grey))
    out = mid + (grey - mid) * whole + grain * (grain_gain - whole)
    return np.repeat(np.clip(out, 0, 255)[..., None], 3, axis=2)


def _pet_fusion(rng: random.Random, nrng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A PET or PET/CT fusion without text (training only, ``variety=3``): a dim CT slice
    under a tracer map of speckled uptake and small hot spots in a hot, rainbow or inverted
    grey scale, and the curved lines of the table. The shipped detector takes such hot spots
    for text on a real fusion (docs/pixels.md, Real files), so they are drawn as negatives."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ct = _background(rng, nrng, "ct", h, w)[..., 0] * rng.uniform(0.2, 0.6)
    body = _blur((ct > 15).astype(np.float32) * 255, 4) / 255
    noise = _blur(nrng.uniform(0, 255, (h, w)).astype(np.float32), rng.uniform(1.5, 5))
    z = (noise - noise.mean()) / max(1e-3, float(noise.std()))
    haze = np.clip((z + 2) * rng.uniform(0.03, 0.1), 0, 1)  # the uptake of soft tissue
    act = (haze + np.clip((z - rng.uniform(0.8, 2.2)) * rng.uniform(0.2, 0.7), 0, 1)) * body
    for _ in range(rng.randint(3, 30)):  # hot spots: lesions, bladder, heart, dots
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(1.5, 12)
        act += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)) * rng.uniform(0.4, 1.2)
    act = np.clip(act, 0, 1)
    scale = rng.choice(("hot", "hot", "rainbow", "grey"))
    if scale == "hot":
        colour = np.stack([np.clip(3 * act, 0, 1), np.clip(3 * act - 1, 0, 1),
                           np.clip(3 * act - 2, 0, 1)], 2) * 255
    elif scale == "rainbow":
        colour = np.stack([np.clip(2 - np.abs(4 * act - 3) * 2, 0, 1) + (act > 0.9),
                           np.clip(2 - np.abs(4 * act - 2) * 2, 0, 1),
                           np.clip(2 - np.abs(4 * act - 1) * 2, 0, 1)], 2).clip(0, 1) * 255
    else:  # a maximum-intensity projection: dark uptake on white
        colour = np.repeat((255 - act * 255)[..., None], 3, axis=2)
        return np.clip(colour + nrng.normal(0, 3, (h, w, 1)).astype(np.float32), 0, 255)
    alpha = np.clip(act * rng.uniform(1.0, 2.0), 0, rng.uniform(0.6, 0.95))[..., None]
    rgb = ct[..., None] * (1 - alpha) + colour * alpha
    for _ in range(rng.randint(0, 3)):  # the table under the patient: thin arcs
        y0, bend, shade = rng.uniform(0.75, 0.95) * h, rng.uniform(-40, 40), rng.uniform(80, 200)
        arc = np.abs(yy - (y0 + bend * ((xx - w / 2) / (w / 2)) ** 2)) < rng.uniform(0.7, 1.8)
        rgb[arc & (xx > w * rng.uniform(0, 0.2)) & (xx < w * rng.uniform(0.8, 1))] = shade
    return np.clip(rgb, 0, 255)


def _endoscopy(rng: random.Random, nrng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An endoscopy frame (training only, ``variety=5``): moist pink-red mucosa with folds,
    a dark lumen and small specular glints, in a round or octagonal field on black. Glints
    and fold edges are the marks a detector tuned to faint text could take for characters;
    drawn as negatives (and under some lines), so that it learns the difference."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w * rng.uniform(0.42, 0.58), h * rng.uniform(0.42, 0.58)
    r = min(h, w) * rng.uniform(0.42, 0.56)
    field_ = np.hypot(xx - cx, yy - cy) < r
    if rng.random() < 0.5:
        field_ &= (np.abs(xx - cx) + np.abs(yy - cy)) < r * 1.25
    slow = _blur(nrng.uniform(0, 255, (h, w)).astype(np.float32), rng.uniform(10, 25))
    slow = (slow - slow.mean()) / max(1e-3, float(slow.std()))
    warp = slow * rng.uniform(6, 20)
    folds = np.sin((np.hypot(xx - cx + warp, yy - cy - warp) / rng.uniform(9, 30)) * np.pi)
    lx, ly = cx + rng.uniform(-r, r) * 0.4, cy + rng.uniform(-r, r) * 0.4
    lumen = np.exp(-((xx - lx) ** 2 + (yy - ly) ** 2) / (2 * (r * rng.uniform(0.12, 0.3)) ** 2))
    vignette = np.clip(1.15 - (np.hypot(xx - cx, yy - cy) / r) ** 2 * 0.6, 0.3, 1.1)
    shade = np.clip((0.75 + 0.12 * slow + 0.1 * folds) * vignette * (1 - 0.85 * lumen), 0, 1.3)
    tone = np.array([rng.uniform(190, 240), rng.uniform(70, 130), rng.uniform(60, 110)],
                    np.float32)
    rgb = shade[..., None] * tone
    for _ in range(rng.randint(5, 40)):  # specular glints
        gx, gy, gr = rng.uniform(cx - r, cx + r), rng.uniform(cy - r, cy + r), rng.uniform(1, 5)
        gy_r = gr * rng.uniform(0.3, 1.5)
        glint = np.exp(-((xx - gx) ** 2 / (2 * gr ** 2) + (yy - gy) ** 2 / (2 * gy_r ** 2)))
        rgb += glint[..., None] * 255
    rgb += nrng.normal(0, rng.uniform(1, 5), (h, w, 1)).astype(np.float32)
    rgb[~field_] = rng.uniform(0, 12)
    return np.clip(rgb, 0, 255)


def _pathology(rng: random.Random, nrng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A stained tissue section (training only, ``variety=5``): eosin-pink stroma, white
    gaps, and hundreds of small haematoxylin-purple nuclei, crowded in places. Rows of
    nuclei look like rows of dark characters; drawn as negatives for the detector."""
    slow = _blur(nrng.uniform(0, 255, (h, w)).astype(np.float32), rng.uniform(6, 18))
    slow = (slow - slow.mean()) / max(1e-3, float(slow.std()))
    pink = np.array([rng.uniform(215, 245), rng.uniform(150, 200), rng.uniform(190, 225)],
                    np.float32)
    rgb = np.empty((h, w, 3), np.float32)
    rgb[:] = pink
    rgb *= (1 + 0.06 * slow)[..., None]
    gaps = slow > rng.uniform(0.8, 1.6)
    rgb[gaps] = np.array([245, 240, 245], np.float32)
    im = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    purple = (rng.uniform(60, 120), rng.uniform(30, 80), rng.uniform(110, 170))
    dense = slow < rng.uniform(-0.5, 0.5)
    ys, xs = np.nonzero(dense | (nrng.random((h, w)) < 0.15))
    if len(xs):
        for k in nrng.integers(0, len(xs), rng.randint(150, 900)):
            x, y = int(xs[k]), int(ys[k])
            a, b = rng.uniform(1.5, 6), rng.uniform(1.5, 5)
            c = tuple(int(np.clip(v * rng.uniform(0.7, 1.2), 0, 255)) for v in purple)
            d.ellipse((x - a, y - b, x + a, y + b), fill=c)
    out = np.asarray(im.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2))), np.float32)
    return np.clip(out + nrng.normal(0, 3, (h, w, 1)).astype(np.float32), 0, 255)


def _echo(rng: random.Random, nrng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An echocardiogram (training only, ``variety=5``): a speckle sector with dark
    chambers and the ECG trace along the bottom, the screen where faint dates sit over
    speckle."""
    rgb = _background(rng, nrng, "us", h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(rng.randint(2, 4)):  # chambers: dark, blurred ellipses
        cx, cy = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.25, 0.7)
        rx, ry = rng.uniform(20, w * 0.12), rng.uniform(25, h * 0.15)
        m = np.exp(-(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2) ** 2)
        rgb *= (1 - 0.9 * m)[..., None]
    y0 = int(h * rng.uniform(0.84, 0.94))
    xs = np.arange(int(w * 0.05), int(w * 0.95))
    beat = rng.uniform(60, 140)
    phase = (xs % beat) / beat
    trace = (y0 - 18 * np.exp(-((phase - 0.3) / 0.015) ** 2)
             + 5 * np.exp(-((phase - 0.6) / 0.05) ** 2))  # the R wave, then the T wave
    colour = np.array(rng.choice([(0, 255, 0), (255, 255, 0), (0, 255, 255)]), np.float32)
    for x, y in zip(xs, trace.astype(int)):
        if 0 <= y < h - 1:
            rgb[y:y + 2, x] = colour
    return np.clip(rgb, 0, 255)


# drawn only by the training variety 5, never by the held-out split
TRAIN_ONLY_BACKGROUNDS = {"endoscopy": _endoscopy, "pathology": _pathology, "echo": _echo}


def _clutter(rng: random.Random, draw: ImageDraw.ImageDraw, h: int, w: int) -> None:
    """Non-text graphics that look a bit like text: scale ticks, bars, calipers, ECG line."""
    col = tuple(int(rng.uniform(150, 255)) for _ in range(3))
    for _ in range(rng.randint(0, 3)):
        kind = rng.randrange(4)
        if kind == 0:  # depth scale with ticks
            x = rng.choice([rng.randint(3, 30), rng.randint(w - 30, w - 3)])
            y0 = rng.randint(20, h // 3)
            for k in range(rng.randint(5, 15)):
                yy = y0 + k * rng.randint(15, 25)
                draw.line([(x, yy), (x + rng.choice([3, 6]), yy)], fill=col)
        elif kind == 1:  # caliper crosses
            for _ in range(rng.randint(1, 3)):
                cx, cy = rng.randint(20, w - 20), rng.randint(20, h - 20)
                draw.line([(cx - 4, cy), (cx + 4, cy)], fill=col)
                draw.line([(cx, cy - 4), (cx, cy + 4)], fill=col)
        elif kind == 2:  # ECG trace
            y = rng.randint(h - 60, h - 10)
            pts = [(x, y + int(rng.gauss(0, 1) + (12 if x % 80 == 0 else 0)))
                   for x in range(0, w, 4)]
            draw.line(pts, fill=(0, 255, 0))
        else:  # grey bar
            x0, y0 = rng.randint(0, w - 20), rng.randint(0, h - 100)
            for k in range(64):
                draw.line([(x0, y0 + k), (x0 + 10, y0 + k)], fill=(k * 4,) * 3)


# ----------------------------------------------------------------------------- text drawing
_COLOURS = [(255, 255, 255), (230, 230, 230), (200, 200, 200), (255, 255, 0), (0, 255, 0),
            (0, 255, 255), (255, 170, 0), (255, 255, 160), (160, 200, 255), (255, 80, 80)]


@dataclass
class Item:
    text: str
    phi: bool
    kind: str


def _render_text(rng: random.Random, text: str, font_path: str, size: int,
                 min_size: int = 6) -> np.ndarray | None:
    """A uint8 coverage mask of the text, tight to its ink, or None if nothing drew.
    Bitmap-like text is drawn at half size, but no smaller than ``min_size``, and doubled."""
    bitmap_like = rng.random() < 0.12
    if bitmap_like:
        size = max(min_size, size // 2)
    font = _font(font_path, size)
    try:
        l, t, r, b = font.getbbox(text)
    except Exception:  # noqa: BLE001 - a font that cannot draw this text is simply skipped
        return None
    if r - l <= 0 or b - t <= 0:
        return None
    im = Image.new("L", (r - l + 4, b - t + 4), 0)
    d = ImageDraw.Draw(im)
    if bitmap_like or rng.random() < 0.3:
        d.fontmode = "1"
    d.text((2 - l, 2 - t), text, font=font, fill=255)
    if bitmap_like:
        im = im.resize((im.width * 2, im.height * 2), Image.NEAREST)
    if rng.random() < 0.15:  # condensed / stretched rendering
        im = im.resize((max(1, int(im.width * rng.uniform(0.75, 1.2))), im.height),
                       Image.BILINEAR)
    a = np.asarray(im)
    ys, xs = np.nonzero(a > 40)
    if len(xs) == 0:
        return None
    return a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


@dataclass
class Sample:
    """One synthetic image: pixels (H×W×3 uint8), boxes and the identity it carries."""

    image: np.ndarray
    boxes: list[dict[str, Any]]
    identity: SampleIdentity
    background: str
    layout: str


def _items(rng: random.Random, values: dict[str, str], n_phi: int, n_non: int,
           variety: int = 1, locale: str = "en") -> list[Item]:
    keys = list(values)
    rng.shuffle(keys)
    out = [Item(values[k], True, k) for k in keys[:n_phi]]
    out += [Item(_nonphi(rng, variety) if locale == "en" else _nonphi_local(rng, locale), False,
                 "setting")
            for _ in range(n_non)]
    rng.shuffle(out)
    return out


def generate(seed: int, split: str = "train", h: int | None = None, w: int | None = None,
             n_text: tuple[int, int] = (0, 14), background: str | None = None,
             variety: int = 1, locale: str = "en", clutter: bool = True) -> Sample:
    """Draw one image. Same seed and split → same image (the recipe is reproducible).

    ``variety=2`` (training only; the held-out split ignores it) adds the extra training
    font family, the stacked-column layout, more small text and longer settings lines;
    ``variety=3`` also draws one image in ten a PET or PET/CT fusion (``_pet_fusion``) and
    about one line in eight in faint colours close to the background's; ``variety=4`` also
    windows half of the radiographs as a native tile of a large film (``_windowed_tile``,
    grain two to four times stronger); ``variety=5`` also draws about one image in seven an
    endoscopy frame, a stained tissue section or an echocardiogram (``TRAIN_ONLY_BACKGROUNDS``)
    and one line in five over speckle in thin dark or light ink that lets the speckle
    through; ``variety=1``
    draws exactly the images of the original recipe. ``locale`` zh, ja, ko,
    he or ar draws Chinese, Japanese, Korean, Hebrew or Arabic screens (names, national
    IDs, phones, labels and settings in the language, ``_SCREENS``; fonts:
    ``CJK_*_FAMILIES``, ``RTL_FAMILIES``), each from its own stream. ``clutter=False``
    leaves out the calipers, rulers and grey bars: the plain background, for tests.
    """
    if locale not in LOCALES:
        raise ValueError(f"locale must be one of {LOCALES}, not {locale!r}")
    if split != "train" or locale != "en":
        variety = 1
    rng = random.Random(seed * 7919 + (0 if split == "train" else 104729)
                        + LOCALES.index(locale) * 15485863)
    nrng = np.random.default_rng(seed + (0 if split == "train" else 10**9)
                                 + LOCALES.index(locale) * 2 * 10**9)
    if h is None or w is None:
        h, w = rng.choice([(480, 640)] * 6 + [(512, 512), (600, 800), (384, 512), (768, 1024)])
    kind = background or rng.choice(BACKGROUNDS)
    if variety >= 3 and background is None and rng.random() < 0.1:
        kind = "pet"  # training negatives: PET and PET/CT fusion hot spots
    if variety >= 5 and background is None and rng.random() < 0.15:
        kind = rng.choice(tuple(TRAIN_ONLY_BACKGROUNDS))  # textured screens, few or no lines
    layout = rng.choice((TRAIN_LAYOUTS_V2 if variety >= 2 else TRAIN_LAYOUTS)
                        if split == "train" else HELDOUT_LAYOUTS)
    bg = _background(rng, nrng, kind, h, w)
    if variety >= 4 and kind == "xray" and rng.random() < 0.5:
        bg = _windowed_tile(rng, bg)
    img = Image.fromarray(bg.astype(np.uint8))
    if clutter:
        _clutter(rng, ImageDraw.Draw(img), h, w)
    arr = np.asarray(img, dtype=np.float32).copy()
    ident, values = _make_identity(rng) if locale == "en" else _make_identity_local(rng, locale)
    n = rng.randint(*n_text)
    n_phi = min(len(values), rng.randint(0, n)) if n else 0
    items = _items(rng, values, n_phi, n - n_phi, variety, locale)
    fonts = font_files(split, variety, locale)
    font_main = rng.choice(fonts)
    # Han characters below 10 px are no longer legible strokes
    base_size = rng.randint(8 if locale == "en" else 10, 28)
    stack_x = stack_y = 0
    if variety >= 2:  # no extra draws for variety 1: its images stay those of the recipe
        if rng.random() < 0.35:
            base_size = rng.randint(8, 12)  # more of the small text that is found least
        stack_x = rng.choice([rng.randint(2, 40), rng.randint(w // 3, 2 * w // 3)])
        stack_y = rng.randint(2, max(3, h // 3))
    occupied = np.zeros((h, w), bool)
    boxes: list[dict[str, Any]] = []
    # cursors for stacked layouts
    corner_y = {c: rng.randint(2, 12) for c in ("tl", "tr", "bl", "br")}
    header_x = rng.randint(2, 20)
    header_y = rng.randint(2, 10)
    col_y = [rng.randint(30, 60), rng.randint(30, 60)]
    for it in items:
        size = base_size if rng.random() < 0.7 else rng.randint(8 if locale == "en" else 10, 28)
        fpath = font_main if rng.random() < 0.8 else rng.choice(fonts)
        mask = _render_text(rng, it.text, fpath, size, 6 if locale == "en" else 10)
        if mask is None:
            continue
        rot = 0
        mode = layout
        if layout == "side" and rng.random() < 0.5:
            mode = "side"
        elif layout == "side":
            mode = "corners"
        if mode == "side":
            rot = rng.choice([90, 270])
            mask = np.rot90(mask, 1 if rot == 90 else 3)
        mh, mw = mask.shape
        if mw >= w - 4 or mh >= h - 4:
            continue
        pos = None
        for _ in range(12):
            if mode == "corners":
                c = rng.choice(["tl", "tr", "bl", "br"])
                x = rng.randint(2, 14) if c[1] == "l" else w - mw - rng.randint(2, 14)
                y = corner_y[c] if c[0] == "t" else h - mh - corner_y[c]
                corner_y[c] += mh + rng.randint(2, 8)
            elif mode == "header":
                if header_x + mw > w - 2:
                    header_x = rng.randint(2, 20)
                    header_y += mh + rng.randint(3, 8)
                x, y = header_x, header_y
                header_x += mw + rng.randint(12, 60)
            elif mode == "side":
                x = rng.randint(1, 10) if rng.random() < 0.5 else w - mw - rng.randint(1, 10)
                y = rng.randint(2, max(3, h - mh - 2))
            elif mode == "stack":
                x, y = stack_x, stack_y
                stack_y += mh + rng.randint(1, 8)
            elif mode == "footer_band":
                x = rng.randint(2, max(3, w - mw - 2))
                y = h - mh - rng.randint(2, 30)
            elif mode == "two_column":
                col = rng.randrange(2)
                x = (rng.randint(4, 20) if col == 0 else w // 2 + rng.randint(0, 40))
                y = col_y[col]
                col_y[col] += mh + rng.randint(3, 10)
            else:  # scatter, over anatomy
                x = rng.randint(2, max(3, w - mw - 2))
                y = rng.randint(2, max(3, h - mh - 2))
            if x < 0 or y < 0 or x + mw > w or y + mh > h:
                continue
            if occupied[max(0, y - 2):y + mh + 2, max(0, x - 2):x + mw + 2].any():
                continue
            pos = (x, y)
            break
        if pos is None:
            continue
        x, y = pos
        region = arr[y:y + mh, x:x + mw]
        local = float(region.mean())
        colour = np.array(rng.choice(_COLOURS), np.float32)
        lum = colour @ np.array([0.299, 0.587, 0.114], np.float32)
        if abs(lum - local) < 60:
            colour = np.array((0, 0, 0) if local > 128 else (255, 255, 255), np.float32)
            if rng.random() < 0.3 and local > 128:
                colour = np.array((20, 20, 120), np.float32)
        if variety >= 3 and rng.random() < 0.12:
            # faint text: little contrast to what is under it (dark on speckle, grey on
            # Doppler), the text the detector was least sure of (docs/pixels.md)
            delta = rng.uniform(22, 55) * rng.choice((-1, 1))
            if not 0 <= local + delta <= 255:
                delta = -delta
            colour = np.clip(local + delta + np.array([rng.uniform(-12, 12) for _ in range(3)],
                                                      np.float32), 0, 255)
        see_through = 1.0
        if variety >= 5 and kind in SPECKLE_BACKGROUNDS and rng.random() < 0.2:
            # thin dark or light ink let through the speckle: the lines the detector never
            # proposed on the tuning splits (docs/pixels.md, twentieth round)
            colour = np.full(3, rng.uniform(0, 50) if local > 90 else rng.uniform(200, 255),
                             np.float32)
            see_through = rng.uniform(0.4, 0.85)
        if kind == "screen" and rng.random() < 0.3:  # text on a filled label
            region[:] = 255 - colour * 0.8 if local < 128 else region
        alpha = (mask.astype(np.float32) / 255.0)[..., None]
        if rng.random() < 0.1:
            alpha *= rng.uniform(0.6, 0.9)  # semi-transparent overlay
        alpha *= see_through
        arr[y:y + mh, x:x + mw] = region * (1 - alpha) + colour * alpha
        occupied[y:y + mh, x:x + mw] = True
        boxes.append({"x0": x, "y0": y, "x1": x + mw, "y1": y + mh, "text": it.text,
                      "phi": it.phi, "kind": it.kind, "rot": rot, "size": size,
                      "opacity": round(float(alpha.max()), 3)})
    image = np.clip(arr, 0, 255).astype(np.uint8)
    return Sample(image, boxes, ident, kind, layout)
