/*
 * Admin methods on relogd's socket, for relogctl, after a runner.hello:
 *   relogd.stats    uptime, connections, per-plugin and per-forward-sink
 *                   counters
 *   relogd.tail     the last records (from a small ring), then, with
 *                   follow, every new one as a relogd.record broadcast;
 *                   filtered here, by plugin and least level
 *   relogd.reopen   reopen the log files (SIGHUP does, and reads the
 *                   config again too)
 * Only root, relogd's own uid and admin_uids may call them. A tail that
 * reads too slowly loses records (counted, and shown with each record):
 * it never slows relogd. The records come from the tails' output (tail.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relogd.h"
#include "remote.h"

#define CONTROL_TAIL_MAX (1024u * 1024)	/* a tail's unread replies */

/* Is this one of the admin methods? */
int
control_method(struct proto_str method)
{
	return (proto_str_eq(method, RELOG_METHOD_STATS) ||
	    proto_str_eq(method, RELOG_METHOD_TAIL) ||
	    proto_str_eq(method, RELOG_METHOD_REOPEN) ||
	    proto_str_eq(method, RELOG_METHOD_GRANT) ||
	    proto_str_eq(method, RELOG_METHOD_REVOKE));
}

/* Pack a C string. */
static void
control_str(msgpack_packer *pk, const char *s)
{
	proto_pack_str(pk, proto_cstr(s));
}

/* Pack a bool. */
static void
control_bool(msgpack_packer *pk, int b)
{
	if (b)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

/* Pack one connection of stats. */
static void
control_stats_client(struct client *c, void *arg)
{
	static const char *const states[] = {
		"hello", "ready", "closing"
	};
	msgpack_packer *pk = arg;

	msgpack_pack_map(pk, 11);
	proto_pack_key(pk, "id");
	msgpack_pack_uint64(pk, c->id);
	proto_pack_key(pk, "pid");
	msgpack_pack_int64(pk, c->origin.pid);
	proto_pack_key(pk, "uid");
	msgpack_pack_int64(pk, c->origin.uid == (uid_t)-1 ? -1 :
	    (int64_t)c->origin.uid);
	proto_pack_key(pk, "runner_id");
	control_str(pk, c->origin.runner_id);
	proto_pack_key(pk, "plugin");
	control_str(pk, c->origin.plugin != NULL ? c->origin.plugin->id : "");
	proto_pack_key(pk, "state");
	control_str(pk, states[c->state]);
	proto_pack_key(pk, "records");
	msgpack_pack_uint64(pk, c->records);
	proto_pack_key(pk, "duplicates");
	msgpack_pack_uint64(pk, c->duplicates);
	proto_pack_key(pk, "acks_owed");
	msgpack_pack_uint64(pk, c->origin.acks->nacks);
	proto_pack_key(pk, "congested");
	control_bool(pk, c->origin.acks->congested);
	proto_pack_key(pk, "ring");
	control_bool(pk, c->ring != NULL);
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

	msgpack_pack_map(pk, 13);
	proto_pack_key(pk, "plugin");
	control_str(pk, p->id);
	proto_pack_key(pk, "received");
	msgpack_pack_uint64(pk, p->records + p->suppressed + p->filtered);
	proto_pack_key(pk, "written");
	msgpack_pack_uint64(pk, plugin_written(p));
	proto_pack_key(pk, "dropped_by_runners");
	msgpack_pack_uint64(pk, p->dropped_by_runners);
	proto_pack_key(pk, "suppressed");
	msgpack_pack_uint64(pk, p->suppressed);
	proto_pack_key(pk, "filtered");
	msgpack_pack_uint64(pk, p->filtered);
	proto_pack_key(pk, "bytes");
	msgpack_pack_uint64(pk, p->bytes);
	proto_pack_key(pk, "lost_bytes");
	msgpack_pack_uint64(pk, p->file.lost);
	proto_pack_key(pk, "owned");
	control_bool(pk, p->owned);
	proto_pack_key(pk, "refused");
	msgpack_pack_uint64(pk, p->refused);
	proto_pack_key(pk, "writing");
	control_str(pk, !p->file.stalled ? "ok" :
	    relogd_error_text(p->file.error));
	proto_pack_key(pk, "waiting");
	msgpack_pack_uint64(pk, sink_waiting(&p->file));
	proto_pack_key(pk, "journald_lost");
	msgpack_pack_uint64(pk, p->journald_lost);
}

/* Count remotes (for the array header). */
static void
control_count_remote(struct remote *rm, void *arg)
{
	(void)rm;
	(*(size_t *)arg)++;
}

/* Pack one remote of stats (records, not bytes). */
static void
control_stats_remote(struct remote *rm, void *arg)
{
	msgpack_packer *pk = arg;

	static const char *const states[] = {
		[REMOTE_DOWN] = "down", [REMOTE_CONNECTING] = "connecting",
		[REMOTE_UP] = "up", [REMOTE_CLOSING] = "closing",
	};

	msgpack_pack_map(pk, 9);
	proto_pack_key(pk, "uri");
	control_str(pk, rm->uri);
	proto_pack_key(pk, "state");
	/* Connected, its collector taking nothing: records go to disk. */
	control_str(pk, rm->stalled ? "stalled" : states[rm->state]);
	proto_pack_key(pk, "connected");
	control_bool(pk, rm->state == REMOTE_UP ||
	    rm->state == REMOTE_CLOSING);
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
	/* Records wait in memory: its file queue's disk has no room. */
	proto_pack_key(pk, "disk_full");
	control_bool(pk, spool_refused(&rm->spool));
}

/* Pack relogd.stats's payload (metrics.c serves the same as text). */
void
control_stats_pack(msgpack_packer *pk)
{
	size_t nclients = client_count(), nplugins = 0, nremotes = 0;

	plugin_foreach(control_count_plugin, &nplugins);
	remote_foreach(control_count_remote, &nremotes);
	msgpack_pack_map(pk, 9);
	proto_pack_key(pk, "version");
	control_str(pk, RELOGD_VERSION);
	proto_pack_key(pk, "uptime_s");
	msgpack_pack_int64(pk, (int64_t)(time(NULL) - relogd_started));
	proto_pack_key(pk, "buffered");
	msgpack_pack_uint64(pk, client_buffered_total());
	proto_pack_key(pk, "peer_messages_suppressed");
	msgpack_pack_uint64(pk, log_peer_dropped());
	proto_pack_key(pk, "rings");
	msgpack_pack_uint64(pk, ring_count());
	proto_pack_key(pk, "ring_bytes");
	msgpack_pack_uint64(pk, ring_bytes_total());
	proto_pack_key(pk, "connections");
	msgpack_pack_array(pk, (uint32_t)nclients);
	client_foreach(control_stats_client, pk);
	proto_pack_key(pk, "plugins");
	msgpack_pack_array(pk, (uint32_t)nplugins);
	plugin_foreach(control_stats_plugin, pk);
	proto_pack_key(pk, "forward");
	msgpack_pack_array(pk, (uint32_t)nremotes);
	remote_foreach(control_stats_remote, pk);
}

/* relogd.stats */
static void
control_stats(struct client *c, const struct proto_envelope *env)
{
	struct reply r;

	reply_begin(&r, env);
	control_stats_pack(&r.pk);
	reply_send(c, &r, NULL, NULL);
}

/*
 * Send one record to a tail (tail.c's send callback), or count it dropped
 * if the tail reads too slowly.
 */
static void
control_send_record(struct tail_follower *t, const char *plugin,
    const struct proto_entry *e)
{
	struct client *c = t->arg;
	struct reply r;

	if (!client_writable(c, CONTROL_TAIL_MAX)) {
		t->dropped++;
		return;
	}
	reply_broadcast_begin(&r, RELOG_METHOD_RECORD, e->timestamp_ms);
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
	reply_send(c, &r, NULL, NULL);
}

/* Read relogd.tail's payload: {plugins: [str], level: int, follow, lines}. */
static int
control_tail_args(const msgpack_object *payload, struct tail_follower *t,
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
			    o->via.array.size > RELOG_TAIL_PLUGINS_MAX)
				return (-1);
			memset(t->plugins, 0, sizeof t->plugins);
			for (j = 0; j < o->via.array.size; j++) {
				if (o->via.array.ptr[j].type !=
				    MSGPACK_OBJECT_STR ||
				    !proto_id_valid(o->via.array.ptr[j].via.str.ptr,
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
			t->following = o->via.boolean;
		} else if (kv->key.via.str.size == 5 &&
		    memcmp(kv->key.via.str.ptr, "lines", 5) == 0) {
			if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
				return (-1);
			*lines = o->via.u64 > RELOG_TAIL_LINES_MAX ?
			    RELOG_TAIL_LINES_MAX : (uint32_t)o->via.u64;
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
	struct tail_follower t;
	struct reply r;
	uint32_t lines;

	memset(&t, 0, sizeof t);
	t.level = INT64_MIN;
	if (control_tail_args(env->payload, &t, &lines) != 0) {
		reply_error(c, env, RELOG_E_BAD_PAYLOAD, "bad tail arguments");
		return;
	}
	if (c->tail == NULL && (c->tail = calloc(1, sizeof *c->tail)) == NULL)
		fatal("calloc");
	tail_follow(c->tail, 0);
	memcpy(c->tail->plugins, t.plugins, sizeof t.plugins);
	c->tail->nplugins = t.nplugins;
	c->tail->level = t.level;
	c->tail->dropped = c->tail->told = 0;
	c->tail->send = control_send_record;
	c->tail->arg = c;
	tail_replay(c->tail, lines);
	reply_begin(&r, env);
	proto_pack_hello_reply(&r.pk, 1, "", PROTO_RING_UNASKED, NULL);
	reply_send(c, &r, NULL, NULL);
	tail_follow(c->tail, t.following);
	/* A tail only listens: no idle timeout for it. */
	c->listener = 1;
	client_reading(c, 1);
}

/*
 * relogd.grant {plugin}: a fresh token for the plugin, {plugin, token};
 * relogd.revoke {plugin}: its grant ends, {revoked: bool}.
 */
static void
control_grant(struct client *c, const struct proto_envelope *env, int grant)
{
	const msgpack_object *o = proto_map_get(env->payload, "plugin");
	char id[RELOG_ID_MAX + 1], token[OWNER_TOKEN_LEN + 1];
	struct reply r;
	int ret;

	if (o == NULL || o->type != MSGPACK_OBJECT_STR ||
	    !proto_id_valid(o->via.str.ptr, o->via.str.size)) {
		reply_error(c, env, RELOG_E_BAD_PAYLOAD, "plugin is not a "
		    "safe plugin id");
		return;
	}
	memcpy(id, o->via.str.ptr, o->via.str.size);
	id[o->via.str.size] = '\0';
	if (grant && proto_id_own_log(id, o->via.str.size)) {
		reply_error(c, env, RELOG_E_BAD_PAYLOAD, "relogd's own logs "
		    "are owned by no one");
		return;
	}
	ret = grant ? owner_grant(id, token) : owner_revoke(id);
	if (ret < 0) {
		log_error("cannot %s plugin %s: %s", grant ? "grant" :
		    "revoke", id, strerror(errno));
		reply_error(c, env, RELOG_E_BAD_PAYLOAD, "the grants file "
		    "cannot be written");
		return;
	}
	plugin_owned_again(id);
	/* There from now on, to own its dotted children too. */
	if (grant)
		route_declare(id, strlen(id), (uid_t)-1);
	log_info("plugin %s %s (asked by pid %ld uid %ld)", id, grant ?
	    "granted a token" : ret != 0 ? "revoked" : "had no grant",
	    (long)c->origin.pid, (long)c->origin.uid);
	reply_begin(&r, env);
	if (grant) {
		msgpack_pack_map(&r.pk, 2);
		proto_pack_key(&r.pk, "plugin");
		proto_pack_key(&r.pk, id);
		proto_pack_key(&r.pk, "token");
		proto_pack_key(&r.pk, token);
		explicit_bzero(token, sizeof token);
	} else {
		msgpack_pack_map(&r.pk, 1);
		proto_pack_key(&r.pk, "revoked");
		if (ret != 0)
			msgpack_pack_true(&r.pk);
		else
			msgpack_pack_false(&r.pk);
	}
	reply_send(c, &r, NULL, NULL);
}

/* Handle an admin request (after the hello). */
void
control_request(struct client *c, const struct proto_envelope *env)
{
	struct reply r;

	if (!owner_admin(c->origin.uid)) {
		log_peer("uid %ld may not call %.*s", (long)c->origin.uid,
		    (int)env->method.len, env->method.ptr);
		reply_error(c, env, RELOG_E_UNAUTHORIZED,
		    "only root, relogd's uid and admin_uids may");
		return;
	}
	if (proto_str_eq(env->method, RELOG_METHOD_STATS))
		control_stats(c, env);
	else if (proto_str_eq(env->method, RELOG_METHOD_TAIL))
		control_tail(c, env);
	else if (proto_str_eq(env->method, RELOG_METHOD_GRANT) ||
	    proto_str_eq(env->method, RELOG_METHOD_REVOKE))
		control_grant(c, env, proto_str_eq(env->method,
		    RELOG_METHOD_GRANT));
	else {
		plugin_reopen_all();
		log_info("log files reopened (asked by pid %ld)",
		    (long)c->origin.pid);
		reply_begin(&r, env);
		msgpack_pack_map(&r.pk, 0);
		reply_send(c, &r, NULL, NULL);
	}
}

/*
 * A tail read its backlog down: if records were dropped since it was last
 * told, tell it now (it may see no new record for a while).
 */
void
control_drained(struct client *c)
{
	struct reply r;

	if (c->tail == NULL || c->tail->dropped == c->tail->told)
		return;
	c->tail->told = c->tail->dropped;
	reply_broadcast_begin(&r, RELOG_METHOD_DROPPED,
	    relogd_now_ms(CLOCK_REALTIME));
	msgpack_pack_map(&r.pk, 1);
	proto_pack_key(&r.pk, "dropped");
	msgpack_pack_uint64(&r.pk, c->tail->dropped);
	reply_send(c, &r, NULL, NULL);
}

/* A tail whose uid may no longer call admin methods: closed. */
static void
control_recheck(struct tail_follower *t)
{
	struct client *c = t->arg;

	if (owner_admin(c->origin.uid))
		return;
	log_warn("%s: uid %ld may no longer tail, closed", client_name(c),
	    (long)c->origin.uid);
	tail_follow(t, 0);
	client_close(c);
}

/*
 * The settings were read again: admin_uids is asked at a request, so a
 * tail that follows on is asked again now.
 */
void
control_config(void)
{
	tail_each(control_recheck);
}

/* A connection goes: forget its tail. */
void
control_client_gone(struct client *c)
{
	if (c->tail == NULL)
		return;
	tail_follow(c->tail, 0);
	free(c->tail);
	c->tail = NULL;
}
