"""Generated rows in a document, between a pair of marker comments (make bench, make powercut,
make soak write their figures into README.md or docs/ this way)."""


def replace_between(path, start, end, text):
    """Put `text` between the `start` and `end` markers of the file at `path`; False (nothing
    written) if the file lacks them."""
    with open(path) as f:
        doc = f.read()
    if start not in doc or end not in doc:
        return False
    head, rest = doc.split(start, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(head + start + "\n" + text + "\n" + end + tail)
    return True
