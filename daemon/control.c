/*
 * Admin methods on relogd's socket, for relogctl, after a runner.hello:
 *   relogd.stats    uptime, connections, per-plugin and per-forward-sink
 *                   counters
 *   relogd.tail     the last records (from a small ring), then, with
 *                   follow, every new one as a relogd.record broadcast;
 *                   filtered here, by plugin and least level
 *   relogd.reopen   the same as SIGHUP
 * Only root, relogd's own uid and admin_uids may call them. A tail that
 * reads too slowly loses records (counted, and shown with each record):
 * it never slows relogd.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relogd.h"

#define CONTROL_RECENT 256		/* records kept for tail */
#define CONTROL_LOGGER_MAX 128		/* of a kept record's logger name */
#define CONTROL_TEXT_MAX 1024		/* of a kept record's message */
#define CONTROL_TAIL_MAX (1024u * 1024)	/* a tail's unread replies */

/* One of the last records written, cut to a small size. */
struct control_recent {
	char plugin[RELOG_ID_MAX + 1];
	int64_t timestamp_ms;
	int64_t level;
	char logger[CONTROL_LOGGER_MAX];
	size_t logger_len;
	char message[CONTROL_TEXT_MAX];
	size_t message_len;
};

static struct control_recent *control_ring;
static size_t control_next;
static size_t control_kept;
static struct client **control_following;	/* tails that follow */
static size_t control_nfollowing;
static size_t control_following_cap;

/* Is this one of the admin methods? */
int
control_method(struct proto_str method)
{
	return (proto_str_eq(method, RELOG_METHOD_STATS) ||
	    proto_str_eq(method, RELOG_METHOD_TAIL) ||
	    proto_str_eq(method, RELOG_METHOD_REOPEN));
}

/* May this peer call them: root, relogd's own uid, or admin_uids? */
static int
control_allowed(const struct client *c)
{
	return (c->uid == 0 || c->uid == geteuid() ||
	    config_uid_listed(&relogd_config.admin_uids, c->uid));
}

/* Pack a C string. */
static void
control_str(msgpack_packer *pk, const char *s)
{
	proto_pack_str(pk, proto_cstr(s));
}

/* Pack one connection of stats. */
static void
control_stats_client(struct client *c, void *arg)
{
	static const char *const states[] = {
		"hello", "ready", "closing", "dead"
	};
	msgpack_packer *pk = arg;

	msgpack_pack_map(pk, 8);
	proto_pack_key(pk, "id");
	msgpack_pack_uint64(pk, c->id);
	proto_pack_key(pk, "pid");
	msgpack_pack_int64(pk, c->pid);
	proto_pack_key(pk, "uid");
	msgpack_pack_int64(pk, c->uid == (uid_t)-1 ? -1 : (int64_t)c->uid);
	proto_pack_key(pk, "runner_id");
	control_str(pk, c->runner_id);
	proto_pack_key(pk, "plugin");
	control_str(pk, c->plugin != NULL ? c->plugin->id : "");
	proto_pack_key(pk, "state");
	control_str(pk, states[c->state]);
	proto_pack_key(pk, "records");
	msgpack_pack_uint64(pk, c->records);
	proto_pack_key(pk, "duplicates");
	msgpack_pack_uint64(pk, c->duplicates);
}

/* Count plugins, _unrouted too (for the array header). */
static void
control_count_plugin(struct plugin *p, void *arg)
{
	(void)p;
	(*(size_t *)arg)++;
}

/* Pack one plugin of stats. */
static void
control_stats_plugin(struct plugin *p, void *arg)
{
	msgpack_packer *pk = arg;

	msgpack_pack_map(pk, 7);
	proto_pack_key(pk, "plugin");
	control_str(pk, p->id);
	proto_pack_key(pk, "received");
	msgpack_pack_uint64(pk, p->records + p->suppressed);
	proto_pack_key(pk, "written");
	msgpack_pack_uint64(pk, p->records);
	proto_pack_key(pk, "dropped_by_runners");
	msgpack_pack_uint64(pk, p->dropped_by_runners);
	proto_pack_key(pk, "suppressed");
	msgpack_pack_uint64(pk, p->suppressed);
	proto_pack_key(pk, "bytes");
	msgpack_pack_uint64(pk, p->bytes);
	proto_pack_key(pk, "lost_bytes");
	msgpack_pack_uint64(pk, p->file.lost);
}

static void
control_count_remote(struct remote *rm, void *arg)
{
	(void)rm;
	(*(size_t *)arg)++;
}

/* Pack one forward sink of stats (records, not bytes). */
static void
control_stats_remote(struct remote *rm, void *arg)
{
	msgpack_packer *pk = arg;

	static const char *const states[] = {
		[REMOTE_DOWN] = "down", [REMOTE_CONNECTING] = "connecting",
		[REMOTE_UP] = "up", [REMOTE_CLOSING] = "closing",
	};

	msgpack_pack_map(pk, 8);
	proto_pack_key(pk, "uri");
	control_str(pk, rm->uri);
	proto_pack_key(pk, "state");
	control_str(pk, states[rm->state]);
	proto_pack_key(pk, "connected");
	if (rm->state == REMOTE_UP || rm->state == REMOTE_CLOSING)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	proto_pack_key(pk, "queued_memory");
	msgpack_pack_uint64(pk, rm->mem_records);
	proto_pack_key(pk, "queued_disk");
	msgpack_pack_uint64(pk, rm->spool.records);
	proto_pack_key(pk, "sent");
	msgpack_pack_uint64(pk, rm->sent);
	proto_pack_key(pk, "acked");
	msgpack_pack_uint64(pk, rm->acked);
	proto_pack_key(pk, "dropped");
	msgpack_pack_uint64(pk, rm->dropped);
}

/* relogd.stats */
static void
control_stats(struct client *c, const struct proto_envelope *env)
{
	struct client_reply r;
	size_t nclients = client_count(), nplugins = 0, nremotes = 0;

	plugin_foreach(control_count_plugin, &nplugins);
	remote_foreach(control_count_remote, &nremotes);
	client_reply_begin(&r, env);
	msgpack_pack_map(&r.pk, 5);
	proto_pack_key(&r.pk, "version");
	control_str(&r.pk, RELOGD_VERSION);
	proto_pack_key(&r.pk, "uptime_s");
	msgpack_pack_int64(&r.pk, (int64_t)(time(NULL) - relogd_started));
	proto_pack_key(&r.pk, "connections");
	msgpack_pack_array(&r.pk, (uint32_t)nclients);
	client_foreach(control_stats_client, &r.pk);
	proto_pack_key(&r.pk, "plugins");
	msgpack_pack_array(&r.pk, (uint32_t)nplugins);
	plugin_foreach(control_stats_plugin, &r.pk);
	proto_pack_key(&r.pk, "forward");
	msgpack_pack_array(&r.pk, (uint32_t)nremotes);
	remote_foreach(control_stats_remote, &r.pk);
	client_reply_send(c, &r, NULL, NULL);
}

/* Does a tail want this record? */
static int
control_wanted(const struct control_tail *t, const char *plugin,
    int64_t level)
{
	size_t i;

	if (level < t->level)
		return (0);
	if (t->nplugins == 0)
		return (1);
	for (i = 0; i < t->nplugins; i++) {
		if (strcmp(t->plugins[i], plugin) == 0)
			return (1);
	}
	return (0);
}

/* Send one record to a tail, or count it dropped if it reads too slowly. */
static void
control_send_record(struct client *c, const char *plugin,
    const struct proto_entry *e)
{
	struct control_tail *t = c->tail;
	struct client_reply r;

	if (!client_writable(c, CONTROL_TAIL_MAX)) {
		t->dropped++;
		return;
	}
	client_broadcast_begin(&r, RELOG_METHOD_RECORD, e->timestamp_ms);
	msgpack_pack_map(&r.pk, 7);
	proto_pack_key(&r.pk, "plugin");
	control_str(&r.pk, plugin);
	proto_pack_key(&r.pk, "timestamp_ms");
	msgpack_pack_int64(&r.pk, e->timestamp_ms);
	proto_pack_key(&r.pk, "level");
	msgpack_pack_int64(&r.pk, e->level);
	proto_pack_key(&r.pk, "logger_name");
	proto_pack_str(&r.pk, e->logger_name);
	proto_pack_key(&r.pk, "message");
	proto_pack_str(&r.pk, e->message);
	proto_pack_key(&r.pk, "exception_text");
	proto_pack_str(&r.pk, e->exception_text);
	proto_pack_key(&r.pk, "dropped");
	msgpack_pack_uint64(&r.pk, t->dropped);
	t->told = t->dropped;
	client_reply_send(c, &r, NULL, NULL);
}

/* Start or stop sending new records to a tail. */
static void
control_set_follow(struct client *c, int follow)
{
	struct client **v;
	size_t i;

	for (i = 0; i < control_nfollowing; i++) {
		if (control_following[i] == c) {
			if (!follow)
				control_following[i] =
				    control_following[--control_nfollowing];
			return;
		}
	}
	if (!follow)
		return;
	if (control_nfollowing == control_following_cap) {
		control_following_cap = control_following_cap != 0 ?
		    control_following_cap * 2 : 4;
		v = reallocarray(control_following, control_following_cap,
		    sizeof *v);
		if (v == NULL)
			fatal("reallocarray");
		control_following = v;
	}
	control_following[control_nfollowing++] = c;
}

/*
 * A record was written: keep it in the ring of recent ones, and send it to
 * the tails that follow.
 */
void
control_record(const struct plugin *p, const struct record *r)
{
	struct control_recent *k;
	size_t i;

	if (control_ring == NULL) {
		control_ring = calloc(CONTROL_RECENT, sizeof *control_ring);
		if (control_ring == NULL)
			fatal("calloc");
	}
	k = &control_ring[control_next];
	control_next = (control_next + 1) % CONTROL_RECENT;
	if (control_kept < CONTROL_RECENT)
		control_kept++;
	memcpy(k->plugin, p->id, sizeof k->plugin);
	k->timestamp_ms = r->e.timestamp_ms;
	k->level = r->e.level;
	k->logger_len = proto_utf8_cut(r->e.logger_name.ptr,
	    r->e.logger_name.len, sizeof k->logger);
	memcpy(k->logger, r->e.logger_name.ptr, k->logger_len);
	k->message_len = proto_utf8_cut(r->e.message.ptr, r->e.message.len,
	    sizeof k->message);
	memcpy(k->message, r->e.message.ptr, k->message_len);
	for (i = 0; i < control_nfollowing; i++) {
		if (control_wanted(control_following[i]->tail, p->id,
		    r->e.level))
			control_send_record(control_following[i], p->id, &r->e);
	}
}

/* Read relogd.tail's payload: {plugins: [str], level: int, follow, lines}. */
static int
control_tail_args(const msgpack_object *payload, struct control_tail *t,
    uint32_t *lines)
{
	const msgpack_object_kv *kv;
	const msgpack_object *o;
	uint32_t i, j;

	*lines = 10;
	for (i = 0; i < payload->via.map.size; i++) {
		kv = &payload->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR)
			continue;
		o = &kv->val;
		if (kv->key.via.str.size == 7 &&
		    memcmp(kv->key.via.str.ptr, "plugins", 7) == 0) {
			if (o->type != MSGPACK_OBJECT_ARRAY ||
			    o->via.array.size > 8)
				return (-1);
			memset(t->plugins, 0, sizeof t->plugins);
			for (j = 0; j < o->via.array.size; j++) {
				if (o->via.array.ptr[j].type !=
				    MSGPACK_OBJECT_STR ||
				    !plugin_id_valid(o->via.array.ptr[j].via.str.ptr,
				    o->via.array.ptr[j].via.str.size))
					return (-1);
				memcpy(t->plugins[j], o->via.array.ptr[j].via.str.ptr,
				    o->via.array.ptr[j].via.str.size);
			}
			t->nplugins = o->via.array.size;
		} else if (kv->key.via.str.size == 5 &&
		    memcmp(kv->key.via.str.ptr, "level", 5) == 0) {
			if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
				t->level = (int64_t)o->via.u64;
			else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
				t->level = o->via.i64;
			else
				return (-1);
		} else if (kv->key.via.str.size == 6 &&
		    memcmp(kv->key.via.str.ptr, "follow", 6) == 0) {
			if (o->type != MSGPACK_OBJECT_BOOLEAN)
				return (-1);
			t->follow = o->via.boolean;
		} else if (kv->key.via.str.size == 5 &&
		    memcmp(kv->key.via.str.ptr, "lines", 5) == 0) {
			if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
				return (-1);
			*lines = o->via.u64 > CONTROL_RECENT ? CONTROL_RECENT :
			    (uint32_t)o->via.u64;
		}
	}
	return (0);
}

/*
 * relogd.tail: the last `lines` wanted records, oldest first, then the
 * answer; with follow, every new record after it.
 */
static void
control_tail(struct client *c, const struct proto_envelope *env)
{
	struct control_tail t;
	const struct control_recent *k;
	struct proto_entry e;
	struct client_reply r;
	uint32_t lines, found = 0;
	size_t i, from;

	memset(&t, 0, sizeof t);
	t.level = INT64_MIN;
	if (control_tail_args(env->payload, &t, &lines) != 0) {
		client_error(c, env, RELOG_E_BAD_PAYLOAD, "bad tail arguments");
		return;
	}
	if (c->tail == NULL) {
		c->tail = malloc(sizeof *c->tail);
		if (c->tail == NULL)
			fatal("malloc");
	}
	control_set_follow(c, 0);
	*c->tail = t;
	/* Walk back to the lines-th wanted record, then send forwards. */
	for (i = 0; i < control_kept && found < lines; i++) {
		k = &control_ring[(control_next + CONTROL_RECENT - 1 - i) %
		    CONTROL_RECENT];
		found += control_wanted(&t, k->plugin, k->level);
	}
	from = i;
	memset(&e, 0, sizeof e);
	for (i = from; i > 0; i--) {
		k = &control_ring[(control_next + CONTROL_RECENT - i) %
		    CONTROL_RECENT];
		if (!control_wanted(&t, k->plugin, k->level))
			continue;
		e.timestamp_ms = k->timestamp_ms;
		e.level = k->level;
		e.logger_name.ptr = k->logger;
		e.logger_name.len = k->logger_len;
		e.message.ptr = k->message;
		e.message.len = k->message_len;
		e.exception_text = proto_cstr("");
		control_send_record(c, k->plugin, &e);
	}
	client_reply_begin(&r, env);
	proto_pack_hello_reply(&r.pk, 1, "");
	client_reply_send(c, &r, NULL, NULL);
	control_set_follow(c, t.follow);
	/* A tail only listens: no idle timeout for it. */
	client_reading(c, 1);
}

/* Handle an admin request (after the hello). */
void
control_request(struct client *c, const struct proto_envelope *env)
{
	struct client_reply r;

	if (!control_allowed(c)) {
		log_warn("uid %ld may not call %.*s", (long)c->uid,
		    (int)env->method.len, env->method.ptr);
		client_error(c, env, RELOG_E_UNAUTHORIZED,
		    "only root, relogd's uid and admin_uids may");
		return;
	}
	if (proto_str_eq(env->method, RELOG_METHOD_STATS))
		control_stats(c, env);
	else if (proto_str_eq(env->method, RELOG_METHOD_TAIL))
		control_tail(c, env);
	else {
		plugin_reopen_all();
		log_info("log files reopened (asked by pid %ld)",
		    (long)c->pid);
		client_reply_begin(&r, env);
		msgpack_pack_map(&r.pk, 0);
		client_reply_send(c, &r, NULL, NULL);
	}
}

/*
 * A tail read its backlog down: if records were dropped since it was last
 * told, tell it now (it may see no new record for a while).
 */
void
control_drained(struct client *c)
{
	struct client_reply r;

	if (c->tail == NULL || c->tail->dropped == c->tail->told)
		return;
	c->tail->told = c->tail->dropped;
	client_broadcast_begin(&r, RELOG_METHOD_DROPPED,
	    relogd_now_ms(CLOCK_REALTIME));
	msgpack_pack_map(&r.pk, 1);
	proto_pack_key(&r.pk, "dropped");
	msgpack_pack_uint64(&r.pk, c->tail->dropped);
	client_reply_send(c, &r, NULL, NULL);
}

/* A connection goes: forget its tail. */
void
control_client_gone(struct client *c)
{
	control_set_follow(c, 0);
	free(c->tail);
	c->tail = NULL;
}

/* Free the ring (at exit). */
void
control_free(void)
{
	free(control_ring);
	control_ring = NULL;
	free(control_following);
	control_following = NULL;
	control_nfollowing = control_following_cap = 0;
	control_kept = control_next = 0;
}
