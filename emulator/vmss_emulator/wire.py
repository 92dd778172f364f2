"""Request bodies as strict as Azure's deserializer: a member the request type does not have is refused.

The request types and their members come from wire_schema.json, generated from azure-mgmt-compute's models
(Azure's REST spec) by emulator/tools/gen_wire_schema.py. Azure refuses such a body whole with 400
InvalidRequestFormat ("Cannot parse the request.", detail InvalidJson "Could not find member ..."), so nothing is
stored and the etag does not move. Read-only members the type has (id, name, type, etag, provisioningState,
uniqueId, timeCreated) are accepted and ignored, as Azure ignores them; the PATCH types (…Update) do not have them,
so a PATCH carrying one is refused like any unknown member.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from .exceptions import ArmError

# Microsoft.Resources types are not in azure-mgmt-compute
RESOURCE_GROUP = "ResourceGroup"
_EXTRA_TYPES = {
    RESOURCE_GROUP: {"id": {"readOnly": True}, "name": {"readOnly": True}, "type": {"readOnly": True},
                     "location": {"readOnly": False}, "managedBy": {"readOnly": False},
                     "tags": {"readOnly": False, "container": "dict"},
                     "properties": {"readOnly": False, "model": "ResourceGroupProperties"}},
    "ResourceGroupProperties": {"provisioningState": {"readOnly": True}},
}


@lru_cache(maxsize=1)
def _types() -> dict[str, dict[str, dict[str, Any]]]:
    types = json.loads(Path(__file__).with_name("wire_schema.json").read_text())["types"]
    types.update(_EXTRA_TYPES)
    return types


def unknown_member(member: str, type_name: str, path: str) -> ArmError:
    return ArmError(400, "InvalidRequestFormat", "Cannot parse the request.", details=[
        {"code": "InvalidJson", "message": f"Could not find member '{member}' on object of type '{type_name}'. "
                                           f"Path '{path}'."}])


def check_members(body: Any, type_name: str, path: str = "") -> None:
    """400 InvalidRequestFormat naming the first member of `body` (recursively) that `type_name` does not have.

    Values of the wrong JSON type are left to the type checks that follow (they name the property)."""
    if not isinstance(body, dict):
        return
    members = _types()[type_name]
    for key, value in body.items():
        where = f"{path}.{key}" if path else key
        member = members.get(key)
        if member is None:
            raise unknown_member(key, type_name, where)
        child = member.get("model")
        if child is None or value is None:
            continue
        container = member.get("container")
        if container == "list" and isinstance(value, list):
            for index, item in enumerate(value):
                check_members(item, child, f"{where}[{index}]")
        elif container == "dict" and isinstance(value, dict):
            for name, item in value.items():
                check_members(item, child, f"{where}.{name}")
        elif container is None:
            check_members(value, child, where)
