"""Runs before main.py on the device. Nothing to do yet: LittleFS is mounted by MicroPython."""
