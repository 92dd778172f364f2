"""The emulator's shape (issue 13): no import cycle, one route table with one handler signature, handlers that only
parse, call a backend and render, one error type with one envelope. Read from the source (ast) and from an app
built in-process; the admin envelope is checked over HTTPS."""
from __future__ import annotations

import ast
import inspect
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aiohttp import web

import vmss_emulator
from vmss_emulator import admin, app_keys, auth, catalog
from vmss_emulator.compute import responses
from vmss_emulator.fleet import routes as fleet_routes
from vmss_emulator.vms import admin as vm_admin, locks as vm_locks, responses as vm_responses
from vmss_emulator.exceptions import ADMIN_CODES
from vmss_emulator.model import graph_cycle
from vmss_emulator.server import create_app
from vmss_emulator.state import Principal

PACKAGE = Path(vmss_emulator.__file__).parent
# the modules whose functions are route handlers: they may read state, never change it
HANDLER_MODULES = (responses, admin, catalog, vm_responses, vm_admin, vm_locks)
# what changes state: only backends (and what they call) import these
STATE_CHANGERS = {"vmss_emulator.lifecycle", "vmss_emulator.rolling", "vmss_emulator.vms.lifecycle"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, tuple[Path, ast.Module]]:
    return {_module_name(p): (p, ast.parse(p.read_text(), str(p))) for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_blocks(tree: ast.Module) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (never run, so no runtime edge)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            skipped.update(id(child) for child in ast.walk(node))
    return skipped


def _imports(name: str, path: Path, tree: ast.Module, modules: set[str]) -> set[str]:
    """The package's modules that module `name` imports (relative or absolute, at any depth, TYPE_CHECKING aside)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skipped = _type_checking_blocks(tree)
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _level in range(1, node.level):
                base = base.rpartition(".")[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module or ""
            for alias in node.names:  # `from . import admin` names a module, `from .arm import x` a member
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
    return {m for m in found if m in modules and m != name}


def test_no_import_cycle_in_the_package():
    sources = _sources()
    modules = set(sources)
    graph = {name: _imports(name, path, tree, modules) for name, (path, tree) in sources.items()}
    assert "vmss_emulator.fleet.routes" in graph["vmss_emulator.fleet.fleet"]  # the edge the cycle had
    assert graph_cycle(graph) is None, f"import cycle: {' -> '.join(graph_cycle(graph))}"
    # and the checker finds one when there is one
    closing_edge = graph["vmss_emulator.fleet.routes"] | {"vmss_emulator.fleet.fleet"}
    assert graph_cycle({**graph, "vmss_emulator.fleet.routes": closing_edge})


@pytest.fixture
def app():
    return create_app("https://127.0.0.1:1", Principal("t", "c", "s", ["*"]), "sub")


def _handlers(module) -> list:
    """The module's route handlers: public coroutine functions taking (request, groups)."""
    found = []
    for name, func in vars(module).items():
        if name.startswith("_") or not inspect.iscoroutinefunction(func) or func.__module__ != module.__name__:
            continue
        params = list(inspect.signature(func).parameters)
        if params[:1] == ["request"] and len(params) >= 2 and params[1] in ("groups", "m"):
            found.append(func)
    return found


def test_every_route_is_in_the_one_table_with_one_signature(app):
    aiohttp_routes = list(app.router.routes())
    assert len(aiohttp_routes) == 1 and aiohttp_routes[0].method == "*"  # only the dispatcher
    table = app[app_keys.ROUTE_TABLE]
    handlers = {route.handler for route in table}
    for module in (*HANDLER_MODULES, auth):
        missing = [f.__name__ for f in _handlers(module) if f not in handlers]
        assert not missing, f"{module.__name__} handlers with no row: {missing}"
    paths = {(route.method, route.pattern.pattern) for route in table}
    for method, path in (("POST", "/_emulator/faults"), ("DELETE", "/_emulator/faults/(?P<rule_id>[^{}/]+)"),
                         ("GET", "/_emulator/availability"), ("GET", "/_emulator/health")):
        assert (method, f"^{path}$") in paths, (method, path)  # fleet, faults and admin rows are in it
    for route in table:
        params = list(inspect.signature(route.handler).parameters)
        assert len(params) == 2 or params[2:] == ["patch"], (route.operation_id, params)
        assert inspect.iscoroutinefunction(route.handler), route.operation_id
    # no module but server.py adds aiohttp routes (a second dispatcher)
    for name, (path, _tree) in _sources().items():
        if name != "vmss_emulator.server":
            assert "add_route" not in path.read_text() and "router.add_" not in path.read_text(), name


MUTATORS = {"append", "extend", "insert", "update", "setdefault", "pop", "popitem", "clear", "remove", "add",
            "discard"}


def _reaches_state(node: ast.expr) -> bool:
    """Whether an assignment target or a method's receiver is held by something else: reached through an attribute
    (`ss.model`, `world.scale_sets[k]`, `ss.sku["capacity"]`) or through the request (`request.app[...]`). A local
    dict being built for an answer (`item["properties"] = ...`) is not."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            return True
        node = node.value
    return isinstance(node, ast.Name) and node.id == "request"


def test_handler_modules_change_no_state():
    """Handlers parse, call a backend and render: no assignment or `del` reaching held state, no mutating method
    called on it, and no import of what changes instances (lifecycle, rolling): that is the backends' work."""
    sources = _sources()
    for module in (*HANDLER_MODULES, fleet_routes):
        path, tree = sources[module.__name__]
        assert not _imports(module.__name__, path, tree, set(sources)) & STATE_CHANGERS, module.__name__
        # a handler class's constructor storing its collaborators is no state change
        constructors = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "__init__"
                        for n in ast.walk(f)}
        for node in ast.walk(tree):
            if id(node) in constructors:
                continue
            targets = []
            if isinstance(node, (ast.Assign, ast.Delete)):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in MUTATORS):
                targets = [node.func.value]
            for target in targets:
                if isinstance(target, ast.Name):
                    continue
                assert not _reaches_state(target), f"{path.name}:{node.lineno} changes state: {ast.unparse(node)}"


def test_the_state_check_finds_a_handler_that_changes_state():
    for code in ("ss.etag += 1", "world.scale_sets[key] = ss", "request.app[EVENTS].append('x')",
                 "ss.tags.update(tags)", "del ss.instances[i]"):
        node = ast.parse(code).body[0]
        target = (node.targets[0] if isinstance(node, (ast.Assign, ast.Delete)) else
                  node.target if isinstance(node, ast.AugAssign) else node.value.func.value)
        assert _reaches_state(target), code
    assert not _reaches_state(ast.parse("item['properties'] = {}").body[0].targets[0])


def test_one_error_type_and_one_envelope():
    """ArmError (and AdminError, its admin flavour) is the error answer; only exceptions.py builds the
    {"error": {...}} envelope."""
    for name, (path, tree) in _sources().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(getattr(b, "id", "") in ("ArmError", "AdminError")
                                                      for b in node.bases):
                assert name == "vmss_emulator.exceptions", f"{path.name}: another error type {node.name}"
            if isinstance(node, ast.Dict) and name != "vmss_emulator.exceptions":
                for key, value in zip(node.keys, node.values):
                    if isinstance(key, ast.Constant) and key.value == "error" and isinstance(value, ast.Dict):
                        pytest.fail(f"{path.name}:{node.lineno} builds an error envelope itself")


def _renders_an_error(node: ast.AST) -> bool:
    """`admin_error(...)`-style helpers or `SomeError(...).response()`: an error answer built in place."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Name) and func.id.endswith("_error"):
        return True
    return (isinstance(func, ast.Attribute) and func.attr == "response" and isinstance(func.value, ast.Call)
            and getattr(func.value.func, "id", "").endswith("Error"))


def test_handlers_raise_their_errors_and_never_render_them():
    """A handler raises ArmError / AdminError (the backends' errors) and the dispatcher renders it: no handler
    builds an error answer itself (a second path the envelope could drift on)."""
    sources = _sources()
    for module in HANDLER_MODULES:
        path, tree = sources[module.__name__]
        handlers = {f.__name__ for f in _handlers(module)}
        for func in ast.walk(tree):
            if isinstance(func, ast.AsyncFunctionDef) and func.name in handlers:
                rendered = [ast.unparse(n) for n in ast.walk(func) if _renders_an_error(n)]
                assert not rendered, f"{path.name}:{func.name} renders its error: {rendered}"
    assert _renders_an_error(ast.parse("admin_error(404, 'x')").body[0].value)
    assert _renders_an_error(ast.parse("AdminError(404, 'x').response()").body[0].value)


def _admin_call(emu, method, path, body=b""):
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    req = urllib.request.Request(f"{emu.url}{path}", data=body or None, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=context, timeout=10) as resp:  # noqa: S310 - the emulator
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.parametrize("method, path, body, status", [
    ("POST", "/_emulator/config", b"[1]", 400),                        # admin.py
    ("POST", "/_emulator/config", b'{"page_size": -1}', 400),
    ("GET", "/_emulator/events?since=x", b"", 400),
    ("GET", "/_emulator/scale_sets/rg/none/instances", b"", 404),
    ("POST", "/_emulator/scenario", b'{"nonsense": 1}', 400),
    ("POST", "/_emulator/faults", b"{not json", 400),                   # faults.py
    ("DELETE", "/_emulator/faults/no-such-rule", b"", 404),
    ("POST", "/_emulator/load_balancers/rg/none", b"{}", 404),         # fleet/routes.py
    ("GET", "/_emulator/virtual_machines/rg-vm/none", b"", 404),       # vms/admin.py
    ("POST", "/_emulator/virtual_machines/rg-vm/none/config", b"{}", 404),
    ("POST", "/_emulator/virtual_machines/rg-vm/solo/config", b'{"upgrade_seconds": -1}', 400),
    ("POST", "/_emulator/virtual_machines/rg-vm/solo/config", b'{"upgrade_seconds": NaN}', 400),
    ("POST", "/_emulator/virtual_machines/rg-vm/solo/config", b'{"fail_upgrade": 1}', 400),
    ("POST", "/_emulator/virtual_machines/rg-vm/solo/config", b'{"nonsense": 1}', 400),
    ("POST", "/_emulator/config", b'{"upgrade_seconds": NaN}', 400),
])
def test_admin_errors_share_one_envelope(emu, method, path, body, status):
    if "/virtual_machines/" in path:
        emu.load_scenario({"virtual_machines": [{"name": "solo", "resource_group": "rg-vm"}]})
    got, answer = _admin_call(emu, method, path, body)
    assert got == status
    assert set(answer) == {"error"} and set(answer["error"]) == {"code", "message"}
    assert answer["error"]["code"] == ADMIN_CODES[status] and answer["error"]["message"]


def test_admin_backend_changes_what_the_api_reads(emu):
    """The admin handlers go through AdminBackend: a config change and a reset are seen by the next reads."""
    status, settings = _admin_call(emu, "POST", "/_emulator/config", b'{"page_size": 3}')
    assert status == 200 and settings["page_size"] == 3
    assert _admin_call(emu, "GET", "/_emulator/events?since=0")[0] == 200
    assert _admin_call(emu, "POST", "/_emulator/reset")[1] == {"status": "reset"}
    assert _admin_call(emu, "POST", "/_emulator/config", b"{}")[1]["page_size"] != 3


def test_the_app_builds_without_a_running_loop(app):
    """Nothing runs in a constructor: the app and its backends are built with no event loop."""
    assert isinstance(app, web.Application)
    world = app[app_keys.WORLD]
    assert app[app_keys.COMPUTE].world is world and app[app_keys.ADMIN].world is world
    assert app[app_keys.VMS].world is world and app[app_keys.VMS].runtime is app
