"""Write vmss_emulator/wire_schema.json: the members of each request type the emulator accepts, with read-only ones
marked, taken from azure-mgmt-compute's models (generated from Azure's REST spec).

Run after upgrading azure-mgmt-compute:  python emulator/tools/gen_wire_schema.py
The emulator reads only the JSON (it does not depend on the SDK).
"""
from __future__ import annotations

import json
import sys
import typing
from types import SimpleNamespace
from pathlib import Path

from azure.mgmt.compute import models
from azure.mgmt.compute._utils.model_base import Model

ROOTS = ["VirtualMachineScaleSet", "VirtualMachineScaleSetUpdate", "VirtualMachineScaleSetExtension",
         "VirtualMachineScaleSetExtensionUpdate", "VirtualMachineScaleSetVM", "VirtualMachineScaleSetVMInstanceIDs",
         "VirtualMachineScaleSetVMInstanceRequiredIDs", "VirtualMachineScaleSetReimageParameters",
         "VirtualMachineScaleSetVMReimageParameters",
         # plain VMs and their extensions (vms/)
         "VirtualMachine", "VirtualMachineUpdate", "VirtualMachineExtensionUpdate"]
OUT = Path(__file__).resolve().parents[1] / "vmss_emulator" / "wire_schema.json"


def _model_of(annotation) -> tuple[str | None, str | None]:
    """(container kind 'list'/'dict'/None, model class name or None) of a field annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _model_of(args[0]) if len(args) == 1 else (None, None)
    if origin in (list, typing.List):
        _kind, name = _model_of(typing.get_args(annotation)[0])
        return "list", name
    if origin in (dict, typing.Dict):
        _kind, name = _model_of(typing.get_args(annotation)[1])
        return "dict", name
    if isinstance(annotation, type) and issubclass(annotation, Model):
        return None, annotation.__name__
    return None, None


def describe(cls, types: dict) -> None:
    if cls.__name__ in types:
        return
    cls()  # the SDK builds _attr_to_rest_field on first use
    hints = typing.get_type_hints(cls, globalns={**vars(models), "_models": SimpleNamespace(**vars(models))})
    fields = {}
    types[cls.__name__] = fields
    for attr, rest_field in cls._attr_to_rest_field.items():
        kind, child = _model_of(hints.get(attr))
        fields[rest_field._rest_name] = {"readOnly": list(rest_field._visibility or []) == ["read"],
                                         **({"model": child} if child else {}), **({"container": kind} if kind else {})}
        if child:
            describe(getattr(models, child), types)


def main() -> int:
    types: dict = {}
    for name in ROOTS:
        describe(getattr(models, name), types)
    from azure.mgmt.compute import __version__ as version
    OUT.write_text(json.dumps({"source": f"azure-mgmt-compute {version}", "types": types}, indent=0,
                              sort_keys=True) + "\n")
    print(f"{OUT}: {len(types)} types")
    return 0


if __name__ == "__main__":
    sys.exit(main())
