import pickle

from echo_monai.errors import ECGError, EchoDataError


def test_errors_name_the_file_and_survive_pickling():
    for cls in (EchoDataError, ECGError):
        err = cls("/data/study/IM_0001.dcm", "the image has zero frames")
        assert str(err) == "IM_0001.dcm: the image has zero frames"
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is cls and back.path == err.path and back.problem == err.problem and str(back) == str(err)


def test_error_without_a_file():
    err = EchoDataError(None, "empty datalist")
    assert str(err) == "empty datalist" and err.path is None
    assert isinstance(err, ValueError)
