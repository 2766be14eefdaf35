"""The virus scanner's settings: production refuses to start without one unless
SAV_CLAMAV_FAIL_OPEN=true says uploads may go unscanned; the socket wins over TCP."""

from __future__ import annotations

import pytest

from sav.bootstrap import scanner_for
from sav.config import ConfigError, load_settings
from sav.storage.scanner import ClamdScanner, NoScanner
from tests.unit.test_production_config import PRODUCTION

WITHOUT_SCANNER = {k: v for k, v in PRODUCTION.items() if not k.startswith("SAV_CLAMAV_")}


def test_production_refuses_to_start_without_a_scanner() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(WITHOUT_SCANNER)
    assert str(refused.value).count(";") == 0  # only that one
    assert "SAV_CLAMAV_HOST" in str(refused.value) and "SAV_CLAMAV_SOCKET" in str(refused.value)


@pytest.mark.parametrize("scanner", [{"SAV_CLAMAV_HOST": "clamav"},
                                     {"SAV_CLAMAV_SOCKET": "/run/clamav/clamd.ctl"},
                                     {"SAV_CLAMAV_FAIL_OPEN": "true"}])
def test_production_starts_with_a_scanner_or_an_explicit_fail_open(
        scanner: dict[str, str]) -> None:
    settings = load_settings({**WITHOUT_SCANNER, **scanner})
    assert settings.app_env == "production"


def test_fail_open_false_is_still_refused_without_a_scanner() -> None:
    with pytest.raises(ConfigError, match="SAV_CLAMAV_HOST"):
        load_settings({**WITHOUT_SCANNER, "SAV_CLAMAV_FAIL_OPEN": "false"})


def test_the_scanner_follows_the_settings() -> None:
    assert isinstance(scanner_for(load_settings({})), NoScanner)
    tcp = scanner_for(load_settings({"SAV_CLAMAV_HOST": "clamav", "SAV_CLAMAV_PORT": "3311",
                                       "SAV_CLAMAV_TIMEOUT": "5"}))
    assert isinstance(tcp, ClamdScanner) and tcp.address == "clamav:3311"
    assert tcp.timeout == 5 and not tcp.fail_open
    both = scanner_for(load_settings({"SAV_CLAMAV_HOST": "clamav",
                                        "SAV_CLAMAV_SOCKET": "/run/clamd.sock",
                                        "SAV_CLAMAV_FAIL_OPEN": "yes"}))
    assert isinstance(both, ClamdScanner) and both.address == "unix:/run/clamd.sock"
    assert both.fail_open
