"""Bodies take JSON's types as the document states them (issue 19, item 15): `true` is
not a number, `0` or `"true"` not a boolean, `2.5` not an integer (`2.0` is 2, as in JSON
Schema); a whole number is a valid `number`. Found by schemathesis's negative-data check
(`next_response_minutes: true` was read as 1 minute)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from sav.commands.macros import MacroBody
from sav.sla.commands import PolicyBody

POLICY = {"first_response_minutes": 30, "resolution_minutes": 480.5}
MACRO = {"title": "Parcel replaced", "content": "A new one ships today."}


@pytest.mark.parametrize(("model", "valid", "field", "value"), [
    (PolicyBody, POLICY, "next_response_minutes", True),
    (PolicyBody, POLICY, "first_response_minutes", True),
    (PolicyBody, POLICY, "resolution_minutes", "480"),
    (PolicyBody, POLICY, "position", True),
    (PolicyBody, POLICY, "position", 2.5),
    (PolicyBody, POLICY, "business_hours", 1),
    (PolicyBody, POLICY, "business_hours", "true"),
    (MacroBody, MACRO, "is_internal", 0),
    (MacroBody, MACRO, "is_internal", "true"),
])
def test_a_value_of_another_json_type_is_refused(
        model: type[BaseModel], valid: dict[str, Any], field: str, value: Any) -> None:
    model.model_validate(valid)
    with pytest.raises(ValidationError):
        model.model_validate({**valid, field: value})


def test_whole_numbers_are_numbers_and_booleans_are_booleans() -> None:
    policy = PolicyBody.model_validate({**POLICY, "next_response_minutes": 60,
                                        "position": -3.0, "business_hours": True})
    assert (policy.next_response_minutes, policy.position, policy.business_hours) == (
        60.0, -3, True)
    assert MacroBody.model_validate({**MACRO, "is_internal": True}).is_internal is True
