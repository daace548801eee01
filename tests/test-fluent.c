/*
 * The Fluent forward sink against real peers: relogd's own Forward input
 * (a second relogd), and the test itself as a Fluent collector checking
 * the bytes against the Forward protocol spec v1 and holding its acks.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests.h"

static struct harness H;	/* the relogd forwarding */
static struct harness B;	/* a second one, collecting */
static char B_SOCK[300];	/* B's Forward input */
static char B_URI[320];		/* the same, as a forward URI */

/* Each test: folders for the relogd forwarding and the collecting one. */
static void
fluent_setup(void)
{
	harness_init(&H);
	harness_init(&B);
	snprintf(B_SOCK, sizeof B_SOCK, "%s/fwd.sock", B.dir);
	snprintf(B_URI, sizeof B_URI, "fluent+unix:%s", B_SOCK);
}

/* Stop what the test left running, and remove its folders. */
static void
fluent_teardown(void)
{
	harness_cleanup(&H);
	harness_cleanup(&B);
}

/*
 * Fluent Forward to relogd's own Forward input; the collector stopped and
 * started again in between: each record arrives once, in order.
 */
START_TEST(test_fluent_relogd)
{
	const char *args[] = { "-n", "2000", NULL };
	const char *args2[] = { "-n", "500", NULL };
	char *text;

	collector_relogd_start(&B, B_SOCK);
	collector_forward_start(&H, B_URI, NULL);
	collector_run(&H, "r1", "alpha", args);
	collector_await_stat(&H, "acked", 2000, 0);
	ck_assert_int_eq(harness_daemon_stop(&B), 0);

	collector_run(&H, "r2", "alpha", args2);
	collector_await_stat(&H, "queued_disk", 500, 0);
	ck_assert_int_eq(collector_stat(&H, "connected"), 0);
	collector_relogd_start(&B, B_SOCK);
	collector_await_stat(&H, "acked", 2500, 0);
	ck_assert_int_eq(collector_stat(&H, "queued_disk"), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_int_eq(harness_daemon_stop(&B), 0);

	/* Tagged plugin.alpha: B writes them as plugin alpha's. */
	text = harness_plugin_log(&B, "alpha");
	harness_check_sequence(text, "r1", 0, 2000);
	harness_check_sequence(text, "r2", 0, 500);
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.alpha] runner=r1 "
	    "thread=0 seq=0 levelno=20 logger=plugin.test plugin=alpha "));
	free(text);
}
END_TEST

static void
fluent_assert_str(const msgpack_object *o, const char *s)
{
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_STR);
	ck_assert_int_eq(o->via.str.size, strlen(s));
	ck_assert(memcmp(o->via.str.ptr, s, strlen(s)) == 0);
}

/*
 * One PackedForward message as the Forward protocol spec v1 lays it out:
 * [tag, bin of [EventTime, record] entries, {"chunk", "size"}], EventTime
 * being fixext 8 of type 0 (d7 00), seconds and nanoseconds big-endian.
 * Returns the chunk id (free it).
 */
static char *
fluent_check_packed(const msgpack_object *o)
{
	const msgpack_object *opt, *chunk, *entries, *rec;
	static const unsigned char head[] = { 0xd7, 0x00 };
	msgpack_unpacked ent;
	size_t off = 0, start;
	uint32_t sec, nsec;
	char msg[64];
	int i;

	ck_assert_int_eq(o->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_int_eq(o->via.array.size, 3);
	fluent_assert_str(&o->via.array.ptr[0], "plugin.alpha");
	entries = &o->via.array.ptr[1];
	ck_assert_int_eq(entries->type, MSGPACK_OBJECT_BIN);
	opt = &o->via.array.ptr[2];
	chunk = collector_map_get(opt, "chunk");
	ck_assert_ptr_nonnull(chunk);
	ck_assert_int_eq(chunk->type, MSGPACK_OBJECT_STR);
	ck_assert_ptr_nonnull(collector_map_get(opt, "size"));
	ck_assert_int_eq(collector_map_get(opt, "size")->via.u64, 3);

	msgpack_unpacked_init(&ent);
	for (i = 0; i < 3; i++) {
		start = off;
		ck_assert_int_eq(msgpack_unpack_next(&ent, entries->via.bin.ptr,
		    entries->via.bin.size, &off), MSGPACK_UNPACK_SUCCESS);
		/* The bytes: fixarray 2, then EventTime. */
		ck_assert_int_eq((unsigned char)entries->via.bin.ptr[start],
		    0x92);
		ck_assert(memcmp(entries->via.bin.ptr + start + 1, head, 2) ==
		    0);
		memcpy(&sec, entries->via.bin.ptr + start + 3, 4);
		memcpy(&nsec, entries->via.bin.ptr + start + 7, 4);
		/* wire_batch's record i: 1764306519000 + i ms. */
		ck_assert_uint_eq(ntohl(sec), 1764306519u);
		ck_assert_uint_eq(ntohl(nsec), (uint32_t)i * 1000000u);
		rec = &ent.data.via.array.ptr[1];
		snprintf(msg, sizeof msg, "raw seq=%d", i);
		fluent_assert_str(collector_map_get(rec, "message"), msg);
		fluent_assert_str(collector_map_get(rec, "level"), "INFO");
		ck_assert_int_eq(collector_map_get(rec, "levelno")->via.u64,
		    20);
		fluent_assert_str(collector_map_get(rec, "logger"),
		    "plugin.alpha.db");
		fluent_assert_str(collector_map_get(rec, "plugin"), "alpha");
		ck_assert_int_eq(collector_map_get(rec, "pid")->via.u64,
		    (uint64_t)getpid());
	}
	ck_assert_uint_eq(off, entries->via.bin.size);
	msgpack_unpacked_destroy(&ent);
	return (strndup(chunk->via.str.ptr, chunk->via.str.size));
}

/*
 * The test as the Fluent collector, over TCP: the bytes are the spec's,
 * and a batch is held until its chunk is acked: without the ack it comes
 * again.
 */
START_TEST(test_fluent_layout)
{
	msgpack_unpacker up;
	msgpack_unpacked res;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char uri[64], *chunk;
	int lfd, cfd, fd, port;

	lfd = collector_listen_tcp(&port);
	snprintf(uri, sizeof uri, "fluent://127.0.0.1:%d", port);
	/* alpha is a known id: its logger plugin.alpha.db is alpha's. */
	collector_forward_start(&H, uri, "[plugin.alpha]\n");
	fd = wire_open(&H, "r1");
	wire_batch(fd, "plugin.alpha.db", 3, 65536);

	ck_assert(msgpack_unpacker_init(&up, 65536));
	msgpack_unpacked_init(&res);
	cfd = collector_accept_message(lfd, &up, &res);
	chunk = fluent_check_packed(&res.data);
	free(chunk);
	/* No ack: the connection closes, the batch is sent again. */
	close(cfd);
	cfd = collector_accept_message(lfd, &up, &res);
	chunk = fluent_check_packed(&res.data);
	ck_assert_int_eq(collector_stat(&H, "acked"), 0);
	ck_assert_int_eq(collector_stat(&H, "queued_memory") +
	    collector_stat(&H, "queued_disk"), 3);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "ack");
	proto_pack_key(&pk, chunk);
	ck_assert_int_eq(write(cfd, sb.data, sb.size), (ssize_t)sb.size);
	msgpack_sbuffer_destroy(&sb);
	collector_await_stat(&H, "acked", 3, 0);
	ck_assert_int_eq(collector_stat(&H, "queued_memory") +
	    collector_stat(&H, "queued_disk"), 0);
	/* Sent twice, once per connection; still connected. */
	ck_assert_int_eq(collector_stat(&H, "sent"), 6);
	ck_assert_int_eq(collector_stat(&H, "connected"), 1);
	free(chunk);
	msgpack_unpacked_destroy(&res);
	msgpack_unpacker_destroy(&up);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	close(fd);
	close(cfd);
	close(lfd);
}
END_TEST

/*
 * A Fluent collector that never acks: within forward_timeout of the first
 * batch relogd gives up on the connection, though records keep coming.
 */
START_TEST(test_fluent_no_ack)
{
	msgpack_unpacker up;
	msgpack_unpacked res;
	char path[300], uri[320];
	int lfd, cfd, cfd2, fd;
	struct pollfd pfd;
	int64_t deadline;

	snprintf(path, sizeof path, "%s/collector.sock", H.dir);
	snprintf(uri, sizeof uri, "fluent+unix:%s", path);
	lfd = collector_listen_unix(path);
	collector_forward_start(&H, uri, "forward_timeout = 2\n");
	fd = wire_open(&H, "r1");
	wire_batch(fd, "plugin.alpha.db", 3, 65536);
	ck_assert(msgpack_unpacker_init(&up, 65536));
	msgpack_unpacked_init(&res);
	cfd = collector_accept_message(lfd, &up, &res);
	/* Records every 100 ms, no ack: a second connection comes. */
	pfd.fd = lfd;
	pfd.events = POLLIN;
	deadline = harness_now_ms() + COLLECTOR_TIMEOUT_MS;
	while (poll(&pfd, 1, 100) == 0) {
		ck_assert_msg(harness_now_ms() < deadline, "no reconnection");
		wire_batch(fd, "plugin.alpha.db", 3, 65536);
		ck_assert_int_lt(collector_stat(&H, "acked"), 1);
	}
	cfd2 = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(cfd2, 0);
	ck_assert_int_eq(harness_daemon_await(&H, "no ack in time "
	    "(forward_timeout)", 1, COLLECTOR_TIMEOUT_MS), 0);
	msgpack_unpacked_destroy(&res);
	msgpack_unpacker_destroy(&up);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	close(cfd2);
	close(cfd);
	close(fd);
	close(lfd);
}
END_TEST

/* The Fluent forward sink: relogd, and the test, as collectors. */
Suite *
suite_fluent(void)
{
	Suite *s = suite_create("fluent");
	TCase *tc = tcase_create("forward");

	tcase_add_checked_fixture(tc, fluent_setup, fluent_teardown);
	tcase_set_timeout(tc, 240);
	suite_add_tcase(s, tc);
	tcase_add_test(tc, test_fluent_relogd);
	tcase_add_test(tc, test_fluent_layout);
	tcase_add_test(tc, test_fluent_no_ack);
	return (s);
}
