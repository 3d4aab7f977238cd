"""Test data every suite shares: the Ministry of Education's organisations, a real PDF, fresh letter numbers."""
from __future__ import annotations

import base64
import itertools
import uuid

CENTRAL = "2000100000"       # สำนักงานปลัดกระทรวงศึกษาธิการ
REGION1 = "2000201000"       # สำนักงานศึกษาธิการภาค 1
CHIANGMAI = "2000350000"     # สำนักงานศึกษาธิการจังหวัดเชียงใหม่
KHONKAEN = "2000340000"      # สำนักงานศึกษาธิการจังหวัดขอนแก่น

# A tiny but real PDF, so the files clients store open.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")
PDF_B64 = base64.b64encode(PDF).decode()


# A random start per process, then a counter: 200 random 5-digit numbers collided about one run in six
# (the birthday bound), which a test writing letters during a backup once met as 2005.
_NUMBERS = itertools.count(uuid.uuid4().int % 9_000_000 + 1_000_000)


def unique_letter_id(prefix: str = "ศธ 0210") -> str:
    """A Thai letter number that is new in every test run (and never repeats within one process)."""
    return f"{prefix}/{next(_NUMBERS)}"
