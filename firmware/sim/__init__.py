"""The simulator: the real firmware on the MicroPython unix port with the `sim` board backend."""
