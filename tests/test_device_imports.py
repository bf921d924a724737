"""No import cycles among device modules (lib/ and firmware/), imports inside functions included:
a concept that needs another's code at run time imports it, never the other way round too."""
import ast
import os

from simproc import ROOT


def device_modules():
    mods = {}
    for top in ("lib", "firmware"):
        base = os.path.join(ROOT, top)
        for root, _dirs, files in os.walk(base):
            for f in files:
                if f.endswith(".py"):
                    rel = os.path.relpath(os.path.join(root, f), base)[:-3].replace(os.sep, ".")
                    mods[rel[:-9] if rel.endswith(".__init__") else rel] = os.path.join(root, f)
    return mods


def import_graph(mods):
    """module -> the device modules it imports anywhere in its code."""
    graph = {}
    for name, path in mods.items():
        tree = ast.parse(open(path, encoding="utf-8").read())
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package up level-1 steps
                    parts = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    base = ".".join(p for p in parts + [base] if p)
                targets.add(base)
                targets.update(base + "." + a.name for a in node.names)
        graph[name] = sorted(t for t in targets if t in mods and t != name)
    return graph


def cycles(graph):
    """Each import cycle once, as the list of modules along it."""
    found, state, stack = [], {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in graph.get(m, ()):
            if state.get(n) == 1:
                found.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def test_no_import_cycles_among_device_modules():
    graph = import_graph(device_modules())
    assert len(graph) > 100 and graph["doorapp.app"]  # the graph was read
    assert cycles(graph) == [], cycles(graph)


def test_the_check_sees_a_cycle_through_a_lazy_import():
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    mods = device_modules()
    graph = import_graph(mods)
    # doorapp.config.schema imports doorapp.config.wgout inside a function: such edges count
    assert "doorapp.config.wgout" in graph["doorapp.config.schema"]
