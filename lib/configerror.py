"""Bad input files: the one error type (names the file and the field) and the JSON reader that raises it."""


class ConfigError(Exception):
    def __init__(self, file, field, message):
        super().__init__("%s: %s: %s" % (file, field, message))
        self.file = file
        self.field = field
        self.message = message


def read_json(path):
    """Parse a JSON file; a missing or malformed file is a ConfigError naming it."""
    import json

    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ConfigError(path, "(file)", "cannot be read")
    try:
        return json.loads(text)
    except ValueError:
        raise ConfigError(path, "(file)", "is not valid JSON")
