"""Rules every device file keeps (firmware/ and lib/, simulator code included: it shares the heap).

- No `except (MemoryError, ...)`: the tuple is built when the clause is tested, so on a full heap
  the MemoryError escapes the very clause meant for it (one name per clause allocates nothing).
- No reaching into asyncio's internals (`core._io_queue`, the I/O queue's `map` or `poller`, a
  stream's socket `.s`): they change between MicroPython releases, and undoing a half-made entry
  in them once crashed the firmware (SIGSEGV in poll_unregister).
"""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def device_files():
    for top in ("firmware", "lib"):
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith(".py"):
                    yield os.path.join(d, f)


def test_no_tuple_except_naming_memory_error():
    bad = []
    for path in device_files():
        tree = ast.parse(open(path).read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Tuple):
                if any(isinstance(e, ast.Name) and e.id == "MemoryError" for e in node.type.elts):
                    bad.append("%s:%d" % (os.path.relpath(path, ROOT), node.lineno))
    assert not bad, bad


def test_no_asyncio_internals():
    bad = []
    for path in device_files():
        tree = ast.parse(open(path).read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "asyncio" and any(
                    a.name == "core" for a in node.names):
                bad.append("%s:%d from asyncio import core" % (os.path.relpath(path, ROOT), node.lineno))
            if isinstance(node, ast.Attribute) and node.attr in ("_io_queue", "poller", "queue_read", "queue_write"):
                bad.append("%s:%d .%s" % (os.path.relpath(path, ROOT), node.lineno, node.attr))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and node.args[1].value == "s":
                bad.append("%s:%d getattr(.., 's')" % (os.path.relpath(path, ROOT), node.lineno))
    assert not bad, bad
