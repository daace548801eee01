/*
 * Connections from runners: reading frames, the hello handshake, replaying
 * log batches into plugin loggers, and replying.
 *
 * A bad peer is answered where the protocol allows, logged in one line and
 * dropped; nothing it sends can stop relogd. Frames are length-checked
 * before they are buffered (the read high-watermark is one whole frame),
 * and msgpack is scanned for sane container sizes before it is unpacked.
 */
#include <sys/ioctl.h>
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
/* The most read from a connection at once. */
#define CLIENT_READ_MAX (256u * 1024)
/* Replies a client leaves unread before relogd stops reading it. */
#define CLIENT_OUTPUT_MAX (1024u * 1024)

/* Every connection; those owed acks (dead ones too); those not read. */
static struct clients clients = TAILQ_HEAD_INITIALIZER(clients);
static struct clients client_owing = TAILQ_HEAD_INITIALIZER(client_owing);
static struct clients client_congested =
    TAILQ_HEAD_INITIALIZER(client_congested);
static size_t client_total;
static uint64_t client_next_id = 1;

static void client_read_cb(evutil_socket_t, short, void *);
static void client_write_cb(struct bufferevent *, void *);
static void client_event_cb(struct bufferevent *, short, void *);
static void client_lost(struct client *, int);
static int client_uid_allowed(const struct client *);

static void client_hello_timeout(evutil_socket_t, short, void *);

/*
 * Read this client, or stop (while a sink it feeds is full, its replies go
 * unread, or it is closing). Reading has the idle timeout once the hello
 * is done, but for a tail, which only listens.
 */
void
client_reading(struct client *c, int on)
{
	struct timeval tv = { (time_t)relogd_config.idle_timeout_s, 0 };

	/* Deleted first: event_add keeps an old timeout it is not given. */
	event_del(c->read_ev);
	if (!on)
		return;
	event_add(c->read_ev, c->state == CLIENT_READY && c->tail == NULL &&
	    relogd_config.idle_timeout_s != 0 ? &tv : NULL);
}

/*
 * Start serving an accepted connection (non-blocking, close-on-exec): a
 * runner, or (forward) a Fluent Forward client, which says no hello.
 */
void
client_create(int fd, int forward)
{
	struct timeval tv = { (time_t)relogd_config.hello_timeout_s, 0 };
	struct ucred cred;
	socklen_t len = sizeof cred;
	struct client *c;

	c = calloc(1, sizeof *c);
	if (c == NULL)
		fatal("calloc");
	c->id = client_next_id++;
	c->fd = fd;
	c->forward = forward;
	c->state = forward ? CLIENT_READY : CLIENT_HELLO;
	if (forward) {
		/* Untagged records of every Fluent client: one logger. */
		snprintf(c->runner_id, sizeof c->runner_id, "fluent");
		proto_scanner_init(&c->scan, 1);
	}
	c->state_slot = -1;
	TAILQ_INIT(&c->acks);
	c->pid = -1;
	c->uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		c->pid = cred.pid;
		c->uid = cred.uid;
	}
	/*
	 * Reading is relogd's own (bufferevent reads 4 KiB at a time): up to
	 * CLIENT_READ_MAX per wakeup, so one callback, one write per sink and
	 * one reply go for everything a runner sent at once.
	 */
	c->read_ev = event_new(relogd_base, fd, EV_READ | EV_PERSIST,
	    client_read_cb, c);
	c->in = evbuffer_new();
	c->bev = bufferevent_socket_new(relogd_base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(relogd_base, client_hello_timeout, c);
	if (c->read_ev == NULL || c->in == NULL || c->bev == NULL ||
	    c->timer == NULL)
		fatalx("out of memory for a connection");
	bufferevent_setcb(c->bev, NULL, client_write_cb, client_event_cb, c);
	/* The write callback says when unread replies fell below half. */
	bufferevent_setwatermark(c->bev, EV_WRITE, CLIENT_OUTPUT_MAX / 2, 0);
	bufferevent_enable(c->bev, EV_WRITE);
	client_reading(c, 1);
	if (!forward)
		evtimer_add(c->timer, &tv);
	TAILQ_INSERT_TAIL(&clients, c, entry);
	client_total++;
	/* Fluent clients say no hello: their uid is checked now. */
	if (forward && !client_uid_allowed(c))
		client_fail(c, NULL, NULL, "this uid may not connect");
	log_debug("connection %llu from pid %ld uid %ld",
	    (unsigned long long)c->id, (long)c->pid, (long)c->uid);
}

/*
 * Close a client's connection and free it, or, while acks it was owed wait
 * for sinks, keep it as CLIENT_DEAD until they are done (client_acks_try).
 */
static void
client_free(struct client *c)
{
	if (c->state != CLIENT_DEAD) {
		TAILQ_REMOVE(&clients, c, entry);
		client_total--;
		server_client_gone();
		if (c->congested)
			TAILQ_REMOVE(&client_congested, c, congested_entry);
		c->congested = 0;
		event_free(c->timer);
		event_free(c->read_ev);
		evbuffer_free(c->in);
		bufferevent_free(c->bev);
		c->timer = NULL;
		c->read_ev = NULL;
		c->in = NULL;
		c->bev = NULL;
		c->state = CLIENT_DEAD;
	}
	control_client_gone(c);
	if (!TAILQ_EMPTY(&c->acks))
		return;
	if (c->owing)
		TAILQ_REMOVE(&client_owing, c, owing_entry);
	state_release(c->state_slot);
	free(c->touched);
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

/* Start a frame with this header; the caller packs its payload. */
static void
client_frame_begin(struct client_reply *r, const struct proto_header *hd)
{
	msgpack_sbuffer_init(&r->sb);
	msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
	r->start = proto_frame_begin(&r->sb);
	proto_pack_header(&r->pk, hd);
}

/*
 * Start a response to req (NULL: to a frame that could not be read). The
 * caller packs the payload, then calls client_reply_send.
 */
void
client_reply_begin(struct client_reply *r, const struct proto_envelope *req)
{
	struct proto_header hd = {
		.message_type = RELOG_TYPE_RESPONSE,
		.request_id = req != NULL ? req->request_id : 0,
		.method = req != NULL ? req->method : proto_cstr(""),
		.plugin_id = req != NULL ? req->plugin_id : proto_cstr(""),
		.timestamp_ms = relogd_now_ms(CLOCK_REALTIME),
		.timeout_ms = RELOG_TIMEOUT_MS_DEFAULT,
	};

	/* Echo no more of a peer's strings than an id's worth. */
	if (hd.method.len > RELOG_ID_MAX)
		hd.method.len = RELOG_ID_MAX;
	if (hd.plugin_id.ptr == NULL)
		hd.plugin_id = proto_cstr("");
	if (hd.plugin_id.len > RELOG_ID_MAX)
		hd.plugin_id.len = RELOG_ID_MAX;

	client_frame_begin(r, &hd);
}

/*
 * Start a broadcast (a record or a drop count for a tail); the caller packs
 * the payload, then calls client_reply_send.
 */
void
client_broadcast_begin(struct client_reply *r, const char *method,
    int64_t timestamp_ms)
{
	struct proto_header hd = {
		.message_type = RELOG_TYPE_BROADCAST,
		.method = proto_cstr(method),
		.timestamp_ms = timestamp_ms,
		.timeout_ms = RELOG_TIMEOUT_MS_DEFAULT,
	};

	client_frame_begin(r, &hd);
}

/* Close the response with an error (code NULL: none) and queue it. */
void
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
void
client_error(struct client *c, const struct proto_envelope *req,
    const char *code, const char *message)
{
	struct client_reply r;

	client_reply_begin(&r, req);
	msgpack_pack_map(&r.pk, 0);
	client_reply_send(c, &r, code, message);
}

/* May this peer connect (allow_uids)? */
static int
client_uid_allowed(const struct client *c)
{
	return (relogd_config.allow_uids.uids == NULL ||
	    config_uid_listed(&relogd_config.allow_uids, c->uid));
}

/* Answer runner.hello; a refusal may carry an error code too. */
static void
client_hello_reply(struct client *c, const struct proto_envelope *req,
    int accepted, const char *reason, const char *code)
{
	struct client_reply r;

	client_reply_begin(&r, req);
	proto_pack_hello_reply(&r.pk, accepted, reason);
	client_reply_send(c, &r, code, reason);
}

/* Does the session token match relogd's? In constant time. */
static int
client_token_ok(struct proto_str token)
{
	const unsigned char *want = (const unsigned char *)relogd_config.token;
	const unsigned char *got = (const unsigned char *)token.ptr;
	size_t len = relogd_config.token_len, i;
	unsigned char diff;

	diff = token.ptr == NULL || token.len != len;
	for (i = 0; i < len; i++)
		diff |= want[i] ^ (i < token.len ? got[i] : 0);
	return (diff == 0);
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
	client_reading(c, 0);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) != 0)
		tv.tv_sec = CLIENT_CLOSE_TIMEOUT_S;
	evtimer_del(c->timer);
	evtimer_assign(c->timer, relogd_base, client_closed_cb, c);
	evtimer_add(c->timer, &tv);
}

/*
 * Answer with an error (not a Fluent client: its protocol has none), log
 * why, and drop the client. Returns -1.
 */
int
client_fail(struct client *c, const struct proto_envelope *req,
    const char *code, const char *why)
{
	log_warn("%s dropped: %s", client_name(c), why);
	/* Before a hello, every failure is a protocol mismatch. */
	if (c->state == CLIENT_HELLO)
		code = RELOG_E_PROTOCOL_MISMATCH;
	if (!c->forward)
		client_error(c, req, code, why);
	client_close(c);
	return (-1);
}

/* Handle runner.hello. Returns 0, or -1 if the client is gone. */
static int
client_hello(struct client *c, const struct proto_envelope *env)
{
	struct proto_hello hello;
	const char *cause, *code = NULL;

	if (env->type != PROTO_REQUEST ||
	    !proto_str_eq(env->method, RELOG_METHOD_HELLO))
		return (client_fail(c, env, RELOG_E_PROTOCOL_MISMATCH,
		    "the first message must be a runner.hello request"));
	if (proto_decode_hello(env->payload, &hello, &cause) != 0)
		return (client_fail(c, env, RELOG_E_BAD_PAYLOAD, cause));

	cause = NULL;
	if (!client_uid_allowed(c))
		cause = "this uid may not connect";
	if (cause == NULL && relogd_config.token != NULL &&
	    !client_token_ok(hello.session_token))
		cause = "wrong session token";
	if (cause != NULL)
		code = RELOG_E_UNAUTHORIZED;
	else if (!plugin_id_valid(hello.runner_id.ptr, hello.runner_id.len))
		cause = "runner_id is not a safe name";
	else if (hello.plugin_id.len != 0 &&
	    !plugin_id_valid(hello.plugin_id.ptr, hello.plugin_id.len))
		cause = "plugin_id is not a safe name";
	if (cause != NULL) {
		log_warn("%s refused: %s", client_name(c), cause);
		client_hello_reply(c, env, 0, cause, code);
		client_close(c);
		return (-1);
	}
	memcpy(c->runner_id, hello.runner_id.ptr, hello.runner_id.len);
	c->runner_id[hello.runner_id.len] = '\0';
	/* NULL past max_plugins: its records are routed like anyone's. */
	if (hello.plugin_id.len != 0)
		c->plugin = plugin_get(hello.plugin_id.ptr,
		    hello.plugin_id.len);
	c->state_slot = state_lookup(hello.runner_id, hello.instance);
	c->state = CLIENT_READY;
	evtimer_del(c->timer);
	client_reading(c, 1);	/* now with the idle timeout */
	client_hello_reply(c, env, 1, "", NULL);
	log_info("runner %s connected (pid %ld, uid %ld, plugin %s)",
	    c->runner_id, (long)c->pid, (long)c->uid,
	    c->plugin != NULL ? c->plugin->id : "by logger name");
	return (0);
}

/*
 * The logger named after the runner, made when first needed; past
 * max_plugins, the one for unrouted records.
 */
static struct plugin *
client_own(struct client *c)
{
	if (c->own == NULL)
		c->own = plugin_get(c->runner_id, strlen(c->runner_id));
	return (c->own != NULL ? c->own : plugin_unrouted());
}

/*
 * The logger of a record: the hello's plugin, else the one its logger name
 * names, else one named after the runner.
 */
struct plugin *
client_route(struct client *c, const struct proto_entry *e)
{
	struct plugin *p;

	if (c->plugin != NULL)
		return (c->plugin);
	p = plugin_for_logger(e->logger_name);
	return (p != NULL ? p : client_own(c));
}

/* Note that the current read fed a sink (for acks and backpressure). */
void
client_touched(struct client *c, struct sink *sink)
{
	struct sink_mark *m;
	size_t i;

	for (i = 0; i < c->ntouched; i++) {
		if (c->touched[i].sink == sink)
			return;
	}
	if (c->ntouched == c->touched_cap) {
		c->touched_cap = c->touched_cap != 0 ? c->touched_cap * 2 : 4;
		m = reallocarray(c->touched, c->touched_cap, sizeof *m);
		if (m == NULL)
			fatal("reallocarray");
		c->touched = m;
	}
	c->touched[c->ntouched++].sink = sink;
}

/* Copy up to an id's length of a peer's string, for echoing. */
static size_t
client_echo(char *out, struct proto_str s)
{
	size_t len = s.ptr != NULL ? s.len : 0;

	if (len > RELOG_ID_MAX)
		len = RELOG_ID_MAX;
	if (len != 0)
		memcpy(out, s.ptr, len);
	out[len] = '\0';
	return (len);
}

/* A new ack answering env (reply: 1) or only recording (0); env may be NULL. */
struct ack *
client_ack_new(const struct proto_envelope *env, int reply)
{
	struct ack *a;

	a = calloc(1, sizeof *a);
	if (a == NULL)
		fatal("calloc");
	a->request_id = reply && env != NULL ? env->request_id : -1;
	if (env != NULL) {
		a->method_len = client_echo(a->method, env->method);
		a->plugin_id_len = client_echo(a->plugin_id, env->plugin_id);
	}
	return (a);
}

/*
 * Queue an ack. With marks, it waits for the sinks this read fed to write
 * what they hold now.
 */
void
client_ack_queue(struct client *c, struct ack *a, int marks)
{
	size_t i;

	if (marks && c->ntouched != 0) {
		a->marks = calloc(c->ntouched, sizeof *a->marks);
		if (a->marks == NULL)
			fatal("calloc");
		for (i = 0; i < c->ntouched; i++) {
			a->marks[i].sink = c->touched[i].sink;
			a->marks[i].mark = c->touched[i].sink->queued;
		}
		a->nmarks = c->ntouched;
	}
	TAILQ_INSERT_TAIL(&c->acks, a, entry);
	if (!c->owing) {
		c->owing = 1;
		TAILQ_INSERT_TAIL(&client_owing, c, owing_entry);
	}
}

/* Owe an error reply, in turn with the others. */
static void
client_ack_error(struct client *c, const struct proto_envelope *env,
    const char *code, const char *message)
{
	struct ack *a = client_ack_new(env, 1);

	a->code = code;
	a->message = message;
	client_ack_queue(c, a, 0);
}

/* Send an ack's reply. */
static void
client_ack_send(struct client *c, const struct ack *a)
{
	struct proto_envelope req;
	struct client_reply r;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (c->forward) {
		/* Fluent's ack: a bare map, no envelope and no length. */
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 1);
		proto_pack_key(&pk, "ack");
		proto_pack_str(&pk, (struct proto_str){ a->chunk,
		    a->chunk_len });
		client_send(c, sb.data, sb.size);
		msgpack_sbuffer_destroy(&sb);
		return;
	}
	memset(&req, 0, sizeof req);
	req.request_id = a->request_id;
	req.method.ptr = a->method;
	req.method.len = a->method_len;
	req.plugin_id.ptr = a->plugin_id;
	req.plugin_id.len = a->plugin_id_len;
	client_reply_begin(&r, &req);
	if (a->batch) {
		msgpack_pack_map(&r.pk, 2);
		proto_pack_key(&r.pk, "written");
		msgpack_pack_uint32(&r.pk, a->written);
		proto_pack_key(&r.pk, "rejected");
		msgpack_pack_uint32(&r.pk, a->rejected);
	} else
		msgpack_pack_map(&r.pk, 0);
	client_reply_send(c, &r, a->code, a->message);
}

/*
 * Settle the client's acks that are due, oldest first: record the seq
 * (only now, so a restart never skips an unwritten batch), then answer.
 * Frees a dead client once it is owed nothing. Returns whether any was
 * settled.
 */
static int
client_acks_try(struct client *c)
{
	struct ack *a;
	size_t i;
	int settled = 0;

	while ((a = TAILQ_FIRST(&c->acks)) != NULL) {
		for (i = 0; i < a->nmarks; i++) {
			if (a->marks[i].sink->written < a->marks[i].mark)
				return (settled);
		}
		if (a->after_seq != 0 && c->state_slot >= 0 &&
		    state_recorded(c->state_slot) < a->after_seq)
			return (settled);
		if (a->seq != 0 && c->state_slot >= 0)
			state_record(c->state_slot, a->seq);
		if (a->request_id >= 0 && c->state != CLIENT_DEAD)
			client_ack_send(c, a);
		TAILQ_REMOVE(&c->acks, a, entry);
		free(a->marks);
		free(a);
		settled = 1;
	}
	TAILQ_REMOVE(&client_owing, c, owing_entry);
	c->owing = 0;
	if (c->state == CLIENT_DEAD)
		client_free(c);
	return (1);
}

/* Does a sink this client fed hold more than it may (or, low: any)? */
static int
client_feeds_full(const struct client *c, size_t limit)
{
	size_t i;

	for (i = 0; i < c->ntouched; i++) {
		if (sink_pending(c->touched[i].sink) > limit)
			return (1);
	}
	return (0);
}

/*
 * Sinks wrote something: settle acks, and read again from clients whose
 * sinks drained below the low watermark.
 */
void
client_sinks_progressed(void)
{
	struct client *c, *next;
	int settled;

	/* Again while any settles: a resend may wait on another's record. */
	do {
		settled = 0;
		for (c = TAILQ_FIRST(&client_owing); c != NULL; c = next) {
			next = TAILQ_NEXT(c, owing_entry);
			settled |= client_acks_try(c);
		}
	} while (settled);
	for (c = TAILQ_FIRST(&client_congested); c != NULL; c = next) {
		next = TAILQ_NEXT(c, congested_entry);
		if (client_feeds_full(c, SINK_LOW_WATER))
			continue;
		TAILQ_REMOVE(&client_congested, c, congested_entry);
		c->congested = 0;
		log_debug("%s: sinks drained, reading again", client_name(c));
		if (c->output_full)
			continue;
		client_reading(c, 1);
		/* Frames may already wait in its buffer. */
		event_active(c->read_ev, EV_READ, 0);
	}
}

/* A sink this client fed is full: stop reading it until it drains. */
static void
client_throttle(struct client *c)
{
	if (c->congested || c->state != CLIENT_READY ||
	    !client_feeds_full(c, SINK_HIGH_WATER))
		return;
	c->congested = 1;
	TAILQ_INSERT_TAIL(&client_congested, c, congested_entry);
	client_reading(c, 0);
	log_debug("%s: a sink is full, not reading", client_name(c));
}

/* Write the record saying how many records the runner's ring dropped. */
static void
client_report_drops(struct client *c, uint64_t dropped)
{
	struct plugin *p = c->plugin != NULL ? c->plugin : client_own(c);
	char msg[160];

	snprintf(msg, sizeof msg, "runner %s dropped %llu records: its queue "
	    "was full", c->runner_id, (unsigned long long)dropped);
	plugin_notice(p, msg, c);
	p->dropped_by_runners += dropped;
}

/* Drop one trailing newline. */
static void
client_chomp(struct proto_str *text)
{
	if (text->len != 0 && text->ptr[text->len - 1] == '\n')
		text->len--;
}

/* Cut a text to max bytes (not inside a UTF-8 sequence); returns the cut. */
static size_t
client_cut(struct proto_str *text, size_t max)
{
	size_t keep = proto_utf8_cut(text->ptr, text->len, max);
	size_t cut = text->len - keep;

	text->len = keep;
	return (cut);
}

/*
 * Make a record of an entry: cut to the limits, with `when` (else now)
 * if it has no time, and, for a plugin in strict mode, a logger name
 * outside plugin.<id> put under it.
 */
void
client_record(struct client *c, int64_t when, struct record *r)
{
	const struct plugin *p = c->plugin;
	struct proto_str name = r->e.logger_name;
	size_t plen;

	r->logger_prefix = proto_cstr("");
	if (r->e.timestamp_ms <= 0)
		r->e.timestamp_ms = when > 0 ? when :
		    relogd_now_ms(CLOCK_REALTIME);
	/* A traceback's last newline would leave an empty line. */
	client_chomp(&r->e.message);
	client_chomp(&r->e.exception_text);
	r->name_cut = client_cut(&r->e.logger_name, relogd_config.max_logger);
	r->msg_cut = client_cut(&r->e.message, relogd_config.max_message);
	r->exc_cut = client_cut(&r->e.exception_text,
	    relogd_config.max_exception);
	if (p == NULL || !p->set.strict)
		return;
	plen = p->logger_len;
	if (name.len >= plen && memcmp(name.ptr, p->logger, plen) == 0 &&
	    (name.len == plen || name.ptr[plen] == '.'))
		return;
	/* Under plugin.<id>: "plugin.<id>.<name>", or the plugin's own. */
	r->logger_prefix.ptr = p->logger;
	r->logger_prefix.len = name.len != 0 ? plen + 1 : plen;
}

/*
 * Replay a runner.log_batch. A batch whose seq this runner instance sent
 * before is not written again, only acknowledged. Returns 0.
 */
static int
client_batch(struct client *c, const struct proto_envelope *env)
{
	struct proto_batch b;
	struct record r;
	struct ack *a;
	const char *cause = NULL, *first_cause = NULL;
	int reply = env->type == PROTO_REQUEST;
	uint32_t i, n, bad = 0;

	if (proto_decode_batch(env->payload, &b, &cause) != 0) {
		log_warn("%s: bad log batch: %s", client_name(c), cause);
		if (reply)
			client_ack_error(c, env, RELOG_E_BAD_PAYLOAD, cause);
		return (0);
	}
	if (b.seq != 0 && c->state_slot >= 0 &&
	    b.seq <= state_accepted(c->state_slot)) {
		/* Sent before: answered once its first copy is recorded. */
		c->duplicates += b.n;
		log_debug("%s: batch %llu was written before",
		    client_name(c), (unsigned long long)b.seq);
		if (reply) {
			a = client_ack_new(env, 1);
			a->batch = 1;
			a->after_seq = b.seq;
			client_ack_queue(c, a, 0);
		}
		return (0);
	}
	/* Past max_entries, entries are rejected. */
	n = b.n;
	if (n > relogd_config.max_entries) {
		first_cause = "more entries than max_entries";
		bad = n - (uint32_t)relogd_config.max_entries;
		n = (uint32_t)relogd_config.max_entries;
	}
	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof r);
		if (proto_decode_entry(&b.entries[i], &r.e, &cause) != 0) {
			if (first_cause == NULL)
				first_cause = cause;
			bad++;
			continue;
		}
		client_record(c, env->timestamp_ms, &r);
		plugin_write(client_route(c, &r.e), &r, c);
	}
	if (b.dropped != 0)
		client_report_drops(c, b.dropped);
	c->records += b.n - bad;
	if (bad != 0) {
		log_warn("%s: skipped %u malformed entries of %u: %s",
		    client_name(c), bad, b.n, first_cause);
	}
	if (b.seq != 0 && c->state_slot >= 0)
		state_accept(c->state_slot, b.seq);
	else
		b.seq = 0;
	if (reply || b.seq != 0) {
		a = client_ack_new(env, reply);
		a->batch = 1;
		a->written = b.n - bad;
		a->rejected = bad;
		a->code = bad != 0 ? RELOG_E_BAD_PAYLOAD : NULL;
		a->message = first_cause;
		a->seq = b.seq;
		client_ack_queue(c, a, 1);
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
	int ret;

	msgpack_unpacked_init(&u);
	/* env borrows from u, which borrows from data: both live till here. */
	if (proto_decode_frame(data, len, &u, &env, &cause) != 0)
		ret = client_fail(c, NULL, RELOG_E_BAD_PAYLOAD, cause);
	else if (c->state == CLIENT_HELLO)
		ret = client_hello(c, &env);
	else if (proto_str_eq(env.method, RELOG_METHOD_LOG_BATCH))
		ret = client_batch(c, &env);
	else if (proto_str_eq(env.method, RELOG_METHOD_HELLO))
		ret = client_fail(c, &env, RELOG_E_PROTOCOL_MISMATCH,
		    "runner.hello sent twice");
	else if (env.type == PROTO_REQUEST && control_method(env.method)) {
		control_request(c, &env);
		ret = 0;
	}
	else {
		if (env.type == PROTO_REQUEST)
			client_ack_error(c, &env, RELOG_E_METHOD_NOT_ALLOWED,
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
	struct evbuffer *in = c->in;
	unsigned char head[RELOG_FRAME_HEADER_SIZE];
	size_t have, total;
	uint32_t len;
	char why[96];
	unsigned char *frame;

	if (c->forward)
		return (forward_process(c));

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

/*
 * Read up to max bytes into the client's buffer. Returns how many, 0 at end
 * of file, or -1 (errno set; EAGAIN when nothing waits).
 */
static ssize_t
client_fill(struct client *c, size_t max)
{
	struct evbuffer_iovec vec;
	ssize_t n;

	if (evbuffer_reserve_space(c->in, (ev_ssize_t)max, &vec, 1) < 1)
		fatalx("out of memory for a connection");
	do
		n = recv(c->fd, vec.iov_base, max < vec.iov_len ? max :
		    vec.iov_len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	vec.iov_len = n > 0 ? (size_t)n : 0;
	evbuffer_commit_space(c->in, &vec, 1);
	return (n);
}

/*
 * Data arrived (or the idle timeout): read what is there, replay every
 * whole frame, write the sinks once for all of them, settle acks, and stop
 * reading this client if a sink it feeds is full or it leaves its replies
 * unread. At end of file, what came before it is replayed first.
 */
static void
client_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	ssize_t n = 1;
	int error = 0;

	(void)fd;
	if (what & EV_TIMEOUT) {
		log_warn("%s sent nothing for %zu s: dropped", client_name(c),
		    relogd_config.idle_timeout_s);
		client_free(c);
		return;
	}
	if (what & EV_READ) {
		n = client_fill(c, CLIENT_READ_MAX);
		error = n < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
		if (error)
			error = errno;
	}
	c->ntouched = 0;
	client_process(c);
	sink_flush_all();
	client_sinks_progressed();
	if (n == 0 || error != 0) {
		client_lost(c, error);
		return;
	}
	client_throttle(c);
	if (c->state != CLIENT_CLOSING && !c->output_full &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) >
	    CLIENT_OUTPUT_MAX) {
		c->output_full = 1;
		client_reading(c, 0);
		log_debug("%s: replies unread, not reading", client_name(c));
	}
}

/* All output written: a closing client can go now. */
static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (c->state == CLIENT_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			client_free(c);
		return;
	}
	/* Below half of CLIENT_OUTPUT_MAX (the write low watermark). */
	control_drained(c);
	if (c->output_full) {
		c->output_full = 0;
		if (!c->congested)
			client_reading(c, 1);
	}
}

/*
 * The peer is gone (end of file, or error): say so, unless it was expected,
 * and free it.
 */
static void
client_lost(struct client *c, int error)
{
	size_t left = evbuffer_get_length(c->in);

	if (error != 0)
		log_warn("%s: %s", client_name(c), strerror(error));
	else if (c->state != CLIENT_CLOSING && left != 0)
		log_warn("%s closed in the middle of a frame (%zu bytes lost)",
		    client_name(c), left);
	else if (c->state == CLIENT_READY)
		log_info("runner %s disconnected after %llu records",
		    c->runner_id, (unsigned long long)c->records);
	client_free(c);
}

/* Writing a reply failed. */
static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	client_lost(arg, EVUTIL_SOCKET_ERROR() != 0 ? EVUTIL_SOCKET_ERROR() :
	    EPIPE);
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
	ssize_t n;
	int queued;

	TAILQ_FOREACH(c, &clients, entry) {
		client_reading(c, 0);
		bufferevent_disable(c->bev, EV_WRITE);
		/* What was sent by now, not what a fast peer sends next. */
		if (ioctl(c->fd, FIONREAD, &queued) != 0)
			queued = 0;
		while (c->state != CLIENT_CLOSING && queued > 0 &&
		    (n = client_fill(c, (size_t)queued < CLIENT_READ_MAX ?
		    (size_t)queued : CLIENT_READ_MAX)) > 0) {
			queued -= (int)n;
			client_process(c);
		}
		sink_flush_all();
	}
}

/* Call fn for every connection. */
void
client_foreach(void (*fn)(struct client *, void *), void *arg)
{
	struct client *c;

	TAILQ_FOREACH(c, &clients, entry)
		fn(c, arg);
}

/* Do the client's unread replies stay under limit bytes? */
int
client_writable(const struct client *c, size_t limit)
{
	return (c->state == CLIENT_READY && evbuffer_get_length(
	    bufferevent_get_output(c->bev)) < limit);
}

/* Queue bytes (a whole frame) to the client. */
void
client_send(struct client *c, const char *data, size_t len)
{
	bufferevent_write(c->bev, data, len);
}

/* How many connections there are. */
size_t
client_count(void)
{
	return (client_total);
}

/*
 * Free every client (at exit, after the sinks were drained): settle what
 * acks can be, so their seqs are recorded, and drop the rest.
 */
void
client_free_all(void)
{
	struct client *c;
	struct ack *a;

	client_sinks_progressed();
	while ((c = TAILQ_FIRST(&clients)) != NULL)
		client_free(c);
	while ((c = TAILQ_FIRST(&client_owing)) != NULL) {
		while ((a = TAILQ_FIRST(&c->acks)) != NULL) {
			TAILQ_REMOVE(&c->acks, a, entry);
			free(a->marks);
			free(a);
		}
		client_free(c);
	}
}
