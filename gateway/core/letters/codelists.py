"""The code lists of the agency interface (DESIGN section 3, "Code lists in use").

Served by GetSecretCodes, GetSpeedCodes, GetMimeCodes and
GetMinistryOrganizationList, and used to validate letters. Pure data.
"""
from __future__ import annotations

from types import MappingProxyType

# ชั้นความเร็ว
SPEED_CODES = MappingProxyType({
    "001": "ปกติ",
    "002": "ด่วน",
    "003": "ด่วนมาก",
    "004": "ด่วนที่สุด",
})

# ชั้นความลับ. The regulation keeps ลับที่สุด (004) off electronic channels:
# a node refuses it unless its operator has configured otherwise.
SECRET_CODES = MappingProxyType({
    "001": "ปกติ",
    "002": "ลับ",
    "003": "ลับมาก",
    "004": "ลับที่สุด",
    "005": "ลับเฉพาะบุคคล",
})
TOP_SECRET = "004"

# File extension -> Content-type. The mimeCode attribute of a binary object
# may carry either form; both are accepted and the content type is canonical.
MIME_CODES = MappingProxyType({
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "rtf": "application/rtf",
    "txt": "text/plain",
    "zip": "application/zip",
    "jpg": "image/jpeg",
    "png": "image/png",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
})
_CONTENT_TYPES = frozenset(MIME_CODES.values())

MINISTRIES = MappingProxyType({
    "01": "สำนักนายกรัฐมนตรี",
    "02": "กระทรวงกลาโหม",
    "03": "กระทรวงการคลัง",
    "04": "กระทรวงการต่างประเทศ",
    "05": "กระทรวงการท่องเที่ยวและกีฬา",
    "06": "กระทรวงการพัฒนาสังคมและความมั่นคงของมนุษย์",
    "07": "กระทรวงเกษตรและสหกรณ์",
    "08": "กระทรวงคมนาคม",
    "09": "กระทรวงทรัพยากรธรรมชาติและสิ่งแวดล้อม",
    "12": "กระทรวงพลังงาน",
    "13": "กระทรวงพาณิชย์",
    "15": "กระทรวงมหาดไทย",
    "16": "กระทรวงยุติธรรม",
    "17": "กระทรวงแรงงาน",
    "18": "กระทรวงวัฒนธรรม",
    "20": "กระทรวงศึกษาธิการ",
    "21": "กระทรวงสาธารณสุข",
    "22": "กระทรวงอุตสาหกรรม",
    "25": "ส่วนราชการไม่สังกัดสำนักนายกรัฐมนตรี กระทรวง หรือทบวง",
    "26": "องค์กรตามรัฐธรรมนูญ",
    "50": "รัฐวิสาหกิจ",
    "99": "อื่นๆ",
})


def canonical_mime(code: str) -> str | None:
    """The content type for a mimeCode given as extension or content type, or None."""
    value = code.strip().lower()
    if value.startswith("."):
        value = value[1:]
    if value in MIME_CODES:
        return MIME_CODES[value]
    if value == "jpeg":
        return MIME_CODES["jpg"]
    if value == "tif":
        return MIME_CODES["tiff"]
    if value in _CONTENT_TYPES:
        return value
    return None
