"""The reader tasks of a board's Wiegand reader, matrix keypad and QR scanner (doorapp/readers/credentials.py).

from micropython import const

# the event log's codes (lib/eventcodes.py names them)
_KIND_CARD = const(1)
_KIND_PIN = const(2)
_KIND_QR = const(3)

Built once when the door starts running (Door.run), then this module is dropped: the board-file
lookups and wiring never need to stay in the heap.
"""


def tasks(readers):
    """The reader coroutines for Door.run."""
    board = readers.board
    spec = board.spec
    out = []
    if "wiegand" in spec:
        from wiegand import WiegandAssembler, watch

        asm = WiegandAssembler(frame_gap_us=spec["wiegand"]["frame_gap_us"])
        board.wiegand_input(asm)
        out.append(watch(asm, readers.guarded(readers.on_wiegand, _KIND_CARD), readers.on_wiegand_error))
    if "keypad" in spec:
        from keypad import MatrixKeypad

        k = spec["keypad"]
        rows = [board.output(p, False) for p in k["rows"]]  # driven low when scanned
        cols = [board.input(p, "up") for p in k["cols"]]
        kp = MatrixKeypad(rows, cols, debounce_ms=k["debounce_ms"])
        out.append(kp.run(readers.guarded(readers.key, _KIND_PIN)))
    if "qr_scanner" in spec:
        from doorapp.readers.qr import on_qr
        from qrscanner import QRLineReader

        door = readers.door
        qr = QRLineReader(readers.guarded(lambda text: on_qr(door, text), _KIND_QR))
        out.append(qr.run(board.qr_stream()))
    return out
