"""Plain virtual machines, their extensions and NICs, and the members of Flexible scale sets (which are VMs).

`models.py` holds the state and the backend (no HTTP), `render.py` the ARM JSON, `lifecycle.py` a plain VM's
operations on the fleet, `responses.py` the handlers, `routes.py` their rows, `scenario.py` the scenario key
`virtual_machines`, `admin.py` the fleet view of VMs.
"""
