"""Scenario 14 (Redis only): TLS + an ACL user confined to chute's key prefix, credentials,
and a server whose maxmemory-policy may evict chute's keys.

The TLS server is Debian's ``redis-server`` (built with TLS; ``scripts/test`` installs it),
with certificates made by ``trustme``. The ACL user gets exactly ``CHUTE_COMMANDS``: the test
also checks that chute's sources call no command outside that list, so the ACL documented in
docs/deploy/users.acl (shown by docs/guarantees.md and docs/deployment.md) stays the minimal
complete one.
"""

from __future__ import annotations

import queue as stdlib_queue
import re
import shutil
import subprocess
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import trustme

import chute
from chute.backends import _redis_scripts
from chute.exception import AuthError, Error
from tests._servers import RedisServer, free_port, start_redis
from tests.chaos import chaos_app
from tests.chaos._tally import Tally

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "chute14:"
USER_PW = "chute-user-pw-7"
ADMIN_PW = "admin-pw-7"

# Everything chute sends: the commands it calls directly, then those its Lua scripts call.
CLIENT_COMMANDS = "evalsha script|load ping time set del exists hget hgetall hmget blpop blmpop blmove"
SCRIPT_COMMANDS = (
    "del exists get set incr incrby persist pexpire pexpireat time "
    "hdel hexists hget hincrby hkeys hlen hmget hset hsetnx "
    "lindex llen lpop lpush lrange ltrim rpush sadd scard srem "
    "zadd zcard zcount zpopmin zrange zrangebylex zrangebyscore zrem zremrangebyscore "
    "zrevrangebyscore zscore"
)
CHUTE_COMMANDS = sorted(set(CLIENT_COMMANDS.split()) | set(SCRIPT_COMMANDS.split()))
# Used when allowed, skipped when refused: INFO (in @dangerous) lets chute check maxmemory-policy.
OPTIONAL_COMMANDS = {"info"}
ACL_RULE = f"on >{USER_PW} resetkeys ~{PREFIX}* resetchannels -@all " + " ".join(
    f"+{c}" for c in CHUTE_COMMANDS
)


@dataclass
class TLSServer:
    port: int
    ca: Path
    proc: subprocess.Popen[bytes]

    def url(self, user: str = "chute", password: str = USER_PW, prefix: str = PREFIX) -> str:
        return f"rediss://{user}:{password}@127.0.0.1:{self.port}/0?prefix={prefix}&ssl_ca_certs={self.ca}"

    def admin(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, password=ADMIN_PW, ssl=True, ssl_ca_certs=str(self.ca)
        )


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "Debian's redis-server (TLS) is missing: apt-get install redis-server (scripts/test does)"
        )
    d = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
    cert.private_key_pem.write_to_path(str(d / "key.pem"))
    (d / "users.acl").write_text(f"user default on >{ADMIN_PW} ~* &* +@all\nuser chute {ACL_RULE}\n")
    port = free_port()
    conf = d / "redis.conf"
    conf.write_text(
        f"port 0\ntls-port {port}\nbind 127.0.0.1\ntls-cert-file {d / 'cert.pem'}\n"
        f"tls-key-file {d / 'key.pem'}\ntls-ca-cert-file {d / 'ca.pem'}\ntls-auth-clients no\n"
        f'save ""\nappendonly no\ndir {d}\naclfile {d / "users.acl"}\nloglevel warning\n'
    )
    proc = subprocess.Popen([binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = TLSServer(port, d / "ca.pem", proc)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"redis-server (TLS) exited at start: {err}")
            try:
                with server.admin() as r:
                    r.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail("redis-server (TLS) did not answer within 15 s")
                time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def _text(v: object) -> object:
    return v.decode() if isinstance(v, bytes) else v


def _commands_in_chute_sources() -> set[str]:
    lua_src = "\n".join(s.source for s in _redis_scripts.ALL)
    in_scripts = {c.lower() for c in re.findall(r"redis\.p?call\('([A-Za-z]+)'", lua_src)}
    src = "\n".join(
        (ROOT / "chute" / "backends" / "_async" / f).read_text() for f in ("redis.py", "redis_jobs.py")
    )
    # self._r.cmd(...), and blocking commands as lambdas r.cmd(...) run by AsyncRedisClient.block
    methods = set(re.findall(r"(?:self\._r|\br)\.([a-z_]+)\(", src))
    methods -= {"aclose", "register_script", "execute_command", "pipeline"}
    rename = {"delete": "del", "script_load": "script|load"}
    direct = {rename.get(m, m) for m in methods}  # redis-py method -> command
    # Commands given as tuples: ("SET", key, value) for _write, ("GET", key) for _pipe.
    direct |= {c.lower() for c in re.findall(r'\("([A-Z]+)", [a-z_.]+[,)]', src)}
    # Scripts run through EVALSHA, loaded with SCRIPT LOAD on NOSCRIPT (redis-py's Script).
    return in_scripts | direct | {"evalsha", "script|load"}


def _exercise(tally: Tally) -> None:
    """The queue/dict subset (plus spawn/get/cancel), each step counted."""
    q = chute.Queue.from_name("acl-q", create_if_missing=True)
    q.put(1)
    q.put_many([2, 3], partition="p", partition_ttl=30)
    assert q.get() == 1
    assert (q.len(partition="p"), q.len(total=True)) == (2, 2)
    assert list(q.iterate(partition="p")) == [2, 3]
    assert [(k, n) for k, n, _ in q.partitions()] == [(None, 0), ("p", 2)]  # drained, still live
    assert q.get_many(5, partition="p") == [2, 3]
    with pytest.raises(stdlib_queue.Empty):
        q.get(timeout=0.2)  # BLPOP
    with pytest.raises(stdlib_queue.Empty):
        q.get_many(3, timeout=0.2)  # BLMPOP
    q.put(4)
    q.clear(all=True)
    with chute.Queue.ephemeral() as e:
        e.put("eph")
        assert e.get() == "eph"
    assert [x.name for x in chute.Queue.objects.list()] == ["acl-q"]
    d = chute.Dict.from_name("acl-d", create_if_missing=True)
    d["a"] = 1
    assert d.put("b", 2, skip_if_exists=True) is True
    d.update({"c": 3})
    assert "a" in d and d.len() == 3 and sorted(d.items()) == [("a", 1), ("b", 2), ("c", 3)]
    assert d.pop("a") == 1
    d.clear()
    call = chaos_app.echo.spawn("tls")
    with pytest.raises(TimeoutError):
        call.get(timeout=0.2)  # BLMOVE on the call's done list
    call.cancel()
    assert call.info().state is chute.CallState.CANCELLED
    chute.Dict.objects.delete("acl-d")
    chute.Queue.objects.delete("acl-q")
    tally.acked = tally.received = 27  # the checks above


def test_tls_acl_user_confined_to_prefix(
    tls_server: TLSServer, monkeypatch: pytest.MonkeyPatch, tally: Tally
) -> None:
    """Over rediss://, as an ACL user with only CHUTE_COMMANDS on ~prefix:*, the queue/dict
    subset works and the server logs no ACL denial."""
    tally.scenario, tally.backend = "14a TLS + ACL (minimal commands)", "redis"
    missing = _commands_in_chute_sources() - set(CHUTE_COMMANDS) - OPTIONAL_COMMANDS
    assert not missing, f"chute calls commands the documented ACL lacks: {sorted(missing)}"
    documented = (ROOT / "docs" / "deploy" / "users.acl").read_text()
    assert sorted(re.findall(r"\+([a-z|]+)", documented)) == CHUTE_COMMANDS, "docs/deploy/users.acl is stale"
    with tls_server.admin() as admin:
        admin.execute_command("ACL", "LOG", "RESET")
    monkeypatch.setenv("CHUTE_URL", tls_server.url())
    try:
        _exercise(tally)
    finally:
        chute.Client.from_env().close()
    with tls_server.admin() as admin:
        log = admin.acl_log()
    entries = [{_text(k): _text(v) for k, v in e.items()} for e in log]
    # redis-py sends CLIENT SETINFO on connect and ignores a refusal; chute skips its INFO check.
    optional = {"client|setinfo", "client", *OPTIONAL_COMMANDS}
    denials = [e for e in entries if e.get("object") not in optional]
    tally.extra.update(
        commands=len(CHUTE_COMMANDS),
        acl_denials=len(denials),
        optional_refused=sorted(
            {str(e.get("object")) for e in entries} - {str(e.get("object")) for e in denials}
        ),
    )
    assert not denials, denials


def test_wrong_password_and_foreign_prefix(
    tls_server: TLSServer, monkeypatch: pytest.MonkeyPatch, tally: Tally
) -> None:
    """A wrong password is an AuthError that never shows the password; a prefix outside the
    user's key pattern is refused too (chute.exception.Error), password not shown either."""
    tally.scenario, tally.backend = "14b TLS wrong password", "redis"
    texts = {}
    for case, url in (
        ("wrong-password", tls_server.url(password="wr0ng-pw-99")),
        ("foreign-prefix", tls_server.url(prefix="other:")),
    ):
        monkeypatch.setenv("CHUTE_URL", url)
        try:
            with pytest.raises(Error) as err:
                chute.Queue.from_name("q", create_if_missing=True).len()
        finally:
            chute.Client.from_env().close()
        texts[case] = (err.value, "".join(traceback.format_exception(err.value)))
    wrong, foreign = texts["wrong-password"], texts["foreign-prefix"]
    tally.extra.update(wrong_pw=type(wrong[0]).__name__, foreign_prefix=type(foreign[0]).__name__)
    tally.acked = 2
    tally.received = sum(1 for e, _ in texts.values() if isinstance(e, Error))
    assert isinstance(wrong[0], AuthError), wrong[1]
    for exc, text in texts.values():
        assert "wr0ng-pw-99" not in text and USER_PW not in text and ADMIN_PW not in text, text
        assert "***" in str(exc) or "127.0.0.1" in str(exc)


@pytest.fixture
def evicting_server() -> Iterator[RedisServer]:
    srv = start_redis("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    try:
        yield srv
    finally:
        srv.stop()


def test_evicting_maxmemory_policy_is_reported(
    evicting_server: RedisServer, monkeypatch: pytest.MonkeyPatch, tally: Tally
) -> None:
    """maxmemory-policy allkeys-lru can silently drop queue items, dict entries and calls:
    chute must say so when it connects (a warning, or an error)."""
    tally.scenario, tally.backend = "14c evicting maxmemory-policy", "redis"
    monkeypatch.setenv("CHUTE_URL", f"{evicting_server.url}?prefix=evict:")
    raised: BaseException | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            q = chute.Queue.from_name("evict", create_if_missing=True)
            q.put(1)
            tally.acked = 1
            tally.received = int(q.get() == 1)
        except Error as exc:
            raised = exc
        finally:
            chute.Client.from_env().close()
    reported = [str(w.message) for w in caught if "maxmemory" in str(w.message)]
    if raised is not None and "maxmemory" in str(raised):
        reported.append(str(raised))
    tally.extra.update(
        reported=bool(reported), how=type(caught[0].message).__name__ if caught else repr(raised)
    )
    assert reported, "chute said nothing about maxmemory-policy allkeys-lru (it may evict chute's keys)"
