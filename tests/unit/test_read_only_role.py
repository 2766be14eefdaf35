"""Analysts read and never change anything: every command handler refuses a read-only
actor before it loads or checks anything (`sav.commands.policy.command_handler`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from sav.commands import agents, attachments, messages, tickets
from sav.commands.actor import Actor
from sav.commands.app import SavApplication
from sav.events.errors import PermissionDeniedError
from sav.events.rules import Role

ANALYST = Actor("analyst-1", Role.ANALYST)
MODULES: tuple[ModuleType, ...] = (tickets, messages, attachments, agents)


def takes_an_actor(function: Callable[..., Any]) -> bool:
    """A synchronous `handler(app, actor, ...)`: how every command handler starts."""
    if inspect.iscoroutinefunction(function):
        return False
    names = list(inspect.signature(function).parameters)
    return names[:2] == ["app", "actor"]


HANDLERS = [
    function for module in MODULES for name, function in vars(module).items()
    if inspect.isfunction(function) and not name.startswith("_")
    and function.__module__ == module.__name__ and takes_an_actor(function)
]


def test_the_handlers_are_found() -> None:
    names = {handler.__name__ for handler in HANDLERS}
    assert {"create_ticket", "post_message", "check_upload", "upsert_agent"} <= names
    assert len(HANDLERS) == 21


@pytest.mark.parametrize("handler", HANDLERS, ids=lambda handler: handler.__name__)
def test_every_command_handler_refuses_read_only_roles(app: SavApplication,
                                                       handler: Callable[..., Any]) -> None:
    assert getattr(handler, "command_handler", False), f"{handler.__name__} is not marked"
    arity = len(inspect.signature(handler).parameters) - 2
    with pytest.raises(PermissionDeniedError):
        handler(app, ANALYST, *[None] * arity)


def test_analysts_read_like_admins_but_are_not_staff() -> None:
    assert ANALYST.read_only and ANALYST.sees_internal and ANALYST.sees_every_ticket
    assert not ANALYST.is_staff and not ANALYST.is_admin
