"""Who is issuing a command or query."""

from __future__ import annotations

from dataclasses import dataclass

from sav.events.rules import STAFF_ROLES, Role


@dataclass(frozen=True)
class Actor:
    user_id: str | None
    role: str
    email: str | None = None
    name: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def label(self) -> str:
        """Recorded as `by` on events."""
        return self.user_id or f"{self.role}:anonymous"


SYSTEM = Actor(user_id="system", role=Role.ADMIN, name="SAV automation")


def public_actor(email: str | None, name: str | None) -> Actor:
    """An anonymous customer proven by a ticket's access token."""
    return Actor(user_id=None, role=Role.CUSTOMER, email=email, name=name)
