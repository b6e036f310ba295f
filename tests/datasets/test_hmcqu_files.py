"""HMC-QU's spreadsheet and mask files: header found by name, bad rows and files reported clearly."""

from __future__ import annotations

import numpy as np
import openpyxl
import pytest
import scipy.io

from echo_monai.datasets.hmcqu import read_hmcqu_mask, read_hmcqu_sheet, recording_key
from echo_monai.errors import EchoDataError


def _sheet(path, rows):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "A4C"
    for row in rows:
        ws.append(row)
    wb.save(path)


def test_header_found_by_name_below_a_title_with_columns_in_any_order(tmp_path):
    path = tmp_path / "A4C.xlsx"
    _sheet(path, [
        ["HMC-QU A4C recordings"],
        [],
        ["End of Cycle", "SEG7", "SEG6", "ECHO", "SEG1", "SEG2", "SEG3", "SEG5", "Reference Frame"],
        [25, 0, 0, "ES0001 _4CH_1", 1, 1, 0, 0, 3],
        [30, 1, 1, "ES0002_4CH_1", 0, 0, 0, 1, 1],
        [None, None, None, None, None, None, None, None, None],
    ])
    rows, problems = read_hmcqu_sheet(path)
    assert problems == []
    assert [(r.recording, r.start_frame, r.end_frame) for r in rows] == [("ES0001 _4CH_1", 3, 25),
                                                                        ("ES0002_4CH_1", 1, 30)]
    # Dataset order: SEG1, SEG2, SEG3 (septal, AHA 3, 9, 14), SEG5, SEG6, SEG7 (lateral, AHA 16, 12, 6).
    assert rows[0].infarcted == (True, True, False, False, False, False)
    assert rows[1].infarcted == (False, False, False, True, True, True)


def test_two_row_header_and_aha_numbered_segments(tmp_path):
    path = tmp_path / "A4C.xlsx"
    _sheet(path, [
        ["", "Infarcted segments", "", "", "", "", "", "Cycle", ""],
        ["ID", "AHA 3", "AHA 9", "AHA 14", "AHA 16", "AHA 12", "AHA 6", "Start frame", "End of cycle frame"],
        ["r1", "yes", "no", "no", "no", "no", "yes", 2, 20],
    ])
    rows, problems = read_hmcqu_sheet(path)
    assert problems == [] and rows[0].infarcted == (True, False, False, False, False, True)


def test_bad_rows_are_reported_and_the_rest_read(tmp_path):
    path = tmp_path / "A4C.xlsx"
    _sheet(path, [
        ["ECHO", "SEG1", "SEG2", "SEG3", "SEG5", "SEG6", "SEG7", "Reference Frame", "End of Cycle"],
        ["a", 0, 0, 0, 0, 0, 0, "n/a", 20],
        ["b", 0, 0, 0, 0, 0, 0, 20, 5],
        ["c", 0, 2.5, "maybe", 0, 0, 0, 1, 5],
        ["d", 0, 0, 0, 0, 0, 0, 1, 5],
    ])
    rows, problems = read_hmcqu_sheet(path)
    assert [r.recording for r in rows] == ["d"]
    reasons = {p.label: p.reason for p in problems}
    assert [p.recording for p in problems] == ["a", "b", "c"]
    assert "not numbers" in reasons["A4C.xlsx row 2 (a)"]
    assert "increasing" in reasons["A4C.xlsx row 3 (b)"]
    assert "not 0/1" in reasons["A4C.xlsx row 4 (c)"]


def test_a_sheet_without_the_needed_columns_says_what_it_saw(tmp_path):
    path = tmp_path / "A4C.xlsx"
    _sheet(path, [["Patient", "Score"], ["x", 1]])
    with pytest.raises(EchoDataError, match="no header row") as err:
        read_hmcqu_sheet(path)
    assert "Score" in str(err.value)
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(EchoDataError, match="not a readable .xlsx"):
        read_hmcqu_sheet(tmp_path / "broken.xlsx")


def test_mask_reading_and_its_errors(tmp_path):
    mask = np.zeros((5, 8, 8), dtype=np.uint8)
    mask[:, 2:5, 2:5] = 1
    scipy.io.savemat(tmp_path / "Mask_a.mat", {"predicted": mask})
    np.testing.assert_array_equal(read_hmcqu_mask(tmp_path / "Mask_a.mat"), mask)

    scipy.io.savemat(tmp_path / "Mask_b.mat", {"labels": mask})
    with pytest.raises(EchoDataError, match="no variable 'predicted'.*labels"):
        read_hmcqu_mask(tmp_path / "Mask_b.mat")
    scipy.io.savemat(tmp_path / "Mask_c.mat", {"predicted": mask * 3})
    with pytest.raises(EchoDataError, match="not binary"):
        read_hmcqu_mask(tmp_path / "Mask_c.mat")
    scipy.io.savemat(tmp_path / "Mask_d.mat", {"predicted": mask[0]})
    with pytest.raises(EchoDataError, match=r"\(frames, H, W\)"):
        read_hmcqu_mask(tmp_path / "Mask_d.mat")
    (tmp_path / "Mask_e.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(EchoDataError, match="not a readable MATLAB"):
        read_hmcqu_mask(tmp_path / "Mask_e.mat")


def test_matlab_v73_file_gets_a_clear_answer(tmp_path):
    # A v7.3 MAT file is HDF5 behind a 128-byte MATLAB header whose version field is 0x0200.
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    path = tmp_path / "Mask_v73.mat"
    path.write_bytes(header.ljust(124, b" ") + b"\x00\x02IM" + b"\x00" * 512)
    try:
        import h5py  # noqa: F401
    except ImportError:
        with pytest.raises(EchoDataError, match="v7.3.*h5py"):
            read_hmcqu_mask(path)
    else:
        with pytest.raises(EchoDataError, match="MATLAB v7.3"):
            read_hmcqu_mask(path)


def test_recording_keys_match_names_with_spaces_and_prefixes():
    assert recording_key("ES0001 _4CH_1.avi") == recording_key("Mask_ES0001 _4CH_1.mat") == "es0001_4ch_1"
    assert recording_key("ES0001_4CH_1") == "es0001_4ch_1"
