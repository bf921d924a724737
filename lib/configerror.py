"""Bad input files: the one error type, naming the file and the field (JSON files are read by
jsoncheck.read_json)."""


class ConfigError(Exception):
    def __init__(self, file, field, message):
        super().__init__("%s: %s: %s" % (file, field, message))
        self.file = file
        self.field = field
        self.message = message
