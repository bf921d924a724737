"""The one error type for bad input files: it names the file and the field, never a traceback."""


class ConfigError(Exception):
    def __init__(self, file, field, message):
        super().__init__("%s: %s: %s" % (file, field, message))
        self.file = file
        self.field = field
        self.message = message
