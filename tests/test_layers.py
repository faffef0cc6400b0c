"""The house by layers, checked on the source: sizes, the import graph, and the env surface that
agents and benchmarks may use (so these stay true as code is added)."""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("decore_env", "agents")
SOURCES = (*PACKAGES, "benchmarks", "scripts")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
ENV_LAYERS = {
    "decore_env.common": 0,
    "decore_env.data": 1,
    "decore_env.models": 1,
    "decore_env.training": 2,
    "decore_env.channels": 3,
    "decore_env.task": 4,
    "decore_env.envs": 5,
}
"""decore_env's sub-packages bottom up: a module imports only from its own layer or below."""
AGENT_FAMILIES = ("agents.native", "agents.references", "agents.sb3", "agents.make")
"""Agent modules: they see the env, never the compress application or the benchmark library."""
ENV_SURFACE = frozenset(
    {
        # decore_env.envs.view.TaskView: the published surface of every DECORE env
        "task_spec",
        "lam",
        "layout",
        "groups",
        "gates",
        "device",
        "samples_per_mask",
        "pairs_per_step",
        "steps_per_epoch",
        "network",
        "channel_importance",
        "evaluate",
        "architecture_kept",
        "report_architecture",
        "state_dict",
        "load_state_dict",
        # the vector env
        "num_envs",
        "tensors",
        # the layer-wise env
        "n_groups",
        "pairs",
        "pairs_per_episode",
    }
)
"""What code under agents/ and benchmarks/ may use on ``env.unwrapped``."""
ENV_FACTORIES = ("native_vector_env", "_frozen_vector_env")
"""Functions of agents/ that return ``env.unwrapped``."""


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def _is_unwrapped(node: ast.AST, bound: set[str]) -> bool:
    """``node`` evaluates to ``env.unwrapped``: the attribute itself, a factory of agents/
    that returns it, ``getattr(env, "unwrapped", ...)``, or a name bound to one of these."""
    if isinstance(node, ast.Attribute) and node.attr == "unwrapped":
        return True
    if isinstance(node, ast.Call):
        func = _dotted(node.func)
        if func in ENV_FACTORIES:
            return True
        unwrapped = [a for a in node.args[1:2] if isinstance(a, ast.Constant)]
        return func == "getattr" and [a.value for a in unwrapped] == ["unwrapped"]
    return _dotted(node) in bound


def env_attributes(source: str) -> set[str]:
    """Attributes the code in ``source`` uses on ``env.unwrapped``."""
    tree = ast.parse(source)
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _is_unwrapped(node.value, bound):
            bound |= {t for t in map(_dotted, node.targets) if t is not None}
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr != "unwrapped"
        and _is_unwrapped(node.value, bound)
    }


def test_the_surface_check_catches_a_reach_into_the_core():
    reach = (
        "def f(env):\n    base = env.unwrapped\n    return base.core.loader, env.unwrapped.task\n"
    )
    assert env_attributes(reach) == {"core", "task"}


@pytest.mark.parametrize("path", _python_files("agents", "benchmarks"), ids=_module_name)
def test_agents_and_benchmarks_use_only_the_published_env_surface(path):
    used = env_attributes(path.read_text())
    assert used <= ENV_SURFACE, f"{path.name} uses {sorted(used - ENV_SURFACE)} of env.unwrapped"


def test_no_module_and_no_function_is_too_long():
    too_long = []
    for path in _python_files(*SOURCES):
        source = path.read_text()
        if len(source.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{_module_name(path)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{_module_name(path)}.{node.name}: {lines} lines")
    assert not too_long, too_long


def _imports(path: Path) -> set[str]:
    """Project modules ``path`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return {name for name in found if name.split(".")[0] in PACKAGES}


def _import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in _python_files(*PACKAGES)}
    return {name: {m for m in _imports(path) if m in modules} for name, path in modules.items()}


def test_the_import_graph_has_no_circle():
    graph = _import_graph()
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return [*path, module, target]
            if target not in state and (circle := visit(target, [*path, module])):
                return circle
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            circle = visit(module, [])
            assert circle is None, " -> ".join(circle)


def _env_layer(module: str) -> int | None:
    return next((n for prefix, n in ENV_LAYERS.items() if module.startswith(prefix)), None)


def test_imports_run_down_the_layers_only():
    """decore_env imports no agents, and its sub-packages only their own layer or below;
    agent modules import neither the compress application (agents.run) nor the benchmark
    library (agents.bench)."""
    wrong = []
    for module, targets in _import_graph().items():
        for target in targets:
            low, high = _env_layer(module), _env_layer(target)
            env_up = module.startswith("decore_env") and target.startswith("agents")
            env_up |= low is not None and high is not None and high > low
            agent = module.startswith(AGENT_FAMILIES)
            agent_up = agent and target.startswith(("agents.run", "agents.bench"))
            if env_up or agent_up:
                wrong.append(f"{module} -> {target}")
    assert not wrong, wrong


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_imports_from_its_package(package):
    """The names users and the README rely on, re-exported from the top of each package."""
    module = importlib.import_module(package)
    for name, home in module.PUBLIC.items():
        value = getattr(module, name)
        assert value is getattr(importlib.import_module(home), name)
        assert getattr(value, "__module__", home) == home, f"{name} is defined elsewhere"
    with pytest.raises(AttributeError, match="no attribute 'core'"):
        module.core  # noqa: B018
