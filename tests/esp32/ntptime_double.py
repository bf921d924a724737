"""A test double of MicroPython's stock `ntptime`: settime() records the server it would ask
(the unix port cannot set the system clock)."""
host = "pool.ntp.org"
timeout = 1
asked = []


def settime():
    asked.append((host, timeout))
