"""``chute dict …`` on every backend, through typer's CliRunner (same process, real storage)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import chute
from chute.cli import app
from chute.cli.dict import _display

runner = CliRunner()


def cli(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=input)
    return result.exit_code, result.output


def test_dict_lifecycle(chute_env: str) -> None:
    assert cli("dict", "create", "cfg")[0] == 0
    assert cli("dict", "create", "cfg")[0] == 0  # like `modal dict create`: fine if it exists
    code, out = cli("dict", "put", "cfg", "greeting", "hello")
    assert code == 0 and "greeting" in out
    assert cli("dict", "put", "cfg", "obj", "-j", '{"k": [1, 2]}')[0] == 0
    assert cli("dict", "put", "cfg", "1", "one")[0] == 0  # keys are always str
    d = chute.Dict.from_name("cfg")
    assert d["greeting"] == "hello" and d["obj"] == {"k": [1, 2]} and d["1"] == "one" and 1 not in d
    assert cli("dict", "get", "cfg", "greeting")[1].strip() == "hello"
    assert cli("dict", "get", "cfg", "missing") == (0, "None\n")
    assert json.loads(cli("dict", "get", "cfg", "obj", "--json")[1]) == {"k": [1, 2]}
    assert json.loads(cli("dict", "get", "cfg", "missing", "--json")[1]) is None
    code, out = cli("dict", "put", "cfg", "greeting", "again", "--skip-if-exists")
    assert code == 1 and "already exists" in out and d["greeting"] == "hello"
    rows = json.loads(cli("dict", "list", "--json")[1])
    assert [r["name"] for r in rows] == ["cfg"] and rows[0]["id"].startswith("di-")
    assert "cfg" in cli("dict", "list")[1]
    items = json.loads(cli("dict", "items", "cfg", "--json")[1])
    assert sorted((i["key"], json.dumps(i["value"])) for i in items) == [
        ("1", '"one"'),
        ("greeting", '"hello"'),
        ("obj", '{"k": [1, 2]}'),
    ]
    assert cli("dict", "clear", "cfg", "--yes")[0] == 0
    assert d.len() == 0
    assert cli("dict", "delete", "cfg", input="n\n")[0] != 0  # declined
    assert cli("dict", "delete", "cfg", "--yes")[0] == 0
    code, out = cli("dict", "get", "cfg", "greeting")
    assert code == 1 and "not found" in out
    assert cli("dict", "delete", "cfg", "--yes")[0] == 1
    assert cli("dict", "delete", "cfg", "--yes", "--allow-missing")[0] == 0


def test_dict_items_display(chute_env: str) -> None:
    d = chute.Dict.from_name("many", create_if_missing=True)
    d.update({f"k{i:02}": i for i in range(25)})
    d["long"] = "x" * 200
    code, out = cli("dict", "items", "many")
    assert code == 0
    assert out.count("...") == 2 + ("x" * 80 + "..." in out)  # the "..." row (two cells)
    assert len(json.loads(cli("dict", "items", "many", "5", "--json")[1])) == 5
    assert len(json.loads(cli("dict", "items", "many", "--all", "--json")[1])) == 26
    code, out = cli("dict", "items", "many", "-a", "-r")
    assert code == 0 and "'k00'" in out and out.count("x") <= 80
    assert _display("x" * 200, use_repr=False) == "x" * 80 + "..."  # like modal: cut at 80 chars
    assert _display("x" * 80, use_repr=True) == "'" + "x" * 79 + "..."
    assert _display(b"ab", use_repr=False) == "b'ab'"


def test_dict_env_and_errors(chute_env: str) -> None:
    assert cli("dict", "put", "d", "k", "v", "--env", "dev")[0] == 0
    assert json.loads(cli("dict", "list", "--json")[1]) == []
    assert [r["name"] for r in json.loads(cli("dict", "list", "--json", "-e", "dev")[1])] == ["d"]
    assert cli("dict", "get", "d", "k", "-e", "dev")[1].strip() == "v"
    code, out = cli("dict", "create", "bad name")
    assert code == 1 and "Invalid Dict name" in out
    code, out = cli("dict", "put", "d", "k", "{not json", "-j")
    assert code != 0 and "JSON" in out
    code, out = cli("dict", "items", "nope")
    assert code == 1 and "not found" in out
