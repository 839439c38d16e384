"""The offline policy (dl_helpers.offline): the switch, and with_fallback's three modes."""

from __future__ import annotations

import pytest

from dl_helpers.offline import OfflineDataWarning, resolve_offline, with_fallback


@pytest.mark.parametrize(
    "arg, env, expected",
    [
        (True, {}, True),
        (False, {"DL_HELPERS_OFFLINE": "1"}, False),  # the argument wins
        (None, {"DL_HELPERS_OFFLINE": "yes"}, True),
        (None, {"DL_HELPERS_OFFLINE": "0"}, False),
        (None, {}, None),
    ],
)
def test_resolve_offline(arg, env, expected):
    assert resolve_offline(arg, env) is expected


def test_bad_offline_value_is_named():
    with pytest.raises(ValueError, match="DL_HELPERS_OFFLINE='maybe'"):
        resolve_offline(None, {"DL_HELPERS_OFFLINE": "maybe"})


class Calls:
    def __init__(self, error=None):
        self.error = error
        self.real = self.standin = 0

    def do_real(self):
        self.real += 1
        if self.error is not None:
            raise self.error
        return "real"

    def do_standin(self):
        self.standin += 1
        return "standin"


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv("DL_HELPERS_OFFLINE", raising=False)  # the test run sets it


def test_real_thing_when_it_works():
    c = Calls()
    assert with_fallback("X", c.do_real, c.do_standin, "a stand-in", None) == "real"
    assert with_fallback("X", c.do_real, c.do_standin, "a stand-in", False) == "real"
    assert (c.real, c.standin) == (2, 0)


def test_offline_true_never_tries_the_real_thing(capsys):
    c = Calls()
    with pytest.warns(OfflineDataWarning, match=r"X: a stand-in \(offline requested"):
        assert with_fallback("X", c.do_real, c.do_standin, "a stand-in", True) == "standin"
    assert (c.real, c.standin) == (0, 1)
    assert "OFFLINE STAND-IN for X" in capsys.readouterr().err


def test_the_environment_switch_is_obeyed(monkeypatch):
    monkeypatch.setenv("DL_HELPERS_OFFLINE", "1")
    c = Calls()
    with pytest.warns(OfflineDataWarning):
        assert with_fallback("X", c.do_real, c.do_standin, "a stand-in") == "standin"
    assert c.real == 0


def test_failure_falls_back_loudly_only_by_default():
    c = Calls(OSError("no route to host"))
    with pytest.warns(OfflineDataWarning, match="download failed: OSError.*no route to host"):
        assert with_fallback("X", c.do_real, c.do_standin, "a stand-in", None) == "standin"
    with pytest.raises(OSError, match="no route to host"):
        with_fallback("X", c.do_real, c.do_standin, "a stand-in", False)
    assert (c.real, c.standin) == (2, 1)


def test_unexpected_errors_propagate():
    c = Calls(KeyError("a bug"))
    with pytest.raises(KeyError):
        with_fallback("X", c.do_real, c.do_standin, "a stand-in", None)
    c = Calls(RuntimeError("keras says no"))
    with pytest.warns(OfflineDataWarning):
        with_fallback("X", c.do_real, c.do_standin, "w", None, errors=(RuntimeError,))


def test_a_packaged_copy_is_not_announced(recwarn):
    c = Calls(OSError("offline"))
    assert with_fallback("X", c.do_real, c.do_standin, None, None) == "standin"
    assert not [w for w in recwarn if issubclass(w.category, OfflineDataWarning)]
