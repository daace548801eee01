/*
 * A raw protocol client for the tests: frames built with proto/ by hand,
 * so that a test can send exactly what it means to, well-formed or not.
 * They are built, sent and read through proto-client.c, relogctl's client.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests.h"

/* How long relogd may take to reply (sanitizers are slow). */
#define WIRE_REPLY_TIMEOUT_MS 20000

/* What wire_batch_seq packs. */
struct wire_batch {
	const char *logger;
	int n;
	uint64_t seq;
	uint64_t dropped;
};

/* Fill an envelope header: type, id and method; the rest fixed. */
void
wire_begin(struct proto_header *hd, const char *type, int64_t id,
    const char *method)
{
	memset(hd, 0, sizeof *hd);
	hd->message_type = type;
	hd->request_id = id;
	hd->method = proto_cstr(method);
	hd->plugin_id = proto_cstr("");
	hd->timestamp_ms = 1764306519123;
	hd->timeout_ms = 30000;
}

/* Send bytes as they are, chunk bytes per write. */
static void
wire_send_chunks(int fd, const char *buf, size_t len, size_t chunk)
{
	size_t off, n;
	int ret;

	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		ret = proto_client_send(fd, buf + off, n);
		ck_assert_msg(ret == 0, "send: %s", strerror(-ret));
	}
}

/*
 * Build a frame with the header hd and the payload pack(arg) packs, and
 * send it, chunk bytes per write.
 */
void
wire_send(int fd, const struct proto_header *hd,
    void (*pack)(msgpack_packer *, void *), void *arg, size_t chunk)
{
	msgpack_sbuffer sb;

	proto_client_frame(&sb, hd, pack, arg);
	/* The length said is the body's: the frame fit. */
	ck_assert_uint_ge(sb.size, RELOG_FRAME_HEADER_SIZE);
	ck_assert_uint_eq(proto_frame_length((const unsigned char *)sb.data),
	    sb.size - RELOG_FRAME_HEADER_SIZE);
	wire_send_chunks(fd, sb.data, sb.size, chunk);
	msgpack_sbuffer_destroy(&sb);
}

/* Send one frame of any body: the big-endian length, then the body. */
void
wire_send_frame(int fd, const char *body, size_t len)
{
	unsigned char head[RELOG_FRAME_HEADER_SIZE] = {
		(unsigned char)(len >> 24), (unsigned char)(len >> 16),
		(unsigned char)(len >> 8), (unsigned char)len
	};

	wire_send_chunks(fd, (const char *)head, sizeof head, sizeof head);
	wire_send_chunks(fd, body, len, len != 0 ? len : 1);
}

/* Pack a batch of "raw seq=<i>" records (struct wire_batch). */
static void
wire_pack_batch(msgpack_packer *pk, void *arg)
{
	const struct wire_batch *b = arg;
	struct proto_entry e = { .level = 20, .logger_name =
	    proto_cstr(b->logger), .exception_text = proto_cstr("") };
	char msg[64];
	int i;

	proto_pack_batch_head(pk, (uint32_t)b->n, b->seq, b->dropped);
	for (i = 0; i < b->n; i++) {
		snprintf(msg, sizeof msg, "raw seq=%d", i);
		e.timestamp_ms = 1764306519000 + i;
		e.message = proto_cstr(msg);
		proto_pack_entry(pk, &e);
	}
}

/*
 * Send a log batch of n records "raw seq=<i>" as the given message_type,
 * with relog's seq (0: none) and dropped count.
 */
void
wire_batch_seq(int fd, const char *type, const char *logger, int n,
    uint64_t seq, uint64_t dropped, size_t chunk)
{
	struct wire_batch b = { logger, n, seq, dropped };
	struct proto_header hd;

	wire_begin(&hd, type, 2, RELOG_METHOD_LOG_BATCH);
	wire_send(fd, &hd, wire_pack_batch, &b, chunk);
}

/* Pack a hello payload (struct proto_hello). */
static void
wire_pack_hello(msgpack_packer *pk, void *arg)
{
	proto_pack_hello(pk, arg);
}

/*
 * Say hello as runner (plugin and instance may be NULL), chunk bytes per
 * write.
 */
void
wire_hello_as(int fd, const char *runner, const char *plugin,
    const char *instance, size_t chunk)
{
	struct proto_hello hello = {
		.runner_id = proto_cstr(runner),
		.sdk_version = proto_cstr("test/1"),
		.session_token = proto_cstr(""),
		.plugin_id = proto_cstr(plugin),
		.instance = proto_cstr(instance),
	};
	struct proto_header hd;

	wire_begin(&hd, RELOG_TYPE_REQUEST, 1, RELOG_METHOD_HELLO);
	wire_send(fd, &hd, wire_pack_hello, &hello, chunk);
}

/*
 * Say hello as runner (plugin may be NULL) passing nfds descriptors with
 * it (SCM_RIGHTS, with the frame), and asking for a shared ring of this
 * version (0: not asking).
 */
void
wire_hello_fds(int fd, const char *runner, const char *plugin,
    uint32_t ring_version, const int *fds, int nfds)
{
	struct proto_hello hello = {
		.runner_id = proto_cstr(runner),
		.sdk_version = proto_cstr("test/1"),
		.session_token = proto_cstr(""),
		.plugin_id = proto_cstr(plugin),
		.ring_version = ring_version,
	};
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct proto_header hd;
	struct cmsghdr *cm;
	msgpack_sbuffer sb;

	ck_assert_int_le(nfds, 4);
	wire_begin(&hd, RELOG_TYPE_REQUEST, 1, RELOG_METHOD_HELLO);
	proto_client_frame(&sb, &hd, wire_pack_hello, &hello);
	iov.iov_base = sb.data;
	iov.iov_len = sb.size;
	if (nfds > 0) {
		memset(cbuf, 0, sizeof cbuf);
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
	}
	/* One message, all of it: relogd may drop us once it has read it. */
	ck_assert_int_eq(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)sb.size);
	msgpack_sbuffer_destroy(&sb);
}

/* Pack a runner.ring_sync payload (a position). */
static void
wire_pack_ring_sync(msgpack_packer *pk, void *arg)
{
	proto_pack_ring_sync(pk, *(const uint64_t *)arg);
}

/* Ask relogd to answer once it committed its reads past position. */
void
wire_ring_sync(int fd, int64_t request_id, uint64_t position)
{
	struct proto_header hd;

	wire_begin(&hd, RELOG_TYPE_REQUEST, request_id,
	    RELOG_METHOD_RING_SYNC);
	wire_send(fd, &hd, wire_pack_ring_sync, &position, 4096);
}

/* Say hello as runner (plugin may be NULL), chunk bytes per write. */
void
wire_hello(int fd, const char *runner, const char *plugin, size_t chunk)
{
	wire_hello_as(fd, runner, plugin, NULL, chunk);
}

/* Send a log batch (a broadcast) of n records "raw seq=<i>" for logger. */
void
wire_batch(int fd, const char *logger, int n, size_t chunk)
{
	wire_batch_seq(fd, RELOG_TYPE_BROADCAST, logger, n, 0, 0, chunk);
}

/*
 * Receive a response. Returns the error code (static) if it has one,
 * "accepted"/"refused" for a hello reply (then ", ring", and ", recheck"
 * if relogd looks again after arming, or ", no ring: REASON" if it says so), "written=N" for a batch's, "tail=N" for a
 * ring_sync's. *eof tells whether relogd closed the connection right
 * after.
 */
const char *
wire_reply(int fd, int check_eof, int *eof)
{
	static char result[160];
	const msgpack_object *o;
	struct proto_msg m;
	const char *cause;
	char c;
	int ret;

	ret = proto_client_recv(fd, WIRE_REPLY_TIMEOUT_MS, &m, &cause);
	ck_assert_msg(ret == 0, "no reply: %s (%s)", strerror(-ret), cause);
	ck_assert_int_eq(m.env.type, PROTO_RESPONSE);
	snprintf(result, sizeof result, "none");
	if (m.env.error != NULL) {
		if ((o = proto_map_get(m.env.error, "code")) != NULL)
			snprintf(result, sizeof result, "%.*s",
			    (int)o->via.str.size, o->via.str.ptr);
	} else {
		if ((o = proto_map_get(m.env.payload, "accepted")) != NULL)
			snprintf(result, sizeof result, "%s",
			    o->via.boolean ? "accepted" : "refused");
		if ((o = proto_map_get(m.env.payload, "ring")) != NULL &&
		    o->via.boolean) {
			strcat(result, ", ring");
			o = proto_map_get(m.env.payload, "ring_recheck");
			if (o != NULL && o->type == MSGPACK_OBJECT_BOOLEAN &&
			    o->via.boolean)
				strcat(result, ", recheck");
		}
		else if (o != NULL && (o = proto_map_get(m.env.payload,
		    "ring_reason")) != NULL)
			snprintf(result + strlen(result), sizeof result -
			    strlen(result), ", no ring: %.*s",
			    (int)o->via.str.size, o->via.str.ptr);
		if ((o = proto_map_get(m.env.payload, "tail")) != NULL)
			snprintf(result, sizeof result, "tail=%llu",
			    (unsigned long long)o->via.u64);
		if ((o = proto_map_get(m.env.payload, "written")) != NULL)
			snprintf(result, sizeof result, "written=%llu",
			    (unsigned long long)o->via.u64);
	}
	proto_msg_free(&m);
	if (check_eof) {
		/* relogd closes after a fatal error: read gives 0. */
		*eof = recv(fd, &c, 1, 0) == 0;
	}
	return (result);
}

/*
 * Connect and say hello as runner (plugin and instance may be NULL: with
 * an instance, its batches' seqs are deduplicated); relogd must accept.
 */
int
wire_open_as(const struct harness *h, const char *runner, const char *plugin,
    const char *instance)
{
	int fd, eof;

	fd = harness_connect(h);
	wire_hello_as(fd, runner, plugin, instance, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "accepted");
	return (fd);
}

/* Connect and say hello as runner; relogd must accept. */
int
wire_open(const struct harness *h, const char *runner)
{
	return (wire_open_as(h, runner, NULL, NULL));
}
