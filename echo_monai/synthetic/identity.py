"""Obviously fake patient identifiers for synthetic DICOM files.

Every value carries a marker (``ZZFAKE`` names, ``SYN`` IDs and accession numbers, "Synthetic ...
Hospital") so that a de-identification test can search any output for them and nobody mistakes them
for real people.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fake_patient"]

_SYLLABLES = ("ba", "ko", "ri", "mu", "ten", "sa", "lo", "vi", "dar", "nel", "qu", "zo", "fen", "ta", "mi")
_GIVEN = ("Alba", "Bruno", "Cleo", "Dario", "Edda", "Fritz", "Greta", "Hugo", "Ines", "Jonas", "Kira", "Lars")
_TOWNS = ("Northfield", "Lakeside", "Westbrook", "Riverton", "Hillcrest", "Oakdale", "Brightwater")


def fake_patient(rng: np.random.Generator, index: int) -> dict[str, str]:
    """Fake identifiers for synthetic patient ``index``: keys ``name, id, birth_date, sex, accession,
    institution, referring_physician`` (the keys of :func:`echo_monai.io.write_echo_dicom`'s ``patient``)."""
    family = "ZZFAKE" + "".join(str(rng.choice(_SYLLABLES)) for _ in range(2)).upper()
    given = str(rng.choice(_GIVEN)).upper()
    year = int(rng.integers(1935, 2004))
    month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
    return {
        "name": f"{family}^{given}",
        "id": f"SYN{index:04d}{int(rng.integers(0, 10 ** 5)):05d}",
        "birth_date": f"{year:04d}{month:02d}{day:02d}",
        "sex": str(rng.choice(["F", "M"])),
        "accession": f"SYNACC{int(rng.integers(0, 10 ** 8)):08d}",
        "institution": f"Synthetic {rng.choice(_TOWNS)} Hospital",
        "referring_physician": f"ZZFAKEDOC^{str(rng.choice(_GIVEN)).upper()}",
    }
