"""`python -m doorctl.bench TOPIC`: one topic's rows replaced in docs/benchmarks.md (new ones after
the topic's last), every other line as it was; an unknown topic is a usage error."""
import os

import pytest

from doorctl import bench, paths

KIND = {"taps": 100, "opened": 100, "p50_ms": 5.0, "p99_ms": 6.0, "commands": 1, "uart_bytes": 36, "uart_ms": 3.1,
        "heap_free": 1, "heap_used": 2}


def test_only_the_topics_rows_change(tmp_path, monkeypatch):
    os.makedirs(tmp_path / "docs")
    other = "| HTTP under load, per route | status 1 ok; users 2 ok |\n"
    res = {"bench_cards": {"uid": dict(KIND), "mifare": dict(KIND), "desfire": dict(KIND)}}
    rows = ["| %s | %s |\n" % r for r in bench.topic_modules()[-1][1].rows(res["bench_cards"])]
    doc = ["# B\n", "<!-- bench:start -->\n", "| measure | result |\n", "|---|---|\n", other] + rows + \
        ["| Conditions | x |\n", "\n", "<!-- bench:end -->\n"]
    (tmp_path / "docs" / "benchmarks.md").write_text("".join(doc))
    monkeypatch.setattr(paths, "ROOT", str(tmp_path))
    res["bench_cards"]["uid"]["p50_ms"] = 9.9
    res["bench_cards"]["plus"] = dict(KIND, commands=4)
    assert bench.update_topic_rows(res, ["bench_cards"])
    got = (tmp_path / "docs" / "benchmarks.md").read_text().splitlines(True)
    assert got[4] == other and "p50 9.9 ms" in got[5] and got[6:8] == rows[1:3]
    assert "MIFARE Plus" in got[8] and "4 PN532 commands" in got[8] and got[9] == "| Conditions | x |\n"
    assert not bench.update_topic_rows(res, ["bench_cards"])  # again: nothing to change


def test_an_unknown_topic_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["nosuch"])
    assert e.value.code == 2 and "unknown topic 'nosuch'" in capsys.readouterr().err
