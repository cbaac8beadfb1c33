"""Shared helpers for the kazoo integration scripts (see tests/kazoo.rs).

Each script takes `host:port` as argv[1] and drives the server through kazoo, the real Python
client. Where kazoo 2.11 (the newest on PyPI) has no API for an opcode (createContainer,
createTTL, addWatch, checkWatches, removeWatches, setWatches, whoAmI, getEphemerals,
getAllChildrenNumber), the request is defined here in kazoo's own request style and sent through
kazoo's connection with `KazooClient._call`, so framing, xids, replies and errors still take
kazoo's code path.

Every wait is bounded: threading.Event.wait(timeout) or queue.get(timeout), never a bare sleep.
"""

import logging
import os
import queue
import socket
import sys
import threading
import time
from collections import namedtuple

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionDropped
from kazoo.protocol.serialization import (
    Create,
    Watch,
    int_struct,
    long_struct,
    read_string,
    stat_struct,
    write_buffer,
    write_string,
)
from kazoo.protocol.states import ZnodeStat
from kazoo.security import OPEN_ACL_UNSAFE

# How long any single wait in these scripts may take before the script fails.
WAIT = 10.0

# ZooKeeper event types (Watcher.Event.EventType).
NODE_CREATED = 1
NODE_DELETED = 2
NODE_DATA_CHANGED = 3
NODE_CHILDREN_CHANGED = 4

# CreateMode flags.
PERSISTENT = 0
EPHEMERAL = 1
SEQUENTIAL = 2
CONTAINER = 4
PERSISTENT_WITH_TTL = 5
PERSISTENT_SEQUENTIAL_WITH_TTL = 6

# AddWatchMode.
ADD_WATCH_PERSISTENT = 0
ADD_WATCH_PERSISTENT_RECURSIVE = 1

# WatcherType for checkWatches / removeWatches.
WATCHER_CHILDREN = 1
WATCHER_DATA = 2
WATCHER_ANY = 3
WATCHER_PERSISTENT = 4  # 3.9
WATCHER_PERSISTENT_RECURSIVE = 5  # 3.9

if os.environ.get("KAZOO_DEBUG"):
    logging.basicConfig(level=logging.DEBUG)
else:
    logging.basicConfig(level=logging.WARNING)


def hostport():
    assert len(sys.argv) >= 2, "usage: %s HOST:PORT" % sys.argv[0]
    return sys.argv[1]


def connect(timeout=10.0, **kw):
    """A started client; `timeout` is the session timeout in seconds."""
    c = KazooClient(hosts=hostport(), timeout=timeout, **kw)
    c.start(timeout=WAIT)
    return c


def close(*clients):
    for c in clients:
        try:
            c.stop()
        finally:
            c.close()


def step(name):
    """Prints a progress line, so a failure's output shows how far the script got."""
    print("--", name, flush=True)


def expect_error(exc_type, fn, *args, **kw):
    """Calls fn and asserts it raises exc_type; returns the exception."""
    try:
        result = fn(*args, **kw)
    except exc_type as e:
        return e
    except Exception as e:  # noqa: BLE001 - the message names what came instead
        raise AssertionError(
            "%s%r: expected %s, got %s: %r"
            % (getattr(fn, "__name__", fn), args, exc_type.__name__, type(e).__name__, e)
        )
    raise AssertionError(
        "%s%r: expected %s, got result %r"
        % (getattr(fn, "__name__", fn), args, exc_type.__name__, result)
    )


class Recorder:
    """A watcher callback that records every event it is given and wakes waiters."""

    def __init__(self, name="watch"):
        self.name = name
        self.events = []
        self.cond = threading.Condition()

    def __call__(self, event):
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait(self, n=1, timeout=WAIT):
        """Waits until at least n events arrived; returns the events."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.events) < n:
                left = deadline - time.monotonic()
                assert left > 0, "%s: waited %.1fs for %d event(s), got %r" % (
                    self.name,
                    timeout,
                    n,
                    self.events,
                )
                self.cond.wait(left)
            return list(self.events)

    def quiet_for(self, seconds):
        """True if no event beyond those seen arrives within `seconds` (used only after a
        barrier has made any due event certain to have been sent already)."""
        deadline = time.monotonic() + seconds
        with self.cond:
            n = len(self.events)
            while len(self.events) == n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                self.cond.wait(left)
            return False


class StateLog:
    """A kazoo connection-state listener with bounded waits for a given state."""

    def __init__(self, client):
        self.states = []
        self.cond = threading.Condition()
        client.add_listener(self)

    def __call__(self, state):
        with self.cond:
            self.states.append(state)
            self.cond.notify_all()
        return False

    def wait_for(self, state, after=0, timeout=WAIT):
        """Waits until `state` appears at an index >= after; returns its index."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(after, len(self.states)):
                    if self.states[i] == state:
                        return i
                left = deadline - time.monotonic()
                assert left > 0, "waited %.1fs for state %s, saw %r" % (
                    timeout,
                    state,
                    self.states,
                )
                self.cond.wait(left)

    def mark(self):
        with self.cond:
            return len(self.states)


class Wire:
    """Records, in arrival order, the watch events and replies a kazoo client's connection
    thread reads, and gives raw access to watch events that kazoo itself would drop (persistent
    watches fire for paths kazoo has no one-shot watcher for)."""

    def __init__(self, client):
        self.log = []  # ("event", type, path) | ("reply", request type name, path)
        self.events = queue.Queue()  # (type, path) of every notification
        conn = client._connection
        orig_event = conn._read_watch_event
        orig_response = conn._read_response

        def read_watch_event(buffer, offset):
            w, _ = Watch.deserialize(buffer, offset)
            self.log.append(("event", w.type, w.path))
            self.events.put((w.type, w.path))
            return orig_event(buffer, offset)

        def read_response(header, buffer, offset):
            request = client._pending[0][0] if client._pending else None
            self.log.append(
                ("reply", type(request).__name__, getattr(request, "path", None))
            )
            return orig_response(header, buffer, offset)

        conn._read_watch_event = read_watch_event
        conn._read_response = read_response

    def next_event(self, timeout=WAIT, what="a watch event"):
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("waited %.1fs for %s; wire log %r" % (timeout, what, self.log))

    def no_event(self, timeout):
        """None if no notification arrives within timeout, else the one that did."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self):
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out


def sever(client):
    """Cuts a client's TCP connection without a closeSession, as a network fault would. The
    session lives on; kazoo reconnects to it."""
    sock = client._connection._socket
    assert sock is not None, "client has no socket to sever"
    sock.shutdown(socket.SHUT_RDWR)


class Blackhole:
    """Keeps a kazoo client from reconnecting until released, so its session can expire on the
    server while the client still holds the session id."""

    def __init__(self, client):
        self.client = client
        self.orig = client._connection._connect
        self.blocked = threading.Event()
        self.attempts = 0

        def refuse(host, hostip, port):
            self.attempts += 1
            self.blocked.set()
            raise ConnectionDropped("test blackhole: connection refused")

        client._connection._connect = refuse

    def release(self):
        self.client._connection._connect = self.orig


# ---- Requests kazoo 2.11 has no API for, in kazoo's request style ----


def _acl_bytes(acl):
    b = bytearray(int_struct.pack(len(acl)))
    for a in acl:
        b.extend(int_struct.pack(a.perms) + write_string(a.id.scheme) + write_string(a.id.id))
    return b


def _read_stat(buffer, offset):
    return ZnodeStat._make(stat_struct.unpack_from(buffer, offset)), offset + stat_struct.size


def _read_string_vector(buffer, offset):
    n = int_struct.unpack_from(buffer, offset)[0]
    offset += int_struct.size
    out = []
    for _ in range(max(n, 0)):
        s, offset = read_string(buffer, offset)
        out.append(s)
    return out, offset


def _string_vector(items):
    b = bytearray(int_struct.pack(len(items)))
    for s in items:
        b.extend(write_string(s))
    return b


class CreateContainer(namedtuple("CreateContainer", "path data acl flags")):
    """createContainer (19): CreateRequest; the reply is Create2Response (path, stat)."""

    type = 19

    def serialize(self):
        return (
            write_string(self.path)
            + write_buffer(self.data)
            + _acl_bytes(self.acl)
            + int_struct.pack(self.flags)
        )

    @classmethod
    def deserialize(cls, buffer, offset):
        path, offset = read_string(buffer, offset)
        stat, _ = _read_stat(buffer, offset)
        return path, stat


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    """createTTL (21): CreateTTLRequest; the reply is Create2Response (path, stat)."""

    type = 21

    def serialize(self):
        return (
            write_string(self.path)
            + write_buffer(self.data)
            + _acl_bytes(self.acl)
            + int_struct.pack(self.flags)
            + long_struct.pack(self.ttl)
        )

    @classmethod
    def deserialize(cls, buffer, offset):
        path, offset = read_string(buffer, offset)
        stat, _ = _read_stat(buffer, offset)
        return path, stat


class AddWatch(namedtuple("AddWatch", "path mode")):
    """addWatch (106): AddWatchRequest; the reply body is ErrorResponse(0)."""

    type = 106

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.mode)

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


class CheckWatches(namedtuple("CheckWatches", "path watcher_type")):
    """checkWatches (17): CheckWatchesRequest; an empty reply, or NOWATCHER."""

    type = 17

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.watcher_type)

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


class RemoveWatches(namedtuple("RemoveWatches", "path watcher_type")):
    """removeWatches (18): RemoveWatchesRequest; an empty reply, or NOWATCHER."""

    type = 18

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.watcher_type)

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


class SetWatches(namedtuple("SetWatches", "relative_zxid data exist child")):
    """setWatches (101), as a client sends it after reconnecting to its session."""

    type = 101

    def serialize(self):
        return (
            long_struct.pack(self.relative_zxid)
            + _string_vector(self.data)
            + _string_vector(self.exist)
            + _string_vector(self.child)
        )

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


class SetWatches2(namedtuple("SetWatches2", "relative_zxid data exist child persistent recursive")):
    """setWatches2 (105): setWatches plus persistent and persistent-recursive watch paths."""

    type = 105

    def serialize(self):
        return (
            long_struct.pack(self.relative_zxid)
            + _string_vector(self.data)
            + _string_vector(self.exist)
            + _string_vector(self.child)
            + _string_vector(self.persistent)
            + _string_vector(self.recursive)
        )

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


class WhoAmI:
    """whoAmI (107): no body; the reply is vector<ClientInfo{authScheme, user}>. (Not an empty
    namedtuple: kazoo drops the reply of a request object that is falsy.)"""

    type = 107

    def __repr__(self):
        return "WhoAmI()"

    def serialize(self):
        return b""

    @classmethod
    def deserialize(cls, buffer, offset):
        n = int_struct.unpack_from(buffer, offset)[0]
        offset += int_struct.size
        out = []
        for _ in range(max(n, 0)):
            scheme, offset = read_string(buffer, offset)
            user, offset = read_string(buffer, offset)
            out.append((scheme, user))
        return out


class GetEphemerals(namedtuple("GetEphemerals", "prefix")):
    """getEphemerals (103): GetEphemeralsRequest(prefixPath); reply vector<string>."""

    type = 103

    def serialize(self):
        return write_string(self.prefix)

    @classmethod
    def deserialize(cls, buffer, offset):
        return _read_string_vector(buffer, offset)[0]


class GetAllChildrenNumber(namedtuple("GetAllChildrenNumber", "path")):
    """getAllChildrenNumber (104): GetAllChildrenNumberRequest(path); reply int."""

    type = 104

    def serialize(self):
        return write_string(self.path)

    @classmethod
    def deserialize(cls, buffer, offset):
        return int_struct.unpack_from(buffer, offset)[0]


def call(client, request, timeout=WAIT):
    """Sends a request through kazoo's connection and returns its result (raising kazoo's
    exception for an error reply)."""
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=timeout)


def raw_create(client, path, data=b"", acl=None, flags=PERSISTENT):
    """create (1) with flags kazoo's create() would not send, through kazoo's own Create."""
    return call(client, Create(path, data, OPEN_ACL_UNSAFE if acl is None else acl, flags))


def create_container(client, path, data=b"", acl=None):
    return call(client, CreateContainer(path, data, OPEN_ACL_UNSAFE if acl is None else acl, CONTAINER))


def create_ttl(client, path, ttl_ms, data=b"", acl=None, sequential=False):
    flags = PERSISTENT_SEQUENTIAL_WITH_TTL if sequential else PERSISTENT_WITH_TTL
    return call(client, CreateTTL(path, data, OPEN_ACL_UNSAFE if acl is None else acl, flags, ttl_ms))


def wait_gone(client, path, timeout=WAIT, what=None):
    """Waits (with an exists watch, not polling) until path does not exist."""
    gone = threading.Event()

    def watcher(event):
        gone.set()

    deadline = time.monotonic() + timeout
    while client.exists(path, watch=watcher) is not None:
        left = deadline - time.monotonic()
        assert left > 0 and gone.wait(left), "%s still exists after %.1fs" % (
            what or path,
            timeout,
        )
        gone.clear()


def wait_children(client, path, predicate, timeout=WAIT, what=None):
    """Waits (with child watches, not polling) until predicate(children of path) holds;
    returns the children."""
    changed = threading.Event()

    def watcher(event):
        changed.set()

    deadline = time.monotonic() + timeout
    while True:
        changed.clear()
        children = client.get_children(path, watch=watcher)
        if predicate(children):
            return children
        left = deadline - time.monotonic()
        assert left > 0 and changed.wait(left), "%s: children of %s still %r after %.1fs" % (
            what or "wait_children",
            path,
            children,
            timeout,
        )


