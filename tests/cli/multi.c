/* A small program on the ZooKeeper C client library (libzookeeper_mt, Debian's
 * libzookeeper-mt-dev) for what its cli_mt shell cannot do: multi. (The 3.8 C library has no
 * create2 sub-op, so only create, delete, setData and check are exercised.) tests/cclient.rs compiles it
 * with `cc` and compares its output with what it prints against Apache ZooKeeper 3.8.
 *
 * usage: multi host:port
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zookeeper/zookeeper.h>

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
    (void)zh; (void)type; (void)state; (void)path; (void)ctx;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void print_results(const char *name, int rc, int n, zoo_op_t *ops, zoo_op_result_t *res) {
    int i;
    printf("%s rc=%d\n", name, rc);
    for (i = 0; i < n; i++) {
        printf("  op%d type=%d rc=%d", i, ops[i].type, res[i].err);
        if (rc == ZOK && ops[i].type == ZOO_CREATE_OP) {
            printf(" path=%s", ops[i].create_op.buf);
        }
        if (rc == ZOK && ops[i].type == ZOO_SETDATA_OP) {
            printf(" version=%d datalen=%d", res[i].stat->version, res[i].stat->dataLength);
        }
        printf("\n");
    }
}

int main(int argc, char **argv) {
    zhandle_t *zh;
    int i, rc;
    char p0[256], p1[256], p3[256];
    struct Stat s0;
    char buf[64];
    int buflen;

    if (argc != 2) {
        fprintf(stderr, "usage: %s host:port\n", argv[0]);
        return 2;
    }
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    zh = zookeeper_init(argv[1], watcher, 10000, 0, 0, 0);
    if (!zh) {
        perror("zookeeper_init");
        return 1;
    }
    /* Bounded wait for the session: 30 s. */
    for (i = 0; i < 3000 && zoo_state(zh) != ZOO_CONNECTED_STATE; i++) {
        sleep_ms(10);
    }
    if (zoo_state(zh) != ZOO_CONNECTED_STATE) {
        fprintf(stderr, "not connected\n");
        return 1;
    }

    {
        zoo_op_t ops[4];
        zoo_op_result_t res[4];
        zoo_create_op_init(&ops[0], "/m1", "a", 1, &ZOO_OPEN_ACL_UNSAFE, 0, p0, sizeof p0);
        zoo_create_op_init(&ops[1], "/m1/seq-", "b", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_SEQUENCE, p1,
                           sizeof p1);
        zoo_set_op_init(&ops[2], "/m1", "xyz", 3, 0, &s0);
        zoo_check_op_init(&ops[3], "/m1", 1);
        rc = zoo_multi(zh, 4, ops, res);
        print_results("commit", rc, 4, ops, res);
    }
    {
        /* Fails at op 2: nothing is applied; the ops before it report OK, the later ones
         * RUNTIMEINCONSISTENCY (-2). */
        zoo_op_t ops[4];
        zoo_op_result_t res[4];
        zoo_create_op_init(&ops[0], "/m2", "a", 1, &ZOO_OPEN_ACL_UNSAFE, 0, p0, sizeof p0);
        zoo_set_op_init(&ops[1], "/m1", "changed", 7, -1, &s0);
        zoo_delete_op_init(&ops[2], "/nonexistent", -1);
        zoo_create_op_init(&ops[3], "/m3", "a", 1, &ZOO_OPEN_ACL_UNSAFE, 0, p3, sizeof p3);
        rc = zoo_multi(zh, 4, ops, res);
        print_results("rollback", rc, 4, ops, res);
    }
    buflen = sizeof buf;
    rc = zoo_get(zh, "/m1", 0, buf, &buflen, &s0);
    printf("get /m1 rc=%d data=%.*s version=%d numChildren=%d\n", rc, buflen, buf, s0.version,
           s0.numChildren);
    printf("exists /m2 rc=%d\n", zoo_exists(zh, "/m2", 0, NULL));
    {
        zoo_op_t ops[2];
        zoo_op_result_t res[2];
        zoo_check_op_init(&ops[0], "/m1", 7);
        zoo_delete_op_init(&ops[1], "/m1/seq-0000000000", -1);
        rc = zoo_multi(zh, 2, ops, res);
        print_results("badversion", rc, 2, ops, res);
    }
    {
        zoo_op_t ops[2];
        zoo_op_result_t res[2];
        zoo_delete_op_init(&ops[0], "/m1", 1);
        zoo_delete_op_init(&ops[1], "/m1/seq-0000000000", 0);
        rc = zoo_multi(zh, 2, ops, res);
        print_results("notempty", rc, 2, ops, res);
    }
    {
        zoo_op_t ops[2];
        zoo_op_result_t res[2];
        zoo_delete_op_init(&ops[0], "/m1/seq-0000000000", 0);
        zoo_delete_op_init(&ops[1], "/m1", 1);
        rc = zoo_multi(zh, 2, ops, res);
        print_results("delete", rc, 2, ops, res);
    }
    printf("exists /m1 rc=%d\n", zoo_exists(zh, "/m1", 0, NULL));
    {
        zoo_op_t ops[1];
        zoo_op_result_t res[1];
        rc = zoo_multi(zh, 0, ops, res);
        printf("empty rc=%d\n", rc);
    }
    zookeeper_close(zh);
    printf("done\n");
    return 0;
}
