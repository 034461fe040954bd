"""``chute queue …`` on every backend, through typer's CliRunner (same process, real storage)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import chute
from chute.cli import app

runner = CliRunner()


def cli(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=input)
    return result.exit_code, result.output


def test_queue_lifecycle(chute_env: str) -> None:
    assert cli("queue", "create", "jobs")[0] == 0
    assert cli("queue", "create", "jobs")[0] == 0  # like `modal queue create`: fine if it exists
    code, out = cli("queue", "put", "jobs", "a", "b", "c")
    assert code == 0 and "3 item" in out
    assert cli("queue", "put", "jobs", "-j", '{"k": [1, 2]}', "-p", "p1")[0] == 0
    assert cli("queue", "len", "jobs")[1].strip() == "3"
    assert cli("queue", "len", "jobs", "--total")[1].strip() == "4"
    assert json.loads(cli("queue", "len", "jobs", "-p", "p1", "--json")[1])["len"] == 1
    assert cli("queue", "peek", "jobs", "2")[1].split() == ["a", "b"]
    assert json.loads(cli("queue", "peek", "jobs", "-p", "p1", "--json")[1]) == [{"k": [1, 2]}]
    code, out = cli("queue", "get", "jobs", "--json")
    assert code == 0 and json.loads(out) == ["a"]
    rows = json.loads(cli("queue", "list", "--json")[1])
    assert [(r["name"], r["partitions"], r["total_size"]) for r in rows] == [("jobs", 2, 3)]
    assert "jobs" in cli("queue", "list")[1]
    assert cli("queue", "clear", "jobs", "--all", "--yes")[0] == 0
    assert chute.Queue.from_name("jobs").len(total=True) == 0
    code, _ = cli("queue", "get", "jobs")
    assert code == 1  # empty
    assert cli("queue", "delete", "jobs", input="n\n")[0] != 0  # declined
    assert cli("queue", "delete", "jobs", "--yes")[0] == 0
    code, out = cli("queue", "len", "jobs")
    assert code == 1 and "not found" in out
    assert cli("queue", "delete", "jobs", "--yes")[0] == 1
    assert cli("queue", "delete", "jobs", "--yes", "--allow-missing")[0] == 0


def test_queue_env_and_errors(chute_env: str) -> None:
    assert cli("queue", "put", "q", "x", "--env", "dev")[0] == 0
    assert json.loads(cli("queue", "list", "--json")[1]) == []
    assert [r["name"] for r in json.loads(cli("queue", "list", "--json", "-e", "dev")[1])] == ["q"]
    code, out = cli("queue", "create", "bad name")
    assert code == 1 and "Invalid Queue name" in out
    code, out = cli("queue", "len", "q", "-e", "dev", "-p", "")
    assert code == 1 and "partition key" in out
