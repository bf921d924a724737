"""`doorctl wiring`: a board's wiring diagram (SVG) or table (Markdown), drawn from its board file
(doorctl.wiring); `--docs` rewrites docs/img/wiring-*.svg and the tables in docs/hardware.md for
every real board, `--docs --check` only says whether they are current."""
import os
import sys

from doorctl import paths, wiring
from doorctl.errors import CliError


def doc_outputs(root=None):
    """{relative path: expected text} of the generated docs (diagrams; tables in docs/hardware.md)."""
    root = root or paths.ROOT
    out = {}
    doc_path = os.path.join(root, wiring.DOC)
    with open(doc_path) as f:
        doc = f.read()
    for name in wiring.real_boards():
        path, spec = wiring.load(name)
        out[wiring.image_path(name)] = wiring.svg(spec, "boards/%s.json" % name)
        start, end = wiring.table_markers(name)
        if start not in doc or end not in doc:
            raise CliError("%s: no %s ... %s markers for board %s" % (wiring.DOC, start, end, name))
        head, rest = doc.split(start, 1)
        _old, tail = rest.split(end, 1)
        doc = head + start + "\n" + wiring.table(spec) + "\n" + end + tail
    out[wiring.DOC] = doc
    return out


def _shown(path):
    """A board file's path as the diagram names it: relative to the checkout when inside it."""
    full = os.path.abspath(path)
    root = os.path.abspath(paths.ROOT)
    return os.path.relpath(full, root) if full.startswith(root + os.sep) else path


def cmd_wiring(args):
    try:
        if args.check and not args.docs:
            raise CliError("--check goes with --docs")
        if args.docs:
            return _docs(args.check)
        if not args.board:
            raise CliError("give --board NAME|PATH (or --docs)")
        path, spec = wiring.load(args.board)
        text = wiring.table(spec) + "\n" if args.table else wiring.svg(spec, _shown(path))
    except wiring.WiringError as e:
        raise CliError(str(e))
    if args.output and args.output != "-":
        with open(args.output, "w") as f:
            f.write(text)
        print("%s: %s of %s (%d GPIOs)" % (args.output, "table" if args.table else "diagram", spec["name"],
                                           len(wiring.board_pins(spec))))
    else:
        sys.stdout.write(text)
    return 0


def _docs(check):
    stale = []
    for rel, text in doc_outputs().items():
        full = os.path.join(paths.ROOT, rel)
        try:
            with open(full) as f:
                same = f.read() == text
        except FileNotFoundError:
            same = False
        if same:
            continue
        stale.append(rel)
        if not check:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
    if check:
        if stale:
            print("out of date (run `doorctl wiring --docs`): " + ", ".join(stale))
            return 1
        print("wiring diagrams and tables match the board files")
        return 0
    print("updated: " + (", ".join(stale) if stale else "nothing (all current)"))
    return 0


def register(sub):
    p = sub.add_parser(
        "wiring", help="draw a board's wiring diagram (SVG) or table from its board file",
        description="Draw the wiring of a board (ESP32 pins to the PN532, relays and lock, inputs, LED, buzzer, "
                    "Wiegand reader, keypad, QR scanner, power) from its board file, so it always matches the pins "
                    "the firmware uses. Errors name the board file and field; exit 1.")
    p.add_argument("--board", help="board name (esp32-devkitc) or board file path")
    p.add_argument("-o", "--output", help="write here instead of standard output")
    p.add_argument("--table", action="store_true", help="a Markdown wiring table instead of the SVG diagram")
    p.add_argument("--docs", action="store_true",
                   help="regenerate docs/img/wiring-BOARD.svg and the tables in docs/hardware.md for every real board")
    p.add_argument("--check", action="store_true", help="with --docs: write nothing, exit 1 if anything is stale")
    p.set_defaults(func=cmd_wiring)
