"""Fault injection: rules posted to ``/_emulator/faults`` that make the emulator misbehave on purpose, repeatably.

A rule is a JSON object::

    {"kind": "throttle", "match": {"method": "GET", "path": "virtualMachines", "operation": "..."},
     "count": 2}                      # or "every": n, or "probability": p with "seed": s; none = always

Request kinds (``throttle``, ``http_error``, ``drop_connection``) fire in ``on_request``, before routing, for
every ARM and token request. Upgrade kinds (``upgrade_fails``, ``upgrade_hangs``, ``unhealthy_after_upgrade``)
fire when an instance's upgrade work finishes. ``token_lifetime`` fires when a token is issued. The full schema
is in emulator/README.md ("Fault injection"); ``parse_rules`` enforces it.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable

from aiohttp import web

from . import urls
from .exceptions import AdminError, ArmError
from .lifecycle import MODEL_APPLYING
from .state import Instance

if TYPE_CHECKING:
    from .events import EventLog
    from .state import ScaleSet

REQUEST_KINDS = ("throttle", "http_error", "drop_connection")
UPGRADE_KINDS = ("upgrade_fails", "upgrade_hangs", "unhealthy_after_upgrade")
KINDS = REQUEST_KINDS + UPGRADE_KINDS + ("token_lifetime", "scale_out_fails")
# scale_out_fails codes: QuotaExceeded is refused at the request (HTTP 409, nothing changes), as ARM checks quota
# before it accepts a write; AllocationFailed is accepted, then its operation fails with no instance created.
SCALE_OUT_CODES = ("QuotaExceeded", "AllocationFailed")

# Instance operations (lifecycle.run_action) the upgrade kinds apply to unless match.operation names another
# ("create" for new instances, "restart").
UPGRADE_OPERATIONS = ("manualupgrade", "rolling", "reimage", "reimageall_latest", "vm_update", "vm_extension")
# Operations that put software on the instance, after which unhealthy_after_upgrade decides again.
REPLACING_OPERATIONS = UPGRADE_OPERATIONS + ("create",)

COMMON_KEYS = {"kind", "id", "match", "count", "every", "probability", "seed", "description"}
KIND_KEYS = {
    "throttle": {"retry_after", "operation_group"},
    "http_error": {"status", "retry_after"},
    "drop_connection": set(),
    "upgrade_fails": {"instance_ids", "fraction", "scale_set", "message"},
    "upgrade_hangs": {"instance_ids", "fraction", "scale_set"},
    "unhealthy_after_upgrade": {"instance_ids", "image_version", "extension_setting", "scale_set"},
    "token_lifetime": {"seconds"},
    "scale_out_fails": {"code", "scale_set", "message"},
}
MATCH_KEYS = {"method", "path", "operation"}

THROTTLE_MESSAGE = ("The server rejected the request because too many requests have been received for this "
                    "subscription.")


class RuleError(ValueError):
    """Bad fault rule: the message names the option and what is allowed."""


@dataclass
class Trigger:
    """When a matching rule fires: the first `count` times, every `every`-th time, with a seeded probability, or
    always. Seeded so that the same sequence of requests gives the same faults on every run."""

    count: int | None = None
    every: int | None = None
    probability: float | None = None
    seed: int = 0
    matched: int = 0
    fired: int = 0
    _rng: random.Random | None = None

    def fire(self) -> bool:
        self.matched += 1
        if self.count is not None:
            hit = self.fired < self.count
        elif self.every is not None:
            hit = self.matched % self.every == 0
        elif self.probability is not None:
            if self._rng is None:
                self._rng = random.Random(self.seed)
            hit = self._rng.random() < self.probability
        else:
            hit = True
        if hit:
            self.fired += 1
        return hit

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count


@dataclass
class Rule:
    id: str
    kind: str
    spec: dict[str, Any]                  # the rule as posted (normalised), echoed by GET
    trigger: Trigger
    method: str | None = None
    path: re.Pattern[str] | None = None
    operation: str | None = None
    removed: asyncio.Event | None = None  # set when the rule is deleted: releases hung upgrades

    def matches_request(self, method: str, path: str, operation: str | None) -> bool:
        if self.method and self.method != method.upper():
            return False
        if self.path and not self.path.search(path):
            return False
        if self.operation and (operation or "").lower() != self.operation.lower():
            return False
        return True

    def selects_instance(self, ss: ScaleSet, inst: Instance, operation: str,
                         default_operations: tuple[str, ...] = UPGRADE_OPERATIONS) -> bool:
        """Scale set, instance ids, fraction and match.operation (the instance operation) filters."""
        spec = self.spec
        if self.operation and operation.lower() != self.operation.lower():
            return False
        if not self.operation and operation.lower() not in default_operations:
            return False
        if spec.get("scale_set") and spec["scale_set"].lower() != ss.key.lower():
            return False
        if "instance_ids" in spec and inst.instance_id not in spec["instance_ids"]:
            return False
        if "fraction" in spec and not _in_fraction(spec["fraction"], self.trigger.seed, ss, inst):
            return False
        return True

    def public(self) -> dict[str, Any]:
        return {**self.spec, "id": self.id, "matched": self.trigger.matched, "fired": self.trigger.fired}


def _instance_key(ss: ScaleSet, inst: Instance | None) -> tuple[str, str, str]:
    return (ss.subscription.lower(), ss.key.lower(), inst.instance_id if inst is not None else "")


def _in_fraction(fraction: float, seed: int, ss: ScaleSet, inst: Instance) -> bool:
    """A stable pick of `fraction` of the instances: the same instances on every run, whatever the order in which
    their upgrades finish."""
    digest = hashlib.sha256(f"{seed}:{ss.key.lower()}:{inst.instance_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def _number(rule: dict[str, Any], key: str, where: str, *, integer: bool = False, low: float = 0,
            high: float | None = None) -> Any:
    value = rule[key]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if integer:
        ok = ok and float(value).is_integer()
    if not ok or value < low or (high is not None and value > high):
        kind = "an integer" if integer else "a number"
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise RuleError(f"{where}: '{key}' must be {kind} {bound}, got {json.dumps(value)}")
    return int(value) if integer else value


def _string_list(rule: dict[str, Any], key: str, where: str) -> list[str]:
    value = rule[key]
    if not isinstance(value, list) or not value or not all(isinstance(v, (str, int)) for v in value):
        raise RuleError(f"{where}: '{key}' must be a non-empty list of instance ids, got {json.dumps(value)}")
    return [str(v) for v in value]


def parse_rule(raw: Any, index: int, rule_id: str) -> Rule:
    """Validate one posted rule; raises RuleError with one clear sentence naming the option."""
    where = f"rule {index}"
    if not isinstance(raw, dict):
        raise RuleError(f"{where}: a rule must be a JSON object, got {json.dumps(raw)}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise RuleError(f"{where}: 'kind' must be one of {', '.join(KINDS)}, got {json.dumps(kind)}")
    where = f"rule {index} ({kind})"
    allowed = COMMON_KEYS | KIND_KEYS[kind]
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise RuleError(f"{where}: unknown option '{unknown[0]}'; allowed: {', '.join(sorted(allowed))}")
    spec = {k: v for k, v in raw.items() if k != "id"}

    triggers = [k for k in ("count", "every", "probability") if k in raw]
    if len(triggers) > 1:
        raise RuleError(f"{where}: give at most one of 'count', 'every', 'probability', got {', '.join(triggers)}")
    trigger = Trigger()
    if "count" in raw:
        trigger.count = _number(raw, "count", where, integer=True, low=1)
    if "every" in raw:
        trigger.every = _number(raw, "every", where, integer=True, low=1)
    if "probability" in raw:
        trigger.probability = _number(raw, "probability", where, low=0, high=1)
    if "seed" in raw:
        trigger.seed = _number(raw, "seed", where, integer=True, low=0)

    match = raw.get("match", {})
    if not isinstance(match, dict):
        raise RuleError(f"{where}: 'match' must be an object with keys {', '.join(sorted(MATCH_KEYS))}")
    bad = sorted(set(match) - MATCH_KEYS)
    if bad:
        raise RuleError(f"{where}: unknown 'match' key '{bad[0]}'; allowed: {', '.join(sorted(MATCH_KEYS))}")
    for key, value in match.items():
        if not isinstance(value, str) or not value:
            raise RuleError(f"{where}: 'match.{key}' must be a non-empty string, got {json.dumps(value)}")
    if kind == "token_lifetime" and match:
        raise RuleError(f"{where}: 'match' is not allowed; the rule applies to every token issued")
    path = None
    if "path" in match:
        try:
            path = re.compile(match["path"], re.IGNORECASE)
        except re.error as exc:
            raise RuleError(f"{where}: 'match.path' is not a valid regular expression ({exc})") from None

    if kind == "throttle":
        spec.setdefault("retry_after", 1)
        _number(spec, "retry_after", where, low=0)
        if not isinstance(spec.setdefault("operation_group", "HighCostGetVMScaleSet30Min"), str):
            raise RuleError(f"{where}: 'operation_group' must be a string")
    elif kind == "http_error":
        spec.setdefault("status", 500)
        if spec["status"] not in (500, 503):
            raise RuleError(f"{where}: 'status' must be 500 or 503, got {json.dumps(spec['status'])}")
        if "retry_after" in spec:
            _number(spec, "retry_after", where, low=0)
    elif kind == "token_lifetime":
        if "seconds" not in spec:
            raise RuleError(f"{where}: 'seconds' is required (the lifetime of tokens issued from now on)")
        spec["seconds"] = _number(spec, "seconds", where, integer=True, low=1)
    if kind in UPGRADE_KINDS:
        if "instance_ids" in spec:
            spec["instance_ids"] = _string_list(spec, "instance_ids", where)
        if "fraction" in spec:
            _number(spec, "fraction", where, low=0, high=1)
        if "scale_set" in spec and (not isinstance(spec["scale_set"], str) or spec["scale_set"].count("/") != 1):
            raise RuleError(f"{where}: 'scale_set' must be \"RESOURCE_GROUP/NAME\", got {json.dumps(spec['scale_set'])}")
    if kind == "unhealthy_after_upgrade":
        selectors = [k for k in ("instance_ids", "image_version", "extension_setting") if k in spec]
        if len(selectors) != 1:
            raise RuleError(f"{where}: give exactly one of 'instance_ids', 'image_version', 'extension_setting'")
        if "image_version" in spec and not isinstance(spec["image_version"], str):
            raise RuleError(f"{where}: 'image_version' must be a string, got {json.dumps(spec['image_version'])}")
        if "extension_setting" in spec:
            setting = spec["extension_setting"]
            if (not isinstance(setting, dict) or set(setting) != {"extension", "name", "value"}
                    or not isinstance(setting.get("extension"), str) or not isinstance(setting.get("name"), str)):
                raise RuleError(f"{where}: 'extension_setting' must be {{\"extension\": NAME, \"name\": SETTING, "
                                f"\"value\": VALUE}}, got {json.dumps(setting)}")
    if kind == "scale_out_fails":
        if match:
            raise RuleError(f"{where}: 'match' is not allowed; the rule applies to writes that raise sku.capacity")
        if spec.setdefault("code", "QuotaExceeded") not in SCALE_OUT_CODES:
            raise RuleError(f"{where}: 'code' must be one of {', '.join(SCALE_OUT_CODES)}, got "
                            f"{json.dumps(spec['code'])}")
        if "scale_set" in spec and (not isinstance(spec["scale_set"], str) or spec["scale_set"].count("/") != 1):
            raise RuleError(f"{where}: 'scale_set' must be \"RESOURCE_GROUP/NAME\", got {json.dumps(spec['scale_set'])}")
    if kind in ("upgrade_fails", "scale_out_fails") and "message" in spec and not isinstance(spec["message"], str):
        raise RuleError(f"{where}: 'message' must be a string")

    return Rule(id=rule_id, kind=kind, spec=spec, trigger=trigger, method=match.get("method", "").upper() or None,
                path=path, operation=match.get("operation"))


def throttle_response(rule: Rule) -> web.Response:
    """ARM's real throttling answer (429 OperationNotAllowed / TooManyRequests, see the reference's error table)."""
    group = rule.spec["operation_group"]
    now = datetime.now(timezone.utc)
    detail = {"operationGroup": group, "startTime": (now - timedelta(minutes=30)).isoformat(),
              "endTime": now.isoformat(), "allowedRequestCount": 1800, "measuredRequestCount": 2208}
    response = ArmError(429, "OperationNotAllowed", THROTTLE_MESSAGE,
                        details=[{"code": "TooManyRequests", "target": group, "message": json.dumps(detail)}],
                        innererror={"internalErrorCode": "TooManyRequestsReceived"}).response()
    response.headers.update(_retry_headers(rule.spec["retry_after"]))
    response.headers["x-ms-ratelimit-remaining-resource"] = (
        "Microsoft.Compute/HighCostGet3Min;0,Microsoft.Compute/HighCostGet30Min;0")
    return response


def http_error_response(rule: Rule) -> web.Response:
    status = rule.spec["status"]
    code, message = (("InternalServerError", "An internal server error occurred. Please retry later.")
                     if status == 500 else
                     ("ServiceUnavailable", "The service is temporarily unavailable. Please retry later."))
    response = ArmError(status, code, message).response()
    if "retry_after" in rule.spec:
        response.headers.update(_retry_headers(rule.spec["retry_after"]))
    return response


def _retry_headers(seconds: float) -> dict[str, str]:
    # ARM sends whole seconds; a fraction is passed through as is (azure-core parses it as a float) so tests can
    # keep retries short.
    value = int(seconds) if float(seconds).is_integer() else seconds
    return {"Retry-After": str(value)}


class DropConnection(web.HTTPServiceUnavailable):
    """Raised by on_request after aborting the transport: the client sees the connection close with no answer.
    An HTTPException, so the ARM middleware lets it through like aiohttp's own errors (nothing can be written)."""


class FaultInjector:
    """The real ``hooks.Faults``: holds the rules, fires them, and records every firing as a ``fault_fired``
    event."""

    def __init__(self, events: EventLog, operation_of: Callable[[web.Request], str | None] | None = None) -> None:
        self._events = events
        self._operation_of = operation_of or (lambda request: None)
        self._rules: list[Rule] = []
        self._next_id = 1
        # _instance_key -> id of the unhealthy_after_upgrade rule that made the instance's app sick
        self._sick: dict[tuple[str, str, str], str] = {}
        self._listeners: list[Callable[[], None]] = []

    # ---- rule management -------------------------------------------------------------------------------
    def add_rules(self, raw: Any) -> list[Rule]:
        """Validate every rule first, then append them all (all or nothing)."""
        items = raw if isinstance(raw, list) else [raw]
        if isinstance(raw, dict) and "rules" in raw and "kind" not in raw:
            items = raw["rules"]
        if not isinstance(items, list) or not items:
            raise RuleError("the body must be a rule object or a non-empty list of rules")
        rules = [parse_rule(item, index, str(self._next_id + index)) for index, item in enumerate(items)]
        self._next_id += len(rules)
        self._rules.extend(rules)
        return rules

    def rules(self) -> list[Rule]:
        return list(self._rules)

    def remove_rule(self, rule_id: str) -> bool:
        for rule in self._rules:
            if rule.id == rule_id:
                self._drop([rule])
                return True
        return False

    def clear(self) -> None:
        self._drop(list(self._rules))

    async def reset(self) -> None:
        self.clear()
        self._sick.clear()

    def _drop(self, rules: list[Rule]) -> None:
        for rule in rules:
            self._rules.remove(rule)
            if rule.removed is not None:
                rule.removed.set()
        gone = {rule.id for rule in rules}
        self._sick = {key: rule_id for key, rule_id in self._sick.items() if rule_id not in gone}
        self._notify()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Called after rules are removed (an app may turn healthy again)."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    def _fire(self, rule: Rule, **details: Any) -> bool:
        if not rule.trigger.fire():
            return False
        self._events.append("fault_fired", rule=rule.id, kind=rule.kind, **details)
        return True

    # ---- hooks.Faults ------------------------------------------------------------------------------------
    async def on_request(self, request: web.Request) -> web.StreamResponse | None:
        operation = None
        for rule in self._rules:
            if rule.kind not in REQUEST_KINDS:
                continue
            if rule.operation and operation is None:
                operation = self._operation_of(request)
            if not rule.matches_request(request.method, request.path, operation):
                continue
            if not self._fire(rule, method=request.method, path=request.path,
                              **({"operation": operation} if operation else {})):
                continue
            if rule.kind == "throttle":
                return throttle_response(rule)
            if rule.kind == "http_error":
                return http_error_response(rule)
            if request.transport is not None:
                request.transport.abort()
            raise DropConnection(reason=f"fault rule {rule.id} dropped the connection")
        return None

    def token_lifetime(self, default: int) -> int:
        for rule in reversed(self._rules):   # the newest rule wins
            if rule.kind == "token_lifetime" and not rule.trigger.exhausted and self._fire(rule):
                return rule.spec["seconds"]
        return default

    async def instance_upgrade_outcome(self, ss: ScaleSet, inst: Instance, operation: str) -> dict[str, Any] | None:
        key = _instance_key(ss, inst)
        details = {**ss.instance_owner(inst.instance_id), "instance_id": inst.instance_id, "operation": operation}
        for rule in list(self._rules):
            if rule.kind == "upgrade_hangs" and rule.selects_instance(ss, inst, operation) and self._fire(rule, **details):
                if rule.removed is None:
                    rule.removed = asyncio.Event()
                await rule.removed.wait()
        for rule in list(self._rules):
            if rule.kind == "upgrade_fails" and rule.selects_instance(ss, inst, operation) and self._fire(rule, **details):
                message = rule.spec.get("message") or (
                    f"VM has reported a failure when processing extension 'fault-{rule.id}' (publisher "
                    f"'Microsoft.Azure.Extensions' and type 'CustomScript'). Error message: "
                    f"\"Enable failed: injected by emulator fault rule {rule.id}\".")
                return {"code": "VMExtensionProvisioningError", "message": message}
        if operation.lower() in REPLACING_OPERATIONS:
            self._sick.pop(key, None)
            target = ss.profile if operation in MODEL_APPLYING else inst.applied_model
            for rule in list(self._rules):
                if (rule.kind == "unhealthy_after_upgrade" and self._selects_sick(rule, ss, inst, operation, target)
                        and self._fire(rule, **details)):
                    self._sick[key] = rule.id
                    break
        return None

    @staticmethod
    def _selects_sick(rule: Rule, ss: ScaleSet, inst: Instance, operation: str, target: dict[str, Any]) -> bool:
        """unhealthy_after_upgrade selectors, judged on the model the instance is being upgraded to (`target`)."""
        if not rule.selects_instance(ss, inst, operation, REPLACING_OPERATIONS):
            return False
        spec = rule.spec
        if "image_version" in spec:
            return Instance(inst.instance_id, 0, 0, None, target).image_version() == spec["image_version"]
        if "extension_setting" in spec:
            setting = spec["extension_setting"]
            settings = Instance(inst.instance_id, 0, 0, None, target).extension_settings(setting["extension"])
            return settings is not None and setting["name"] in settings and settings[setting["name"]] == setting["value"]
        return True   # instance_ids, already checked by selects_instance

    def scale_out_refusal(self, ss: ScaleSet, current: int, target: int, code: str) -> dict[str, Any] | None:
        """A scale_out_fails rule's ARM error ({code, message}) with ``code`` for a write raising capacity, or None."""
        if target <= current:
            return None
        for rule in list(self._rules):
            if rule.kind != "scale_out_fails" or rule.spec["code"] != code or rule.trigger.exhausted:
                continue
            if rule.spec.get("scale_set") and rule.spec["scale_set"].lower() != ss.key.lower():
                continue
            if not self._fire(rule, resource_group=ss.resource_group, vmss=ss.name, code=rule.spec["code"],
                              capacity=target):
                continue
            added = target - current
            default = (f"Operation could not be completed as it results in exceeding approved standardDSv3Family "
                       f"Cores quota (emulator fault rule {rule.id}: {added} more instance(s) asked)."
                       if rule.spec["code"] == "QuotaExceeded" else
                       f"Allocation failed. We do not have sufficient capacity for the requested VM size in this "
                       f"region (emulator fault rule {rule.id}: {added} more instance(s) asked).")
            return {"code": rule.spec["code"], "message": rule.spec.get("message") or default}
        return None

    def app_is_sick(self, ss: ScaleSet, inst: Instance) -> bool:
        """Whether an unhealthy_after_upgrade rule made this instance's app report unhealthy."""
        return _instance_key(ss, inst) in self._sick

    def forget_scale_set(self, ss: ScaleSet) -> None:
        """The scale set was deleted: a new one with the same name starts healthy."""
        prefix = _instance_key(ss, None)[:2]
        self._sick = {key: rule for key, rule in self._sick.items() if key[:2] != prefix}

    # ---- admin API -----------------------------------------------------------------------------------------
    def routes(self) -> list[urls.Route]:
        return [urls.exact("POST", "/_emulator/faults", self._post),
                urls.exact("GET", "/_emulator/faults", self._get),
                urls.exact("DELETE", "/_emulator/faults", self._delete_all),
                urls.exact("DELETE", "/_emulator/faults/{rule_id}", self._delete_one)]

    async def _post(self, request: web.Request, groups: dict[str, str]) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise AdminError(400, "the body must be JSON: a rule object or a list of rules") from None
        try:
            rules = self.add_rules(body)
        except RuleError as exc:
            raise AdminError(400, str(exc)) from None
        return web.json_response({"rules": [rule.public() for rule in rules]}, status=201)

    async def _get(self, request: web.Request, groups: dict[str, str]) -> web.Response:
        return web.json_response({"rules": [rule.public() for rule in self._rules]})

    async def _delete_all(self, request: web.Request, groups: dict[str, str]) -> web.Response:
        self.clear()
        return web.json_response({"rules": []})

    async def _delete_one(self, request: web.Request, groups: dict[str, str]) -> web.Response:
        rule_id = groups["rule_id"]
        if not self.remove_rule(rule_id):
            raise AdminError(404, f"no fault rule with id '{rule_id}'")
        return web.json_response({"rules": [rule.public() for rule in self._rules]})


def operation_of(request: web.Request) -> str | None:
    """The REST operationId of a request: the ARM middleware stores it before calling on_request; otherwise it
    comes from the ARM route table."""
    if request.get("operation_id") not in (None, "Unknown"):
        return request["operation_id"]
    found = urls.resolve(request.method, request.path)
    return urls.operation_id(*found) if found else None


def make_faults(app: web.Application, events: EventLog) -> FaultInjector:
    """Factory that ``create_app`` calls."""
    return FaultInjector(events, operation_of=operation_of)
