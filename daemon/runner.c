/*
 * The runner protocol on relogd's socket (PROTOCOL.md): length-prefixed
 * frames, the runner.hello handshake (and the shared ring it may pass,
 * handed to ring.c), log batches replayed into the records layer, and
 * relogctl's admin methods handed to control.c.
 *
 * A bad peer is answered where the protocol allows, logged in one line and
 * dropped; nothing it sends can stop relogd. Frames are length-checked
 * before they are buffered, and msgpack is scanned for sane container
 * sizes before it is unpacked (proto_decode_frame).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relogd.h"

/*
 * Answer with an error, log why, and drop the client. Before a hello,
 * every failure is a protocol mismatch. Returns -1.
 */
static int
runner_fail(struct client *c, const struct proto_envelope *req,
    const char *code, const char *why)
{
	log_peer("%s dropped: %s", client_name(c), why);
	if (c->state == CLIENT_HELLO)
		code = RELOG_E_PROTOCOL_MISMATCH;
	reply_error(c, req, code, why);
	client_close(c);
	return (-1);
}

/* Does the session token match relogd's? In constant time. */
static int
runner_token_ok(struct proto_str token)
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

/*
 * Answer runner.hello, saying what became of its ring; a refusal may carry
 * an error code too.
 */
static void
runner_hello_reply(struct client *c, const struct proto_envelope *req,
    int accepted, const char *reason, const char *code,
    enum proto_ring_answer ring, const char *ring_reason)
{
	struct reply r;

	reply_begin(&r, req);
	proto_pack_hello_reply(&r.pk, accepted, reason, ring, ring_reason);
	reply_send(c, &r, code, reason);
}

/*
 * Take the ring an accepted hello passes (ring.c), or close what came
 * with a hello that asked for none. Returns what to answer of it.
 */
static enum proto_ring_answer
runner_hello_ring(struct client *c, const struct proto_hello *h,
    const char **why)
{
	int fds[CLIENT_FDS_MAX], n, i;

	n = client_fds(c, fds);
	*why = NULL;
	if (h->ring_version == 0) {
		for (i = 0; i < n; i++)
			close(fds[i]);
		return (PROTO_RING_UNASKED);
	}
	*why = ring_attach(c, h->ring_version, fds, n);
	if (*why != NULL)
		return (PROTO_RING_REFUSED);
	/* It sends nothing while it logs: no idle timeout. */
	c->listener = 1;
	return (PROTO_RING_TAKEN);
}

/*
 * Does the hello prove this plugin (its token, or the peer's uid)? An
 * unowned plugin needs no proof. *owned tells which it is.
 */
static int
runner_proves(const struct client *c, const struct proto_hello *h,
    struct proto_str id, int *owned)
{
	struct plugin_settings set;
	char name[RELOG_ID_MAX + 1];
	size_t len = route_owner_len(id.ptr, id.len, &set);

	/* Its own proof, or its nearest owned dot-prefix's. */
	*owned = len != 0;
	if (len == 0)
		return (1);
	memcpy(name, id.ptr, len);
	name[len] = '\0';
	return (owner_uid(&set, c->origin.uid) ||
	    owner_token(name, &set, h->session_token));
}

/* Why a hello's plugin_id is refused (and its error code), or NULL. */
static const char *
runner_hello_identity(const struct client *c, const struct proto_hello *h,
    const char **code)
{
	int owned = 0, proved = 1;

	if (h->plugin_id.len != 0)
		proved = runner_proves(c, h, h->plugin_id, &owned);
	*code = RELOG_E_UNAUTHORIZED;
	if (relogd_config.token != NULL &&
	    !runner_token_ok(h->session_token) && !(owned && proved))
		return ("wrong session token");
	if (!proved)
		return ("its plugin is owned: no token or uid of it");
	if (relogd_config.identity && !owned &&
	    !(h->plugin_id.len == 0 && owner_admin(c->origin.uid)))
		return ("identity is required: bind to an owned plugin");
	*code = NULL;
	return (NULL);
}

/* Why a hello is refused (and its error code), or NULL. */
static const char *
runner_hello_refused(const struct client *c, const struct proto_hello *h,
    const char **code)
{
	struct proto_str s;
	uint32_t i;

	*code = NULL;
	if (!proto_id_valid(h->runner_id.ptr, h->runner_id.len))
		return ("runner_id is not a safe name");
	if (h->plugin_id.len != 0 &&
	    !proto_id_valid(h->plugin_id.ptr, h->plugin_id.len))
		return ("plugin_id is not a safe name");
	for (i = 0; i < proto_hello_nplugin_ids(h); i++) {
		s = proto_hello_plugin_id(h, i);
		if (!proto_id_valid(s.ptr, s.len))
			return ("plugin_ids holds a name that is not safe");
		if (proto_id_own_log(s.ptr, s.len))
			return ("plugin_ids names one of relogd's own logs");
	}
	if (proto_id_own_log(h->plugin_id.ptr, h->plugin_id.len)) {
		*code = RELOG_E_UNAUTHORIZED;
		return ("plugin_id names one of relogd's own logs");
	}
	return (runner_hello_identity(c, h, code));
}

/*
 * Make the plugins the hello names known: plugin_id binds the connection
 * to its plugin; plugin_ids are the plugins the runner hosts.
 */
static void
runner_hello_plugins(struct client *c, const struct proto_hello *h)
{
	struct origin *o = &c->origin;
	uint32_t i, n = proto_hello_nplugin_ids(h);
	struct proto_str s;
	struct plugin *p;
	int owned;

	/* Kept: owners may change, and what it proves is looked at again. */
	if (h->session_token.len != 0 && (o->token = strndup(
	    h->session_token.ptr, h->session_token.len)) == NULL)
		fatal("strndup");
	/* NULL past max_plugins: its records are routed like anyone's. */
	if (h->plugin_id.len != 0)
		o->plugin = route_declare(h->plugin_id.ptr, h->plugin_id.len,
		    o->uid);
	if (n != 0 && (o->hosted = calloc(n, sizeof *o->hosted)) == NULL)
		fatal("calloc");
	for (i = 0; i < n; i++) {
		s = proto_hello_plugin_id(h, i);
		/* An owned plugin it cannot prove it does not host. */
		if (!runner_proves(c, h, s, &owned)) {
			log_peer("%s lists plugin %.*s, owned, without its "
			    "token or uid: not taken", client_name(c),
			    (int)s.len, s.ptr);
			continue;
		}
		if ((p = route_declare(s.ptr, s.len, o->uid)) != NULL)
			o->hosted[o->nhosted++] = p;
	}
}

/* Handle runner.hello. Returns 0, or -1 if the client is gone. */
static int
runner_hello(struct client *c, const struct proto_envelope *env)
{
	struct origin *o = &c->origin;
	struct proto_hello hello;
	enum proto_ring_answer ring;
	const char *cause, *code, *ring_why;

	if (env->type != PROTO_REQUEST ||
	    !proto_str_eq(env->method, RELOG_METHOD_HELLO))
		return (runner_fail(c, env, RELOG_E_PROTOCOL_MISMATCH,
		    "the first message must be a runner.hello request"));
	if (proto_decode_hello(env->payload, &hello, &cause) != 0)
		return (runner_fail(c, env, RELOG_E_BAD_PAYLOAD, cause));
	if ((cause = runner_hello_refused(c, &hello, &code)) != NULL) {
		log_peer("%s refused: %s", client_name(c), cause);
		runner_hello_reply(c, env, 0, cause, code, PROTO_RING_UNASKED,
		    NULL);
		client_close(c);
		return (-1);
	}
	memcpy(o->runner_id, hello.runner_id.ptr, hello.runner_id.len);
	o->runner_id[hello.runner_id.len] = '\0';
	runner_hello_plugins(c, &hello);
	o->acks->state_slot = state_lookup(hello.runner_id, hello.instance,
	    o->uid);
	record_drops_inherited(o);
	c->state = CLIENT_READY;
	ring = runner_hello_ring(c, &hello, &ring_why);
	evtimer_del(c->timer);
	client_reading(c, 1);	/* now with the idle timeout */
	runner_hello_reply(c, env, 1, "", NULL, ring, ring_why);
	log_info("runner %s connected (pid %ld, uid %ld, plugin %s%s)",
	    o->runner_id, (long)o->pid, (long)o->uid,
	    o->plugin != NULL ? o->plugin->id : "by logger name",
	    ring == PROTO_RING_TAKEN ? ", shared ring" : "");
	return (0);
}

/* Owe an error reply, in turn with the others. */
static void
runner_ack_error(struct client *c, const struct proto_envelope *env,
    const char *code, const char *message)
{
	struct ack *a = ack_new(env, 1);

	a->code = code;
	a->message = message;
	ack_queue(c->origin.acks, a, 0);
}

/*
 * An ack is settled: commit a ring read's position, and send the reply:
 * {written, rejected} for a batch, {tail} for a ring_sync, else {}.
 */
static void
runner_answer(struct client *c, const struct ack *a)
{
	struct proto_envelope req;
	struct reply r;

	if (a->ring)
		ring_settled(c, a);
	if (a->request_id < 0)
		return;
	memset(&req, 0, sizeof req);
	req.request_id = a->request_id;
	req.method = (struct proto_str){ a->method, a->method_len };
	req.plugin_id = (struct proto_str){ a->plugin_id, a->plugin_id_len };
	reply_begin(&r, &req);
	if (a->batch) {
		msgpack_pack_map(&r.pk, 2);
		proto_pack_key(&r.pk, "written");
		msgpack_pack_uint32(&r.pk, a->written);
		proto_pack_key(&r.pk, "rejected");
		msgpack_pack_uint32(&r.pk, a->rejected);
	} else if (a->ring) {
		msgpack_pack_map(&r.pk, 1);
		proto_pack_key(&r.pk, "tail");
		msgpack_pack_uint64(&r.pk, a->ring_pos);
	} else
		msgpack_pack_map(&r.pk, 0);
	reply_send(c, &r, a->code, a->message);
}

/*
 * A batch this runner instance sent before (same seq): not written again,
 * answered once its first copy is recorded. Returns whether it was one.
 */
static int
runner_resent(struct client *c, const struct proto_envelope *env,
    const struct proto_batch *b)
{
	int slot = c->origin.acks->state_slot;
	struct ack *a;

	if (b->seq == 0 || slot < 0 || b->seq > state_accepted(slot))
		return (0);
	c->duplicates += b->n;
	log_debug("%s: batch %llu was written before", client_name(c),
	    (unsigned long long)b->seq);
	if (env->type == PROTO_REQUEST) {
		a = ack_new(env, 1);
		a->batch = 1;
		a->after_seq = b->seq;
		ack_queue(c->origin.acks, a, 0);
	}
	return (1);
}

/*
 * Replay a runner.log_batch: its entries, then its drop count, each into
 * the records layer; then owe its answer (and its seq's record) once the
 * sinks it fed have written it. Returns 0.
 */
static int
runner_batch(struct client *c, const struct proto_envelope *env)
{
	struct proto_batch b;
	struct record r;
	struct ack *a;
	const char *cause = NULL, *first_cause = NULL;
	int reply = env->type == PROTO_REQUEST, slot;
	uint32_t i, n, bad = 0;

	if (proto_decode_batch(env->payload, &b, &cause) != 0) {
		log_peer("%s: bad log batch: %s", client_name(c), cause);
		if (reply)
			runner_ack_error(c, env, RELOG_E_BAD_PAYLOAD, cause);
		return (0);
	}
	if (runner_resent(c, env, &b))
		return (0);
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
		record_make(&r, &c->origin, env->timestamp_ms);
		record_write(&c->origin, &r);
	}
	if (b.dropped != 0)
		record_drops(&c->origin, b.dropped);
	c->records += b.n - bad;
	if (bad != 0)
		log_peer("%s: skipped %u malformed entries of %u: %s",
		    client_name(c), bad, b.n, first_cause);
	slot = c->origin.acks->state_slot;
	if (b.seq != 0 && slot >= 0)
		state_accept(slot, b.seq);
	else
		b.seq = 0;
	if (reply || b.seq != 0) {
		a = ack_new(env, reply);
		a->batch = 1;
		a->written = b.n - bad;
		a->rejected = bad;
		a->code = bad != 0 ? RELOG_E_BAD_PAYLOAD : NULL;
		a->message = first_cause;
		a->seq = b.seq;
		a->kept = record_drops_keep(&c->origin);
		if (reply)
			ack_queue(c->origin.acks, a, 1);
		else
			ack_queue_silent(c->origin.acks, a);
	}
	return (0);
}

/* runner.ring_sync: answered once the ring is read past it (ring.c). */
static void
runner_ring_sync(struct client *c, const struct proto_envelope *env)
{
	const char *cause;

	if (env->type == PROTO_REQUEST && (cause = ring_sync(c, env)) != NULL)
		runner_ack_error(c, env, RELOG_E_BAD_PAYLOAD, cause);
}

/* Handle one frame's bytes. Returns 0, or -1 if the client is gone. */
static int
runner_frame(struct client *c, const char *data, size_t len)
{
	struct proto_envelope env;
	msgpack_unpacked u;
	const char *cause;
	int ret = 0;

	msgpack_unpacked_init(&u);
	/* env borrows from u, which borrows from data: both live till here. */
	if (proto_decode_frame(data, len, &u, &env, &cause) != 0)
		ret = runner_fail(c, NULL, RELOG_E_BAD_PAYLOAD, cause);
	else if (c->state == CLIENT_HELLO)
		ret = runner_hello(c, &env);
	else if (proto_str_eq(env.method, RELOG_METHOD_LOG_BATCH))
		ret = runner_batch(c, &env);
	else if (proto_str_eq(env.method, RELOG_METHOD_HELLO))
		ret = runner_fail(c, &env, RELOG_E_PROTOCOL_MISMATCH,
		    "runner.hello sent twice");
	else if (proto_str_eq(env.method, RELOG_METHOD_RING_SYNC))
		runner_ring_sync(c, &env);
	else if (env.type == PROTO_REQUEST && control_method(env.method))
		control_request(c, &env);
	else if (env.type == PROTO_REQUEST)
		runner_ack_error(c, &env, RELOG_E_METHOD_NOT_ALLOWED,
		    "relogd only takes runner.log_batch and ring_sync");
	msgpack_unpacked_destroy(&u);
	return (ret);
}

/*
 * Handle every whole frame in the input buffer. Returns 0, or -1 if the
 * client is gone.
 */
static int
runner_process(struct client *c)
{
	struct evbuffer *in = c->in;
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
		if (len > (c->state == CLIENT_HELLO ? RELOG_HELLO_FRAME_MAX :
		    relogd_config.max_frame)) {
			snprintf(why, sizeof why, "frame of %u bytes is over "
			    "the limit of %zu", len, c->state == CLIENT_HELLO ?
			    (size_t)RELOG_HELLO_FRAME_MAX :
			    relogd_config.max_frame);
			return (runner_fail(c, NULL, RELOG_E_BAD_PAYLOAD, why));
		}
		total = sizeof head + len;
		if (have < total)
			break;
		frame = evbuffer_pullup(in, (ev_ssize_t)total);
		if (frame == NULL)
			fatalx("out of memory for a frame");
		if (runner_frame(c, (const char *)frame + sizeof head,
		    len) != 0)
			return (-1);
		evbuffer_drain(in, total);
	}
	return (0);
}

/* A runner goes: its tail, its drops not said yet, its ring. */
static void
runner_gone(struct client *c)
{
	control_client_gone(c);
	record_forget(&c->origin);
	ring_detach(c);
}

/* A runner connected: records of no plugin go to the runtime's home. */
static void
runner_start(struct client *c)
{
	c->origin.home = RELOG_PLUGIN_RUNTIME;
	c->origin.learn = 1;
}

/* No hello in time. */
static void
runner_hello_timeout(struct client *c)
{
	runner_fail(c, NULL, RELOG_E_PROTOCOL_MISMATCH,
	    "no runner.hello in time");
}

const struct client_ops runner_ops = {
	.name = "runner",
	.hello = 1,
	.fds = 1,
	.start = runner_start,
	.process = runner_process,
	.answer = runner_answer,
	.timeout = runner_hello_timeout,
	.drained = control_drained,
	.gone = runner_gone,
	.hangup = ring_hangup,
	.resume = ring_resume,
	.stop = ring_stop,
};
