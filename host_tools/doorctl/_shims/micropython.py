"""CPython stand-in for MicroPython's `micropython` module, so device code imports on the host."""


def const(value):
    return value


def native(func):
    return func


def viper(func):
    return func


def schedule(func, arg):
    func(arg)
