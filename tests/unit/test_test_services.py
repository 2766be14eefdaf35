"""How the suite finds its MariaDB and RabbitMQ: the machine's when they answer, its own
otherwise (started in tests/conftest.py), and the exact install line when a program is
missing."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.support.services import MissingProgramError, plan_test_services, program


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_server_that_answers_is_used_and_a_missing_one_planned(listening: int) -> None:
    env = {"SAV_TEST_MYSQL_PORT": str(listening), "SAV_TEST_RABBITMQ_PORT": str(closed_port()),
           "SAV_TEST_REDIS_PORT": str(listening)}
    services = plan_test_services(env)
    assert list(services.planned) == ["RABBITMQ"]
    assert env["SAV_TEST_MYSQL_PORT"] == str(listening)
    assert env["SAV_TEST_RABBITMQ_PORT"] == str(services.planned["RABBITMQ"])
    assert not services.own  # nothing runs until a test needs it


def test_own_plans_both_and_machine_none(listening: int) -> None:
    answering = {f"SAV_TEST_{kind}_PORT": str(listening) for kind in ("MYSQL", "RABBITMQ",
                                                                      "REDIS")}
    own = plan_test_services({**answering, "SAV_TEST_SERVICES": "own"})
    assert sorted(own.planned) == ["MYSQL", "RABBITMQ", "REDIS"]
    assert not plan_test_services({"SAV_TEST_SERVICES": "machine"}).planned
    with pytest.raises(ValueError, match="auto, own or machine"):
        plan_test_services({"SAV_TEST_SERVICES": "docker"})


def test_a_missing_program_names_the_package_to_install() -> None:
    with pytest.raises(MissingProgramError, match=r"sudo apt-get install -y sav-imaginary$"):
        program("sav-imaginary-daemon", "sav-imaginary")
