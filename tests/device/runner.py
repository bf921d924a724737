"""Runs one device test module under any interpreter (MicroPython or CPython).

Usage: micropython runner.py test_module [test_name]
Every top-level function named test_* is called; the last line says how many passed/failed and
the exit code is non-zero on any failure.
"""
import sys

try:
    from sys import print_exception
except ImportError:
    import traceback

    def print_exception(e):
        traceback.print_exception(type(e), e, e.__traceback__)


def main():
    modname = sys.argv[1]
    only = sys.argv[2] if len(sys.argv) > 2 else None
    mod = __import__(modname)
    names = [n for n in sorted(dir(mod)) if n.startswith("test_") and (only is None or n == only)]
    failed = []
    for name in names:
        try:
            getattr(mod, name)()
        except Exception as e:  # report and keep going
            failed.append(name)
            print("FAIL", modname + "." + name)
            print_exception(e)
    print("device-suite %s: %d ok, %d bad" % (modname, len(names) - len(failed), len(failed)))
    if not names:
        print("no tests found")
        sys.exit(2)
    sys.exit(1 if failed else 0)


main()
