"""TTL nodes on a server without extendedTypesEnabled: createTTL (and a plain create with a TTL
mode) is UNIMPLEMENTED, and nothing is created; containers still work."""

from kazoo.exceptions import UnimplementedError

from zkhelp import (
    PERSISTENT_WITH_TTL,
    close,
    connect,
    create_container,
    create_ttl,
    expect_error,
    raw_create,
    step,
)

zk = connect()
try:
    step("createTTL is UNIMPLEMENTED without extendedTypesEnabled")
    expect_error(UnimplementedError, create_ttl, zk, "/ttl", 60_000)
    expect_error(UnimplementedError, create_ttl, zk, "/ttl-", 60_000, sequential=True)
    expect_error(UnimplementedError, raw_create, zk, "/ttl", flags=PERSISTENT_WITH_TTL)
    assert zk.get_children("/") == ["zookeeper"], zk.get_children("/")

    step("the session carries on")
    zk.create("/after", b"ok")
    assert zk.get("/after")[0] == b"ok"

    step("containers do not need extendedTypesEnabled")
    path, _ = create_container(zk, "/box")
    assert path == "/box"
finally:
    close(zk)
print("ttl_disabled: ok")
