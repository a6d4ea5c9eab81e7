"""`digest subscribers import` reads the files spreadsheets write, and says when
a re-import changes nothing."""

from __future__ import annotations

import codecs
import csv
import io
import json

from digest.subscriber_csv import decode_csv, read_csv, sniff_delimiter
from digest.topics import load_catalog
from tests.cli_helpers import run_digest

ROWS = [
    ["email", "topics", "keywords", "authors", "hour", "confirmed"],
    ["ann@example.org", "nlp:5; robotics", "réseaux de neurones; naïve Bayes", "José Müller", "8", "true"],
    ["bob@example.org", "computer-vision", "", "", "9", "false"],
]  # fmt: skip


def env_for(database_url, tmp_path):
    return {"DIGEST_DATABASE_URL": database_url, "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox")}


def listed(env) -> dict[str, dict]:
    result = run_digest(["subscribers", "list", "--json"], env)
    assert result.exit_code == 0, result.stderr
    return {s["email"]: s for s in json.loads(result.stdout)}


def spreadsheet(delimiter: str, line_end: str = "\r\n") -> str:
    """ROWS as a spreadsheet program saves them (cells with `;` quoted)."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=line_end).writerows(ROWS)
    return out.getvalue()


def imported(env, path) -> tuple[int, str, str]:
    result = run_digest(["subscribers", "import", str(path)], env)
    return result.exit_code, result.stdout, result.stderr


def check_ann(env):
    ann = listed(env)["ann@example.org"]
    assert ann["topics"] == ["nlp:5", "robotics"]
    assert ann["keywords"] == ["réseaux de neurones", "naïve Bayes"]
    assert ann["authors"] == ["José Müller"] and ann["status"] == "active"


def test_an_excel_file_with_semicolons_and_a_byte_order_mark_imports(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    path = tmp_path / "excel.csv"
    path.write_bytes(codecs.BOM_UTF8 + spreadsheet(";").encode("utf-8"))
    status, out, err = imported(env, path)
    assert status == 0, err
    assert "Imported 2 new, updated 0, unchanged 0, rejected 0." in out
    assert "not UTF-8" not in out
    check_ann(env)


def test_a_unicode_text_export_tab_separated_utf16_imports(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    path = tmp_path / "unicode.txt"
    path.write_bytes(spreadsheet("\t").encode("utf-16"))  # BOM + UTF-16 LE
    status, out, err = imported(env, path)
    assert status == 0, err
    assert "Imported 2 new" in out
    check_ann(env)


def test_a_windows_1252_file_is_read_as_such_and_says_so(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    path = tmp_path / "latin.csv"
    path.write_bytes(spreadsheet(",").encode("cp1252"))
    status, out, err = imported(env, path)
    assert status == 0, err
    assert f"{path} is not UTF-8: read it as Windows-1252." in out
    assert "codec" not in out + err
    check_ann(env)


def test_bytes_windows_1252_lacks_are_read_as_latin_1():
    text, encoding = decode_csv("email,keywords\na@example.org,caf\u00e9 \x81\n".encode("latin-1"))
    assert encoding == "Latin-1" and "café \x81" in text


def test_the_delimiter_is_the_one_the_header_uses():
    assert sniff_delimiter("email;topics;hour\r\n") == ";"
    assert sniff_delimiter("email\ttopics\n") == "\t"
    assert sniff_delimiter("email,topics\n") == ","
    assert sniff_delimiter("email\n") == ","
    rows, errors = read_csv(io.StringIO(spreadsheet(";"), newline=""), load_catalog())
    assert errors == [] and [r.email for r in rows] == ["ann@example.org", "bob@example.org"]


def test_importing_the_same_file_again_changes_nothing_and_says_so(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    path = tmp_path / "people.csv"
    path.write_text(spreadsheet(","), encoding="utf-8")
    assert imported(env, path)[0] == 0
    before = listed(env)
    status, out, err = imported(env, path)
    assert status == 0, err
    assert "Imported 0 new, updated 0, unchanged 2, rejected 0." in out
    assert listed(env) == before
    # An export imported back is unchanged too; a real change is "updated".
    exported = tmp_path / "export.csv"
    assert run_digest(["subscribers", "export", "-o", str(exported)], env).exit_code == 0
    assert "unchanged 2" in imported(env, exported)[1]
    path.write_text(spreadsheet(",").replace(",9,", ",10,"), encoding="utf-8")
    assert "Imported 0 new, updated 1, unchanged 1, rejected 0." in imported(env, path)[1]
    assert listed(env)["bob@example.org"]["hour"] == 10
