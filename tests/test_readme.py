"""The README a newcomer reads: it names only files that exist, lists every `doorctl` command,
says in plain words what first boot asks, and the licence it names is the one shipped."""
import glob
import os
import re

from doorctl import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP_DIRS = ("firmware", "lib", "host_tools", "boards", "docs", "tests", "bench")
CHECKED = ("README.md", "docs/hardware.md", "boards/README.md")


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


def top_section():
    """The README up to the detailed feature list: what a newcomer reads first."""
    text = read("README.md")
    return text[:text.index("\n## What works today")]


def missing_files(rel):
    """Paths a document names (links, `firmware/...`-style paths) that are not in the checkout."""
    text = read(rel)
    here = os.path.dirname(os.path.join(ROOT, rel))
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        if not os.path.exists(os.path.normpath(os.path.join(here, target.split("#")[0]))):
            bad.append(target)
    for path in re.findall(r"(?<![\w/.<-])((?:%s)/[\w./*<>-]*)" % "|".join(TOP_DIRS), text):
        pattern = re.sub(r"<[^>]*>", "*", path.rstrip("."))
        if not glob.glob(os.path.join(ROOT, pattern)):
            bad.append(path)
    return bad


def test_docs_name_only_files_that_exist():
    for rel in CHECKED:
        assert missing_files(rel) == [], rel


def test_the_file_check_catches_a_missing_file(tmp_path, monkeypatch):
    """The check above can fail: a README naming a file that isn't there is caught."""
    (tmp_path / "README.md").write_text("see [design](DESIGN.md), `firmware/nope.py`, docs/ble.md and "
                                        "[the API](docs/http-api.md#authentication)\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ble.md").write_text("x")
    (tmp_path / "docs" / "http-api.md").write_text("x")
    monkeypatch.setattr(__import__(__name__), "ROOT", str(tmp_path))
    assert missing_files("README.md") == ["DESIGN.md", "firmware/nope.py"]


def test_docs_stand_alone():
    for rel in ["README.md", "boards/README.md"] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        text = read(rel)
        assert "DESIGN.md" not in text and "../shared" not in text, rel


def cli_commands():
    parser = cli.build_parser()
    sub = [a for a in parser._actions if a.dest == "command"][0]
    return set(sub.choices)


def test_readme_lists_every_command():
    have = cli_commands()
    assert {"sim", "pn532-emu", "build", "firmware", "sim-image", "doctor", "wiring"} <= have
    listed = set(re.findall(r"^\| `doorctl ([\w-]+)` \|", read("README.md"), re.M))
    assert listed == have
    # the architecture's row for cli.py names them all too
    row = [ln for ln in read("README.md").splitlines() if ln.startswith("| `cli.py` |")][0]
    assert {c for c in have if "`%s`" % c in row} == have


def test_readme_top_is_for_a_newcomer():
    top = top_section()
    assert "make sim" in top and "make test" in top
    assert "[hardware guide](docs/hardware.md)" in top
    img = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", top)
    assert img and all(os.path.exists(os.path.join(ROOT, p)) for p in img)
    for jargon in (r"\bheap\b", r"\bseed 0", r"\bpsram\b", r"\blean\b profile", "Akuvox", "mpy-cross"):
        assert not re.search(jargon, top), jargon
    assert "micropython.org/download" in top and "doorctl firmware download" in top
    assert "[LICENSE](LICENSE)" in top


def test_readme_security_words_match_the_firmware():
    """The first-boot password and its rules as the firmware has them."""
    api = read("firmware/doorapp/http/api.py")
    first = re.search(r'^FIRST_BOOT_PASSWORD = "([^"]+)"', api, re.M).group(1)
    shortest = int(re.search(r"^MIN_PASSWORD = const\((\d+)\)", api, re.M).group(1))
    top = top_section()
    sec = top[top.index("## Security in plain words"):]
    assert "the admin password is `%s`" % first in sec
    assert "%d-64 characters, not `%s`" % (shortest, first) in sec
    assert "`doorctl provision`" in sec and "`403`" in sec
    for words in ("UID", "copy", "plain HTTP", "own", "docs/security.md"):
        assert words in sec, words


def test_licence_file_is_the_one_pyproject_declares():
    declared = re.search(r'^license = \{text = "([^"]+)"\}', read("host_tools/pyproject.toml"), re.M).group(1)
    assert declared == "MIT"
    lic = read("LICENSE")
    assert lic.startswith("MIT License\n\nCopyright (c) ")
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in lic
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in lic
