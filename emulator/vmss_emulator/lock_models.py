"""Microsoft.Authorization/locks: the store and ARM's rule, with no HTTP (`LockBackend`, app[LOCKS]).

A lock sits on a scope (a resource group, a scale set, a VM) and covers the scope and every path under it, as ARM
judges it from the request path before the resource provider sees the request: under a ReadOnly lock every write
(PUT, PATCH, POST actions, DELETE) is refused, under any lock every delete (DELETE, and a scale set's
`delete` action); 409 ScopeLocked naming the locked scopes. Reads and the lock API itself are never refused. The
handlers are in `vms/locks.py`.
"""
from __future__ import annotations

from typing import Any

from .events import EventLog
from .exceptions import ArmError

LEVELS = ("CanNotDelete", "ReadOnly")
PROVIDER = "/providers/Microsoft.Authorization/locks"
WRITE_METHODS = ("PUT", "PATCH", "POST", "DELETE")
# POST actions that delete what they name (a CanNotDelete lock refuses them as it refuses DELETE)
DELETE_ACTIONS = ("VirtualMachineScaleSets_DeleteInstances",)


def _norm(path: str) -> str:
    return path.rstrip("/").lower()


def scope_locked(target: str, locks: list[dict[str, Any]], delete: bool) -> ArmError:
    scopes = ",".join(f"'{lock['scope']}'" for lock in locks)
    return ArmError(409, "ScopeLocked", f"The scope '{target}' cannot perform {'delete' if delete else 'write'} "
                    f"operation because following scope(s) are locked: {scopes}. Please remove the lock and try "
                    "again.")


class LockBackend:
    """One per app: the locks by (scope, name), both lower case; each lock keeps its scope and name as given."""

    def __init__(self, events: EventLog) -> None:
        self.events = events
        self.locks: dict[tuple[str, str], dict[str, Any]] = {}

    def put(self, scope: str, name: str, level: str, owner: dict[str, Any], notes: str | None = None,
            owners: list | None = None) -> tuple[dict[str, Any], bool]:
        """Create or replace a lock at `scope` (its resource id); `owner` names it in the event. (lock, created)."""
        key = (_norm(scope), name.lower())
        created = key not in self.locks
        self.locks[key] = {"scope": scope.rstrip("/"), "name": name, "level": level, "notes": notes,
                           "owners": owners}
        self.events.append("lock_write", **owner, lock=name, level=level)
        return self.locks[key], created

    def get(self, scope: str, name: str) -> dict[str, Any] | None:
        return self.locks.get((_norm(scope), name.lower()))

    def delete(self, scope: str, name: str, owner: dict[str, Any]) -> dict[str, Any] | None:
        lock = self.locks.pop((_norm(scope), name.lower()), None)
        if lock is not None:
            self.events.append("lock_delete", **owner, lock=lock["name"])
        return lock

    def listed(self, scope: str, below: bool) -> list[dict[str, Any]]:
        """The locks of `scope` and of its parents, and with `below` those of everything under it (Azure's list at
        resource-group scope holds the group's and its resources'), by scope then name."""
        wanted = _norm(scope)
        return [lock for (at, _name), lock in sorted(self.locks.items())
                if _covers(at, wanted) or (below and _covers(wanted, at))]

    def covering(self, path: str) -> list[dict[str, Any]]:
        """The locks whose scope is `path` or one of its parents."""
        wanted = _norm(path)
        return [lock for (at, _name), lock in sorted(self.locks.items()) if _covers(at, wanted)]

    def check(self, target: str, delete: bool) -> None:
        """409 ScopeLocked when a lock covering `target` (a resource id) forbids this write (ReadOnly) or delete
        (any lock)."""
        locked = [lock for lock in self.covering(target) if delete or lock["level"] == "ReadOnly"]
        if locked:
            raise scope_locked(target, locked, delete)

    def check_request(self, method: str, path: str, operation_id: str) -> None:
        """ARM's lock check of a request, from its method and path (the lock API itself is never refused)."""
        if method not in WRITE_METHODS or operation_id.startswith("ManagementLocks_"):
            return
        target = path.rstrip("/")
        if method == "POST":   # an action: the scope is the resource it acts on
            target = target.rsplit("/", 1)[0]
        self.check(target, delete=method == "DELETE" or operation_id in DELETE_ACTIONS)

    def clear(self) -> None:
        self.locks.clear()


def _covers(scope: str, path: str) -> bool:
    return path == scope or path.startswith(scope + "/")
