"""HMC-QU layout export: video names, mask variable and shape, spreadsheet layout."""

from __future__ import annotations

import numpy as np
import openpyxl
import pytest
import scipy.io

from echo_monai.errors import EchoDataError
from echo_monai.io.video import read_video
from echo_monai.synthetic.hmcqu import export_hmcqu


def test_export_layout(tmp_path):
    out = tmp_path / "hmcqu"
    records = export_hmcqu(out, n_recordings=3, n_frames=40, size=(120, 180), seed=4, mask_fraction=1.0)
    assert len(records) == 3
    wb = openpyxl.load_workbook(out / "A4C.xlsx")
    rows = list(wb["A4C"].iter_rows(values_only=True))
    header = list(rows[1])
    assert header[0] == "ECHO" and header[-2:] == ["Reference Frame", "End of Cycle"]
    assert header[1:7] == ["SEG1", "SEG2", "SEG3", "SEG5", "SEG6", "SEG7"]
    for rec, row in zip(records, rows[2:]):
        video = read_video(out / "HMC-QU" / "A4C" / f"{rec['id']}.avi")
        assert video.frames.shape[:3] == (40, 120, 180) and video.frame_rate_hz == pytest.approx(25.0)
        assert row[0] == rec["id"] and list(row[1:7]) == [int(v) for v in rec["infarcted"]]
        mat = scipy.io.loadmat(out / "LV Ground-truth Segmentation Masks" / f"Mask_{rec['id']}.mat")
        pred = mat["predicted"]
        assert pred.shape == (rec["end_frame"] - rec["start_frame"] + 1, 224, 224)
        assert set(np.unique(pred)) == {0, 1}
        assert 1 <= rec["start_frame"] < rec["end_frame"] <= 40
    assert any(" " in r["id"] for r in records) or all("_4CH_" in r["id"] for r in records)
    # the project's own HMC-QU reader understands the export
    hmcqu = pytest.importorskip("echo_monai.datasets.hmcqu")
    rows, problems = hmcqu.read_hmcqu_sheet(out / "A4C.xlsx")
    assert problems == []
    assert [(r.recording, r.start_frame, r.end_frame, list(r.infarcted)) for r in rows] == [
        (r["id"], r["start_frame"], r["end_frame"], r["infarcted"]) for r in records]


def test_export_refuses_non_empty_folder(tmp_path):
    (tmp_path / "x.txt").write_text("keep")
    with pytest.raises(EchoDataError):
        export_hmcqu(tmp_path, n_recordings=1)
