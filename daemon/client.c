/*
 * Connections from runners: reading frames, the hello handshake, replaying
 * log batches into plugin loggers, and replying.
 *
 * A bad peer is answered where the protocol allows, logged in one line and
 * dropped; nothing it sends can stop relogd. Frames are length-checked
 * before they are buffered (the read high-watermark is one whole frame),
 * and msgpack is scanned for sane container sizes before it is unpacked.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "relogd.h"

/* How long a closing client may take to read its last reply. */
#define CLIENT_CLOSE_TIMEOUT_S 5

static struct clients clients = TAILQ_HEAD_INITIALIZER(clients);
static uint64_t client_next_id = 1;

static void client_read_cb(struct bufferevent *, void *);
static void client_write_cb(struct bufferevent *, void *);
static void client_event_cb(struct bufferevent *, short, void *);
static void client_hello_timeout(evutil_socket_t, short, void *);

/* Wall clock in ms. */
static int64_t
client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Start serving an accepted connection (non-blocking, close-on-exec). */
void
client_create(int fd)
{
	struct timeval tv = { RELOGD_HELLO_TIMEOUT_MS / 1000,
	    (RELOGD_HELLO_TIMEOUT_MS % 1000) * 1000 };
	struct ucred cred;
	socklen_t len = sizeof cred;
	struct client *c;

	c = calloc(1, sizeof *c);
	if (c == NULL)
		fatal("calloc");
	c->id = client_next_id++;
	c->fd = fd;
	c->state = CLIENT_HELLO;
	c->pid = -1;
	c->uid = (uid_t)-1;
	c->gid = (gid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		c->pid = cred.pid;
		c->uid = cred.uid;
		c->gid = cred.gid;
	}
	c->bev = bufferevent_socket_new(relogd_base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(relogd_base, client_hello_timeout, c);
	if (c->bev == NULL || c->timer == NULL)
		fatalx("out of memory for a connection");
	bufferevent_setcb(c->bev, client_read_cb, client_write_cb,
	    client_event_cb, c);
	/* Never buffer more than one whole frame: the length is checked. */
	bufferevent_setwatermark(c->bev, EV_READ, 0,
	    relogd_config.max_frame + RELOG_FRAME_HEADER_SIZE);
	bufferevent_enable(c->bev, EV_READ);
	evtimer_add(c->timer, &tv);
	TAILQ_INSERT_TAIL(&clients, c, entry);
	log_debug("connection %llu from pid %ld uid %ld",
	    (unsigned long long)c->id, (long)c->pid, (long)c->uid);
}

/* Free a client and close its socket. */
static void
client_free(struct client *c)
{
	TAILQ_REMOVE(&clients, c, entry);
	event_free(c->timer);
	bufferevent_free(c->bev);
	free(c);
}

/* Who a client is, for relogd's own messages. */
static const char *
client_name(const struct client *c)
{
	static char name[RELOG_ID_MAX + 64];

	snprintf(name, sizeof name, "connection %llu (pid %ld, runner %s)",
	    (unsigned long long)c->id, (long)c->pid,
	    c->runner_id[0] != '\0' ? c->runner_id : "unknown");
	return (name);
}

/* A response being packed. */
struct client_reply {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t start;
};

/*
 * Start a response to req (NULL: to a frame that could not be read). The
 * caller packs the payload, then calls client_reply_send.
 */
static void
client_reply_begin(struct client_reply *r, const struct proto_envelope *req)
{
	struct proto_header hd = {
		.message_type = RELOG_TYPE_RESPONSE,
		.request_id = req != NULL ? req->request_id : 0,
		.method = req != NULL ? req->method : proto_cstr(""),
		.plugin_id = req != NULL ? req->plugin_id : proto_cstr(""),
		.timestamp_ms = client_now_ms(),
		.timeout_ms = RELOG_TIMEOUT_MS_DEFAULT,
	};

	msgpack_sbuffer_init(&r->sb);
	msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
	r->start = proto_frame_begin(&r->sb);
	proto_pack_header(&r->pk, &hd);
}

/* Close the response with an error (code NULL: none) and queue it. */
static void
client_reply_send(struct client *c, struct client_reply *r, const char *code,
    const char *message)
{
	if (code != NULL)
		proto_pack_error(&r->pk, code, message);
	else
		proto_pack_no_error(&r->pk);
	if (proto_frame_end(&r->sb, r->start, RELOG_FRAME_MAX_LIMIT) == 0)
		bufferevent_write(c->bev, r->sb.data, r->sb.size);
	msgpack_sbuffer_destroy(&r->sb);
}

/* Respond with an error and an empty payload. */
static void
client_error(struct client *c, const struct proto_envelope *req,
    const char *code, const char *message)
{
	struct client_reply r;

	client_reply_begin(&r, req);
	msgpack_pack_map(&r.pk, 0);
	client_reply_send(c, &r, code, message);
}

/* Answer runner.hello. */
static void
client_hello_reply(struct client *c, const struct proto_envelope *req,
    int accepted, const char *reason)
{
	struct client_reply r;

	client_reply_begin(&r, req);
	proto_pack_hello_reply(&r.pk, accepted, reason);
	client_reply_send(c, &r, NULL, NULL);
}

/* The last reply was not taken in time, or there was none: free. */
static void
client_closed_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	client_free(arg);
}

/*
 * Stop reading from a client and free it once its last reply is written,
 * or on the next loop turn if there is none: never on the caller's stack,
 * so the caller may still look at it (its state is CLIENT_CLOSING).
 */
static void
client_close(struct client *c)
{
	struct timeval tv = { 0, 0 };

	c->state = CLIENT_CLOSING;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) != 0)
		tv.tv_sec = CLIENT_CLOSE_TIMEOUT_S;
	evtimer_del(c->timer);
	evtimer_assign(c->timer, relogd_base, client_closed_cb, c);
	evtimer_add(c->timer, &tv);
}

/* Answer with an error, log why, and drop the client. Returns -1. */
static int
client_fail(struct client *c, const struct proto_envelope *req,
    const char *code, const char *why)
{
	log_warn("%s dropped: %s", client_name(c), why);
	/* Before a hello, every failure is a protocol mismatch. */
	if (c->state == CLIENT_HELLO)
		code = RELOG_E_PROTOCOL_MISMATCH;
	client_error(c, req, code, why);
	client_close(c);
	return (-1);
}

/* Handle runner.hello. Returns 0, or -1 if the client is gone. */
static int
client_hello(struct client *c, const struct proto_envelope *env)
{
	struct proto_hello hello;
	const char *cause;

	if (env->type != PROTO_REQUEST ||
	    !proto_str_eq(env->method, RELOG_METHOD_HELLO))
		return (client_fail(c, env, RELOG_E_PROTOCOL_MISMATCH,
		    "the first message must be a runner.hello request"));
	if (proto_decode_hello(env->payload, &hello, &cause) != 0)
		return (client_fail(c, env, RELOG_E_BAD_PAYLOAD, cause));

	cause = NULL;
	if (!plugin_id_valid(hello.runner_id.ptr, hello.runner_id.len))
		cause = "runner_id is not a safe name";
	else if (hello.plugin_id.len != 0) {
		c->plugin = plugin_get(hello.plugin_id.ptr,
		    hello.plugin_id.len);
		if (c->plugin == NULL)
			cause = "plugin_id is not a safe name";
	}
	if (cause != NULL) {
		log_warn("%s refused: %s", client_name(c), cause);
		client_hello_reply(c, env, 0, cause);
		client_close(c);
		return (-1);
	}
	memcpy(c->runner_id, hello.runner_id.ptr, hello.runner_id.len);
	c->runner_id[hello.runner_id.len] = '\0';
	c->state = CLIENT_READY;
	evtimer_del(c->timer);
	client_hello_reply(c, env, 1, "");
	log_info("runner %s connected (pid %ld, uid %ld, plugin %s)",
	    c->runner_id, (long)c->pid, (long)c->uid,
	    c->plugin != NULL ? c->plugin->id : "by logger name");
	return (0);
}

/*
 * The logger of a record: the hello's plugin, else the one its logger name
 * names, else one named after the runner.
 */
static struct plugin *
client_route(struct client *c, const struct proto_entry *e)
{
	struct plugin *p;

	if (c->plugin != NULL)
		return (c->plugin);
	p = plugin_for_logger(e->logger_name);
	if (p != NULL)
		return (p);
	/* runner_id was checked at hello: this cannot fail. */
	return (plugin_get(c->runner_id, strlen(c->runner_id)));
}

/* Replay a runner.log_batch. Returns 0. */
static int
client_batch(struct client *c, const struct proto_envelope *env)
{
	const msgpack_object *entries;
	struct client_reply r;
	struct proto_entry e;
	const char *cause = NULL, *first_cause = NULL;
	uint32_t n, i, bad = 0;

	if (proto_decode_batch(env->payload, &entries, &n, &cause) != 0) {
		log_warn("%s: bad log batch: %s", client_name(c), cause);
		if (env->type == PROTO_REQUEST)
			client_error(c, env, RELOG_E_BAD_PAYLOAD, cause);
		return (0);
	}
	for (i = 0; i < n; i++) {
		if (proto_decode_entry(&entries[i], &e, &cause) != 0) {
			if (first_cause == NULL)
				first_cause = cause;
			bad++;
			continue;
		}
		if (e.timestamp_ms <= 0)
			e.timestamp_ms = env->timestamp_ms > 0 ?
			    env->timestamp_ms : client_now_ms();
		plugin_write(client_route(c, &e), &e);
	}
	c->records += n - bad;
	if (bad != 0) {
		c->bad_entries += bad;
		log_warn("%s: skipped %u malformed entries of %u: %s",
		    client_name(c), bad, n, first_cause);
	}
	/* A request is answered; Python runners send broadcasts. */
	if (env->type == PROTO_REQUEST) {
		client_reply_begin(&r, env);
		msgpack_pack_map(&r.pk, 2);
		proto_pack_key(&r.pk, "written");
		msgpack_pack_uint32(&r.pk, n - bad);
		proto_pack_key(&r.pk, "rejected");
		msgpack_pack_uint32(&r.pk, bad);
		client_reply_send(c, &r, bad != 0 ? RELOG_E_BAD_PAYLOAD : NULL,
		    first_cause);
	}
	return (0);
}

/* Handle one frame's bytes. Returns 0, or -1 if the client is gone. */
static int
client_frame(struct client *c, const char *data, size_t len)
{
	struct proto_envelope env;
	msgpack_unpacked u;
	const char *cause;
	size_t off = 0;
	int ret;

	if (proto_scan(data, len, &cause) != 0)
		return (client_fail(c, NULL, RELOG_E_BAD_PAYLOAD, cause));
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, data, len, &off) !=
	    MSGPACK_UNPACK_SUCCESS) {
		msgpack_unpacked_destroy(&u);
		return (client_fail(c, NULL, RELOG_E_BAD_PAYLOAD,
		    "undecodable msgpack"));
	}
	/* env borrows from u, which borrows from data: both live till here. */
	if (proto_decode_envelope(&u.data, &env, &cause) != 0)
		ret = client_fail(c, NULL, c->state == CLIENT_HELLO ?
		    RELOG_E_PROTOCOL_MISMATCH : RELOG_E_BAD_PAYLOAD, cause);
	else if (c->state == CLIENT_HELLO)
		ret = client_hello(c, &env);
	else if (proto_str_eq(env.method, RELOG_METHOD_LOG_BATCH))
		ret = client_batch(c, &env);
	else if (proto_str_eq(env.method, RELOG_METHOD_HELLO))
		ret = client_fail(c, &env, RELOG_E_PROTOCOL_MISMATCH,
		    "runner.hello sent twice");
	else {
		if (env.type == PROTO_REQUEST)
			client_error(c, &env, RELOG_E_METHOD_NOT_ALLOWED,
			    "relogd only takes runner.log_batch");
		ret = 0;
	}
	msgpack_unpacked_destroy(&u);
	return (ret);
}

/*
 * Handle every whole frame in the input buffer. Returns 0, or -1 if the
 * client is gone.
 */
static int
client_process(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	unsigned char head[RELOG_FRAME_HEADER_SIZE];
	size_t have, total;
	uint32_t len;
	char why[96];
	unsigned char *frame;

	while (c->state != CLIENT_CLOSING) {
		have = evbuffer_get_length(in);
		if (have < sizeof head)
			break;
		evbuffer_copyout(in, head, sizeof head);
		len = proto_frame_length(head);
		if (len > relogd_config.max_frame) {
			snprintf(why, sizeof why, "frame of %u bytes is over "
			    "the limit of %zu", len, relogd_config.max_frame);
			return (client_fail(c, NULL, RELOG_E_BAD_PAYLOAD, why));
		}
		total = sizeof head + len;
		if (have < total)
			break;
		frame = evbuffer_pullup(in, (ev_ssize_t)total);
		if (frame == NULL)
			fatalx("out of memory for a frame");
		if (client_frame(c, (const char *)frame + sizeof head,
		    len) != 0)
			return (-1);
		evbuffer_drain(in, total);
	}
	return (0);
}

/* Data arrived. */
static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	(void)bev;
	client_process(c);
	/* One write(2) per plugin file for all the frames of this read. */
	plugin_flush_all();
}

/* All output written: a closing client can go now. */
static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	(void)bev;
	if (c->state == CLIENT_CLOSING)
		client_free(c);
}

/* End of file, an error, or a write timeout while closing. */
static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;
	size_t left;

	left = evbuffer_get_length(bufferevent_get_input(bev));
	if (what & BEV_EVENT_ERROR)
		log_warn("%s: %s", client_name(c),
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else if (c->state != CLIENT_CLOSING && left != 0)
		log_warn("%s closed in the middle of a frame (%zu bytes lost)",
		    client_name(c), left);
	else if (c->state == CLIENT_READY)
		log_info("runner %s disconnected after %llu records",
		    c->runner_id, (unsigned long long)c->records);
	client_free(c);
}

/* No hello in time. */
static void
client_hello_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	client_fail(c, NULL, RELOG_E_PROTOCOL_MISMATCH,
	    "no runner.hello in time");
}

/*
 * At shutdown: read what every client has already sent and replay it. The
 * clients are freed by client_free_all.
 */
void
client_drain_all(void)
{
	struct client *c;
	struct evbuffer *in;

	TAILQ_FOREACH(c, &clients, entry) {
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		in = bufferevent_get_input(c->bev);
		/* bufferevent keeps the end of its input frozen to others. */
		evbuffer_unfreeze(in, 0);
		while (c->state != CLIENT_CLOSING &&
		    evbuffer_read(in, c->fd, 65536) > 0)
			client_process(c);
	}
	plugin_flush_all();
}

/* Free every client (at exit). */
void
client_free_all(void)
{
	struct client *c;

	while ((c = TAILQ_FIRST(&clients)) != NULL)
		client_free(c);
}
