"""Pattern recognisers: regular expressions with a per-pattern score and validators.

Scores are prior beliefs that a match is PHI: a checksum-valid Chinese resident ID is
near-certain, a bare 9-digit number is not. A label word just before the match (``MRN``,
``住院号``, ``Tel``) raises the score by the context boost, so ID-shaped tokens next to an
ID label pass the threshold and the same digits in ``IMG 23/120`` do not.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Callable, Iterator

_M = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|SEPT|OCT|NOV|DEC"
_MONTH_WORDS = ("JANUARY|FEBRUARY|MARCH|APRIL|MAY|JUNE|JULY|AUGUST|SEPTEMBER|OCTOBER|"
                "NOVEMBER|DECEMBER|JAN\\.?|FEB\\.?|MAR\\.?|APR\\.?|JUN\\.?|JUL\\.?|AUG\\.?|"
                "SEPT?\\.?|OCT\\.?|NOV\\.?|DEC\\.?")
_TIME = r"(?:[ T]?\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_ND = r"(?<![\w.])"   # no word char or decimal point before
_NA = r"(?![\w])"     # no word char after (Han characters count as word chars in re)
_NA_DIG = r"(?![0-9A-Za-z])"


@dataclass(frozen=True)
class Pattern:
    name: str
    entity: str
    regex: re.Pattern[str]
    score: float
    validate: Callable[[str], bool] | None = None
    group: str | None = None  # report only this named group as the span


def _valid_ymd(y: int, m: int, d: int) -> bool:
    try:
        _dt.date(y, m, d)
    except ValueError:
        return False
    return 1880 <= y <= 2100


def _compact_date(s: str) -> bool:
    digits = re.sub(r"\D", "", s)
    return _valid_ymd(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))


def cn_resident_check(body: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) of an ID's first 17 digits."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]


def cn_resident_id_ok(s: str) -> bool:
    """GB 11643 check digit (ISO 7064 MOD 11-2) and a plausible birth date."""
    s = s.upper()
    if not re.fullmatch(r"\d{17}[\dX]", s) or cn_resident_check(s[:17]) != s[17]:
        return False
    return _valid_ymd(int(s[6:10]), int(s[10:12]), int(s[12:14]))


def luhn_ok(s: str) -> bool:
    digits = [int(c) for c in re.sub(r"\D", "", s)]
    if len(digits) < 12:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _ssn_ok(s: str) -> bool:
    d = re.sub(r"\D", "", s)
    return len(d) == 9 and d[:3] not in ("000", "666") and d[0] != "9" and d[3:5] != "00" \
        and d[5:] != "0000"


def _ipv4_ok(s: str) -> bool:
    parts = s.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) <= 255 and (p == "0" or not p.startswith("0"))
                                   for p in parts)


def _age_ok(s: str) -> bool:
    m = re.search(r"\d+", s)
    return bool(m) and 90 <= int(m.group()) <= 130


def _c(p: str) -> re.Pattern[str]:
    return re.compile(p, re.IGNORECASE)


# OCR reads digits as look-alike letters (1->I/l, 0->O, 5->S, 8->B). The *_ocr patterns accept
# them where a digit is expected and validate the digit-mapped text against the strict form.
_OCR_DIGIT = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "S": "5", "B": "8", "Z": "2"})
_D = "[0-9OIlSBZ]"


def _ocr_ok(strict: re.Pattern[str], validate: Callable[[str], bool] | None = None) -> Callable[[str], bool]:
    def ok(s: str) -> bool:
        digits = sum(c.isdigit() for c in s)
        confused = sum(c in "OIlSBZo" for c in s if not c.isdigit())
        mapped = _mapped_digits(s)
        return (0 < confused <= 2 and digits >= 3 and strict.fullmatch(mapped) is not None
                and (validate is None or validate(mapped)))
    return ok


def _mapped_digits(s: str) -> str:
    """Map look-alike letters to digits only where they sit among digits."""
    out = list(s)
    for i, c in enumerate(s):
        if c in "OIlSBZo":
            near = s[max(0, i - 1):i] + s[i + 1:i + 2]
            if any(ch.isdigit() or ch in "OIlSBZo" for ch in near):
                out[i] = c.translate(_OCR_DIGIT)
    return "".join(out)


def _age_ocr_ok(s: str) -> bool:
    m = re.match(r"[0-9OIlSBZo]+", s)
    return bool(m) and any(c.isdigit() for c in m.group()) and _age_ok(m.group().translate(_OCR_DIGIT))


_ID_LABEL = (r"MRN|MR\s?#|MR\s?NO\.?|MED(?:ICAL)?\s+REC(?:ORD)?\s+(?:NO\.?|NUMBER|#)|PATIENT\s+ID|PAT\s?ID|"
             r"PID|ID\s?NO\.?|ID|ACC(?:ESSION)?(?:\s?NO\.?|\s?#|\s+NUMBER)?|ACCT|ACCOUNT|CASE|"
             r"SSN|SOCIAL\s+SECURITY(?:\s+NO\.?)?|PASSPORT(?:\s+NO\.?)?|INSURANCE(?:\s+NO\.?)?|POLICY|MEMBER\s+ID|"
             r"住院号|病历号|门诊号|登记号|检查号|影像号|病案号|医保卡号|医保号|社保卡号|身份证号码?|证件号码?|"
             r"护照号码?|卡号|流水号|申请单号|ID号")
_DEV_LABEL = r"S/N|SN|SER(?:IAL)?\.?(?:\s?(?:NO\.?|NUMBER|#))?|DEVICE\s+ID|序列号|设备号|设备编号"

PATTERNS: tuple[Pattern, ...] = (
    # ---- dates
    Pattern("date_dmy_mon", "DATE", _c(_ND + r"\d{1,2}[-/ .]?(?:" + _M + r")[A-Z]*[-/ .,]*\d{2}(?:\d{2})?" + _TIME + _NA_DIG), 0.9),
    Pattern("date_mon_dy", "DATE", _c(r"(?<![\w])(?:" + _MONTH_WORDS + r")[ -]\d{1,2}(?:st|nd|rd|th)?,?[ -]\d{4}" + _TIME + _NA_DIG), 0.9),
    Pattern("date_d_month_y", "DATE", _c(_ND + r"\d{1,2}(?:st|nd|rd|th)?\s(?:" + _MONTH_WORDS + r")\s\d{4}" + _NA_DIG), 0.9),
    Pattern("date_month_y", "DATE", _c(r"(?<![\w])(?:JANUARY|FEBRUARY|MARCH|APRIL|JUNE|JULY|AUGUST|SEPTEMBER|OCTOBER|NOVEMBER|DECEMBER|" + _M + r")[ -]?(?:19|20)\d{2}" + _NA_DIG), 0.6),
    Pattern("date_ymd", "DATE", re.compile(_ND + r"(?:18|19|20)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])" + _TIME + r"(?![\d])"), 0.9),
    Pattern("date_mdy", "DATE", re.compile(_ND + r"(?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?:(?:18|19|20)\d{2}|\d{2})" + _TIME + r"(?!\d)(?![/.]\d)"), 0.85),
    Pattern("date_dmy", "DATE", re.compile(_ND + r"(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.](?:(?:18|19|20)\d{2}|\d{2})" + _TIME + r"(?!\d)(?![/.]\d)"), 0.85),
    # a year and month without the day is still a date element (a date cut short on screen)
    Pattern("date_ym", "DATE", re.compile(_ND + r"(?:18|19|20)\d{2}[-/](?:0[1-9]|1[0-2])(?![\d])(?![-/.]\d)"), 0.8),
    Pattern("date_my", "DATE", re.compile(_ND + r"(?:0?[1-9]|1[0-2])[-/](?:18|19|20)\d{2}(?![\d])(?![-/.]\d)"), 0.8),
    Pattern("date_compact", "DATE", re.compile(r"(?<!\d)(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:[0-2]\d[0-5]\d(?:[0-5]\d(?:\.\d{1,6})?)?)?(?!\d)"), 0.7, _compact_date),
    Pattern("date_zh", "DATE", re.compile(r"(?:(?:18|19|20)?\d{2}\s?年\s?)?\d{1,2}\s?月(?:\s?\d{1,2}\s?[日号])?"), 0.85,
            lambda s: "年" in s or "日" in s or "号" in s),
    Pattern("date_ymd_ocr", "DATE", re.compile(r"(?<![\w.])(?:18|19|20|[1Il][9B]|2[0O])" + _D + "{2}[-/.]" + _D + "{1,2}[-/.]" + _D + r"{1,2}(?![\w])"), 0.75,
            _ocr_ok(re.compile(r"(?:18|19|20)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"))),
    Pattern("date_mdy_ocr", "DATE", re.compile(r"(?<![\w.])" + _D + "{1,2}[-/.]" + _D + "{1,2}[-/.]" + _D + r"{2,4}(?![\w])"), 0.75,
            _ocr_ok(re.compile(r"(?:(?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])|(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2]))[-/.](?:(?:18|19|20)\d{2}|\d{2})"))),
    Pattern("date_dmy_mon_ocr", "DATE", _c(r"(?<![\w.])" + _D + "{1,2}[-/ .]?(?:" + _M + r")[-/ .,]*" + _D + r"{2,4}(?![\w])"), 0.75,
            _ocr_ok(_c(r"(?:0?[1-9]|[12]\d|3[01])[-/ .]?(?:" + _M + r")[-/ .,]*\d{2}(?:\d{2})?"))),
    Pattern("date_compact_ocr", "DATE", re.compile(r"(?<![\w])(?:19|20|[1Il][9B]|2[0O])" + _D + r"{6}(?![\w])"), 0.7,
            _ocr_ok(re.compile(r"\d{8}"), _compact_date)),
    # ---- age over 89
    Pattern("age_years", "AGE", _c(r"(?<![\d.])(?:9\d|1[0-3]\d)\s{0,2}(?:-\s?)?(?:Y/?[O0]|Y[O0]|YRS?|YEAR[S5]?(?:[- ]OLD)?|Y(?![A-Z])|岁|周岁)"), 0.85, _age_ok),
    Pattern("age_ocr", "AGE", _c(r"(?<![\d.])(?:9[0-9OIlSB]|[1Il][0-3OIl][0-9OIlSB])\s{0,2}(?:-\s?)?(?:Y/?[O0]|Y[O0]|YRS?|YEAR[S5]?(?:[- ]?OLD)?|岁)"), 0.8, _age_ocr_ok),
    Pattern("age_dicom", "AGE", re.compile(r"(?<![\w.])0(?:9\d|1[0-3]\d)Y(?![\w])"), 0.9, _age_ok),
    Pattern("age_label", "AGE", _c(r"(?:AGE|年龄)\s*[:：]?\s*(?P<v>(?:9\d|1[0-3]\d))(?!\d)"), 0.85, None, "v"),
    # ---- identifiers
    Pattern("cn_resident_id", "ID", re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])"), 0.97, cn_resident_id_ok),
    Pattern("cn_resident_id_bad_check", "ID", re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])"), 0.6),
    Pattern("ssn", "ID", re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"), 0.9, _ssn_ok),
    Pattern("luhn_card", "ID", re.compile(r"(?<!\d)\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{3,7}(?!\d)"), 0.8, luhn_ok),
    Pattern("labelled_id", "ID", _c(r"(?<![A-Z])(?:" + _ID_LABEL + r")\s*(?:[:#：.=]|NO\.?)?\s*(?P<v>[A-Z]{0,4}[-]?\d[\dA-Z-]{2,24})"), 0.92, None, "v"),
    Pattern("passport_cn", "ID", re.compile(r"(?<![\w])[EGDSP]\d{8}(?![\w])"), 0.75),
    Pattern("prefixed_number", "ID", re.compile(r"(?<![\w])[A-Z]{1,4}-?\d{5,}(?:-\d+)?(?![\w])"), 0.62),
    Pattern("long_number", "ID", re.compile(r"(?<![\w.,])\d{6,}(?![\w.,])"), 0.55),
    Pattern("dashed_number", "ID", re.compile(r"(?<![\w.-])\d{2,6}-\d{3,8}(?:-\d{1,8})?(?![\w.-])"), 0.4),
    # ---- phones
    Pattern("cn_mobile", "PHONE", re.compile(r"(?<![\d])(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)"), 0.9),
    Pattern("cn_landline", "PHONE", re.compile(r"(?<![\d])(?:\(0\d{2,3}\)|0\d{2,3}[- ])\s?\d{7,8}(?!\d)"), 0.85),
    Pattern("us_phone", "PHONE", _c(r"(?<![\w])(?:\+?1[-. ]?)?(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}(?:\s?(?:X|EXT\.?)\s?\d{1,5})?(?!\d)"), 0.88),
    Pattern("labelled_phone", "PHONE", _c(r"(?:TEL|PHONE|MOBILE|CELL|FAX|电话|手机|联系电话|联系方式)\.?\s*[:：]?\s*(?P<v>\+?[\d()][\d() -]{5,18}\d)"), 0.92, None, "v"),
    # ---- internet
    Pattern("email", "EMAIL", _c(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), 0.97),
    Pattern("url", "URL", _c(r"(?:https?://|www\.)[^\s<>\"'，。]+"), 0.93),
    Pattern("domain", "URL", _c(r"(?<![\w@.])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|edu|gov|cn|info|biz|io)(?:/[^\s]*)?(?![\w])"), 0.7),
    Pattern("ipv4", "IP", re.compile(r"(?<![\d.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d.])"), 0.88, _ipv4_ok),
    # ---- devices
    Pattern("device_serial", "DEVICE_ID", _c(r"(?<![A-Z])(?:" + _DEV_LABEL + r")\s*[:#：.]?\s*(?P<v>[A-Z0-9][A-Z0-9-]{3,24})"), 0.9, None, "v"),
    # ---- addresses and organisations
    Pattern("us_street", "ADDRESS", _c(r"(?<![\w])\d{1,6}\s(?:[A-Z][a-z]+\.?\s){1,3}(?:STREET|ST|AVENUE|AVE|ROAD|RD|BOULEVARD|BLVD|LANE|LN|DRIVE|DR|COURT|CT|WAY|PLACE|PL|TERRACE|CIRCLE|PARKWAY|HIGHWAY|SQUARE|ROUTE)\.?(?:,?\s(?:APT|SUITE|STE|UNIT)\.?\s?#?\w+)?(?![\w])"), 0.8),
    Pattern("us_state_zip", "ADDRESS", re.compile(r"(?<![\w])[A-Z]{2}\s\d{5}(?:-\d{4})?(?![\w])"), 0.75),
    Pattern("cn_address", "ADDRESS", re.compile(r"[\u4e00-\u9fff]{2,8}(?:省|自治区|市)[\u4e00-\u9fff]{0,12}(?:市|区|县|镇|乡)?[\u4e00-\u9fffA-Z0-9]{0,16}(?:路|街|道|巷|弄|村|号|座|室|楼|栋|单元)(?:[A-Z0-9]{1,5}(?:号|座|室|楼)?)?"), 0.8),
    Pattern("cn_street", "ADDRESS", re.compile(r"[\u4e00-\u9fff]{1,8}(?:路|街|大道|巷|弄)\s?\d{1,5}\s?号(?:[\dA-Z]{1,5}(?:室|栋|楼|座))?"), 0.8),
    Pattern("en_org", "ORGANIZATION", re.compile(r"(?:(?:St\.|Saint|University of|UNIVERSITY OF|ST\.)\s)?(?:[A-Z][\w'&.-]*\s){1,4}(?:Hospital|HOSPITAL|Medical Center|MEDICAL CENTER|Clinic|CLINIC|Imaging Center|IMAGING CENTER|Health System|HEALTH SYSTEM|Family Practice|Infirmary|Radiology Associates|Children's Hospital)(?![\w])"), 0.8),
    Pattern("cn_org", "ORGANIZATION", re.compile(r"[\u4e00-\u9fff]{2,16}(?:医院|卫生院|诊所|医疗中心|卫生服务中心|保健院|体检中心|医学院|医科大学)"), 0.82),
)

# Label words announce PHI but are not PHI: the model's spans never include them.
LABEL_WORDS = frozenset({
    "MRN", "MR", "ID", "PID", "ACC", "ACCESSION", "SSN", "DOB", "TEL", "PHONE", "MOBILE", "CELL",
    "FAX", "SN", "SERIAL", "NAME", "PATIENT", "PT", "DATE", "AGE", "SEX", "NO", "NUMBER", "EMAIL",
    "ADDRESS", "HOSPITAL", "INSTITUTION", "STUDY", "SERIES", "EXAM", "DR", "PROF", "PASSPORT",
    "INSURANCE", "POLICY", "ACCT", "ACCOUNT", "CASE",
})

# A label within this many characters before a match adds CONTEXT_BOOST to its score.
CONTEXT: dict[str, re.Pattern[str]] = {
    "ID": _c(r"(?:" + _ID_LABEL + r"|NUMBER|NO\.|#|编号|号码)\W{0,3}$"),
    "PHONE": _c(r"(?:TEL|PHONE|CALL|MOBILE|CELL|FAX|CONTACT|电话|手机|联系)\W{0,3}$"),
    "DATE": _c(r"(?:DOB|BIRTH|DATE|D\.O\.B|SEEN|ON|DATED|出生|日期|于)\W{0,3}$"),
    "DEVICE_ID": _c(r"(?:" + _DEV_LABEL + r")\W{0,3}$"),
}


def find(text: str, context_window: int, context_boost: float) -> Iterator[tuple[int, int, str, float, str]]:
    """Yield (start, end, entity, score, pattern name) for every validated match."""
    for p in PATTERNS:
        for m in p.regex.finditer(text):
            s, e = m.span(p.group) if p.group else m.span()
            value = text[s:e].strip()
            if not value or (p.validate is not None and not p.validate(value)):
                continue
            score = p.score
            ctx = CONTEXT.get(p.entity)
            if ctx is not None and p.group is None and ctx.search(text[max(0, s - context_window):s]):
                score = min(1.0, score + context_boost)
            yield s, e, p.entity, score, p.name
    yield from find_names(text)


# ---- names announced by a label, and DICOM person-name shapes
# "Name: DOE JOHN", "PATIENT NAME DOE^JOHN", OCR-glued "NAME:DOEJOHN", "PATIENTLAURA HUGHES",
# "PtJOHN SMITH", "姓名：张三": the words after a name label are a name unless they are a label,
# a function word or a clinical word. The model sees these too; the rule covers positions and
# glued forms it never learned.
_NAME_LABEL = re.compile(
    r"(?<![A-Za-z])(?P<lab>PATIENT(?:'S|S)?[ \t]*NAME|PAT(?:IENT)?\.?[ \t]*NAME|PT\.?[ \t]*NAME|"
    r"NAME|P ?A ?T ?[I1L|] ?E ?N ?T|PT|姓名|患者|病人|受检者|医生|医师|主任|技师|审核|检查者|记录者)"
    r"(?P<sep>[ \t]*[:：=][ \t]*|\.[ \t]*|[ \t]+|)", re.IGNORECASE)
_ZH_NAME_LABEL = re.compile(r"(?:姓名|受检者|患者姓名|病人姓名)[ \t]*[:：]?[ \t]*(?P<v>[\u4e00-\u9fff]{2,4})(?![\u4e00-\u9fff])")
_NAME_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*(?:[0-9][A-Za-z]+)*")
_NAME_JOIN = re.compile(r"[ \t]{1,3}|[ \t]*,[ \t]*|\^+|\.[ \t]?|-")
# Words after a name label that are not names: labels, function words, and what follows
# "patient" in clinical vocabularies and DICOM attribute names (position, weight, ...).
_NAME_STOP = frozenset("""
ID MRN PID DOB BIRTH BIRTHDATE AGE SEX GENDER DATE TIME ACC ACCESSION NO NUMBER NUM TEL PHONE ADDRESS
HOSPITAL INSTITUTION SERIES STUDY EXAM ACQ IMAGE IMG NAME NAMES PATIENT PATIENTS PT PAT DR MR MRS MS
CT MRI US DX CR XA PET NM MG RF DSA ECT SPECT DR CTA MRA X RAY XRAY DWI ADC TOF MRCP
IS ISNT WAS WERE HAS HAD HAVE WITH WITHOUT PRESENTS PRESENTED PRESENTING TOLERATED UNDERWENT IN ON AT
OF TO FOR FROM AND OR BUT THE A AN NOT NONE SEEN REFERRED DECLINED STATES STATED REPORTS REPORTED
DENIES DENIED RETURNED RETURNS WILL WOULD SHOULD MAY CAN COULD WHO WHICH THAT THIS THESE THOSE
POSITION POSITIONED POSITIONING ORIENTATION SUPINE PRONE ERECT UPRIGHT LEFT RIGHT MALE FEMALE YEARS
YEAR YO YRS OLD HISTORY CONSENT CONSENTED INFORMED IDENTIFIED IDENTIFICATION IDENTITY TRANSFERRED
ADMITTED DISCHARGED ARRIVED REFUSED ASKED INSTRUCTED NOTIFIED CARE EDUCATION SAFETY MONITORING
PREPARATION PREP PREPPED SETUP TABLE WEIGHT HEIGHT SIZE TYPE LIST CLASS STATUS STATE RECORD RECORDS
CATEGORY INFORMATION INFO COMMENTS COMMENT NOTES NOTE DATA MODEL RADIATION MOTION MOVEMENT SUPPORT
GIVEN ALIGNMENT ANATOMY ASSESSMENT ATTENUATION CHARACTERISTICS CLEARANCE CONSCIOUSNESS COORDINATE
DISTRACTION EQUIVALENT FIXATION LOCATION PRESENTATION REPOSITIONED SEGMENTED SHIELDING ADVANCE ALERT
ALLERGIC ASLEEP ASSISTED CALLED CONDITION COUGHED CURRENTLY DECISION DID DIED DISORIENTED ELEVATION
EXPOSURE IMMUNOCOMPROMISED MENTAL PREGNANT PRONOUNCED RESTLESS ROTATION SEDATED UNRESPONSIVE
ATTACHED REMAINS REMAINED STABLE UNABLE ABLE NEEDS NEEDED REQUIRES REQUIRED RECEIVED RECEIVES TAKES
TAKING TOOK KNOWN UNKNOWN ANONYMOUS ANON UNK NA N/A NONE TEST PHANTOM QA QC MOTHER MOTHERS FATHER
RELIGIOUS SPECIES BREED INSURANCE PLAN TELEPHONE TELEPHONES PRIMARY LANGUAGE ETHNIC GROUP COMMENT
BODY MASS INDEX CHART LOG WEIGHTED DOSE PARAMETERS PROTOCOL SERVICE SERVICES PORTAL REGISTRATION
""".split())
NAME_STOP = _NAME_STOP  # also ordinary words for the name lexicon (names.py)
_NAME_STOP_SUFFIX = ("TION", "SION", "MENT", "NESS", "ITY", "ATED", "IZED", "ISED", "OSIS", "ITIS",
                     "ECTOMY", "GRAPHY", "SCOPY", "ALLY", "IOUS", "ICAL", "ABLE", "IBLE")
_GLUED_NOT_NAME = frozenset({"S", "SS", "D", "LY", "HOOD", "LESS", "SAKE", "PLATE", "TAG", "TAGS"})
# A DICOM person name with its component separator: DOE^JOHN, DOE^JOHN^A^^ (two letters at
# least before and after the first caret keeps out isotopes such as F^18^ and Cu^64^).
_PN_CARET = re.compile(r"(?<![A-Za-z0-9^])[A-Za-z][A-Za-z'’-]+\^+[A-Za-z][A-Za-z'’.-]+(?:\^+[A-Za-z'’.-]*)*")


def _name_word_ok(word: str, first: bool) -> bool:
    up = word.upper()
    if up in _NAME_STOP or (len(up) > 5 and up.endswith(_NAME_STOP_SUFFIX)):
        return False
    if first and (word.islower() or len(word) == 1 and not word.isupper()):
        return False  # free text: "Patient tolerated ...", "Name: a ..."
    return True


def find_names(text: str) -> Iterator[tuple[int, int, str, float, str]]:
    """Names after a name label (``name_label``) and caret-separated DICOM names (``pn_caret``)."""
    for m in _NAME_LABEL.finditer(text):
        lab, sep = m.group("lab"), m.group("sep")
        pos = m.end()
        if pos >= len(text) or not text[pos].isalpha():
            continue
        bare = re.sub(r"[\s.]", "", lab.upper()).replace("1", "I").replace("L", "I").replace("|", "I")
        if not sep and "\u4e00" <= lab[-1] <= "\u9fff":
            pass  # Chinese text runs a romanised name into its label: 主治医生HE WEI
        elif not sep:  # glued to the label by OCR
            head = re.match(r"[A-Za-z]+", text[pos:])
            rest = head.group() if head else ""
            case_change = lab[-1].islower() and text[pos].isupper()
            if not case_change and (bare in ("PT",) or len(rest) < 3 or rest.upper() in _GLUED_NOT_NAME):
                continue
        elif bare == "PT" and ":" not in sep and "：" not in sep and "=" not in sep:
            continue  # "PT INR", "PT eval": a bare "PT" needs a colon or a glued name
        words: list[tuple[int, int]] = []
        p = pos
        while len(words) < 4:
            w = _NAME_WORD.match(text, p)
            if not w or not _name_word_ok(w.group(), not words):
                break
            words.append(w.span())
            j = _NAME_JOIN.match(text, w.end())
            if not j or j.end() >= len(text):
                break
            p = j.end()
        if not words:
            continue
        s, e = words[0][0], words[-1][1]
        if sum(c.isalpha() for c in text[s:e]) < 2:
            continue
        yield s, e, "PERSON", 0.85 if sep else 0.8, "name_label"
    for m in _ZH_NAME_LABEL.finditer(text):
        s, e = m.span("v")
        yield s, e, "PERSON", 0.85, "name_label"
    for m in _PN_CARET.finditer(text):
        s, e = m.span()
        while e > s and text[e - 1] in "^.-'’":
            e -= 1
        yield s, e, "PERSON", 0.9, "pn_caret"
