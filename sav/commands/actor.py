"""Who is issuing a command or query."""

from __future__ import annotations

from dataclasses import dataclass

from sav.events.rules import STAFF_ROLES, SYSTEM_ROLE, Role, Who
from sav.events.rules import SYSTEM as SYSTEM_WHO


@dataclass(frozen=True)
class Actor:
    user_id: str | None
    role: str
    email: str | None = None
    name: str | None = None

    @property
    def is_staff(self) -> bool:
        """Works tickets (agents, admins): the staff side's rights to change things."""
        return self.role in STAFF_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def read_only(self) -> bool:
        """Analysts read what admins read and change nothing (every command is a 403)."""
        return self.role == Role.ANALYST

    @property
    def sees_internal(self) -> bool:
        """Reads the staff's side: internal notes, their attachments, `internal_notes`."""
        return self.is_staff or self.read_only

    @property
    def sees_every_ticket(self) -> bool:
        return self.is_admin or self.read_only

    @property
    def who(self) -> Who:
        """As events record it: automations and platform events act as the system."""
        if self.user_id == SYSTEM_WHO.id or (self.user_id or "").startswith("platform:"):
            return Who(self.user_id, SYSTEM_ROLE)
        return Who(self.user_id, self.role)

    @property
    def label(self) -> str:
        """Recorded as `by` on events."""
        return self.user_id or f"{self.role}:anonymous"


SYSTEM = Actor(user_id="system", role=Role.ADMIN, name="SAV automation")


def public_actor(email: str | None, name: str | None) -> Actor:
    """An anonymous customer proven by a ticket's access token."""
    return Actor(user_id=None, role=Role.CUSTOMER, email=email, name=name)
