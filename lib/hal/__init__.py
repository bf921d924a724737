"""Board layer: device logic reaches pins, UARTs and I2C only through a Board built from a board file.

A board file (boards/<name>.json) says which pins and buses exist; `backend` picks the
implementation: `esp32` (machine.Pin/UART/I2C) or `sim` (the simulator on the unix port).
Validation lives in hal/boardfile.py, imported when a board file is read.
"""


def load_board(path):
    """Read and validate a board file; errors name the file and the field."""
    from hal import boardfile

    return boardfile.load_board(path)


def validate_board(spec, path="board"):
    from hal import boardfile

    return boardfile.validate_board(spec, path)


def open_board(spec, **options):
    """Instantiate the backend named by the board file."""
    if spec["backend"] == "esp32":
        from hal.esp32 import Board
    else:
        from hal.sim import Board
    return Board(spec, **options)
