/*
 * relogctl tail: relogd.tail. The last records relogd keeps, then, with
 * -f, every new one. Following, relogctl outlives relogd: when the
 * connection closes it says so once, connects again with backoff until
 * relogd is back (or relogctl is interrupted), and asks for the records
 * it missed meanwhile that relogd still keeps (those newer than the last
 * one shown).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relogctl.h"

#define CTL_TAIL_BACKOFF_MIN_MS 100
#define CTL_TAIL_BACKOFF_MAX_MS 5000

/* What relogctl tail asks for, and where it stands. */
struct ctl_tail {
	const char *plugins[RELOG_TAIL_PLUGINS_MAX];
	int nplugins;
	int64_t level;
	int follow;
	int lines;
	int json;
	/*
	 * The last records shown, hashed (ctl_tail_hash), in a ring; after a
	 * reconnect, those a replay may hold again (each taken once).
	 */
	uint64_t seen[RELOG_TAIL_LINES_MAX];
	size_t nseen;
	size_t seen_next;
	uint64_t again[RELOG_TAIL_LINES_MAX];
	size_t nagain;
	int64_t dropped;	/* as relogd last said, this connection */
};

/* Pack relogd.tail's payload. */
static void
ctl_tail_pack(msgpack_packer *pk, void *arg)
{
	struct ctl_tail *t = arg;
	int i;

	msgpack_pack_map(pk, 4);
	proto_pack_key(pk, "plugins");
	msgpack_pack_array(pk, (uint32_t)t->nplugins);
	for (i = 0; i < t->nplugins; i++)
		proto_pack_key(pk, t->plugins[i]);
	proto_pack_key(pk, "level");
	msgpack_pack_int64(pk, t->level);
	proto_pack_key(pk, "follow");
	if (t->follow)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	proto_pack_key(pk, "lines");
	msgpack_pack_int(pk, t->lines);
}

/* FNV-1a over a text, on from h. */
static uint64_t
ctl_tail_fnv(uint64_t h, struct proto_str s)
{
	size_t i;

	for (i = 0; i < s.len; i++)
		h = (h ^ (unsigned char)s.ptr[i]) * 0x100000001b3u;
	return (h * 0x100000001b3u);
}

/* A record's hash: its time, level, plugin, logger and texts. */
static uint64_t
ctl_tail_hash(const struct proto_line *l, struct proto_str plugin)
{
	uint64_t h = 0xcbf29ce484222325u ^ (uint64_t)l->timestamp_ms;

	h = (h ^ (uint64_t)l->level) * 0x100000001b3u;
	h = ctl_tail_fnv(h, plugin);
	h = ctl_tail_fnv(h, l->logger);
	h = ctl_tail_fnv(h, l->message);
	return (ctl_tail_fnv(h, l->exception));
}

/*
 * Is a record relogd replays after a reconnect one shown before (the same
 * relogd's ring)? Each shown one is matched once: two alike records, one
 * shown and one written while away, are told apart by their count. One
 * written while away is new whatever its time (a restarted relogd's ring
 * has only those; a Fluent event may carry an old time).
 */
static int
ctl_tail_shown(struct ctl_tail *t, uint64_t h)
{
	size_t i;

	for (i = 0; i < t->nagain; i++) {
		if (t->again[i] == h) {
			t->again[i] = t->again[--t->nagain];
			return (1);
		}
	}
	return (0);
}

/*
 * Print a tailed record: its payload as JSON, or as ctl-out prints it.
 * One relogd replays after a reconnect is skipped if it was shown before.
 */
static void
ctl_tail_print(struct ctl_tail *t, const msgpack_object *p, int replayed)
{
	static struct proto_buf b;
	struct proto_line l = {
		.timestamp_ms = ctl_msg_int(p, "timestamp_ms"),
		.level = ctl_msg_int(p, "level"),
		.logger = ctl_msg_str(p, "logger_name"),
		.message = ctl_msg_str(p, "message"),
		.exception = ctl_msg_str(p, "exception_text"),
	};
	struct proto_str plugin = ctl_msg_str(p, "plugin");
	char id[RELOG_ID_MAX + 1];
	uint64_t h = ctl_tail_hash(&l, plugin);

	if (replayed && ctl_tail_shown(t, h))
		return;
	t->seen[t->seen_next] = h;
	t->seen_next = (t->seen_next + 1) % RELOG_TAIL_LINES_MAX;
	if (t->nseen < RELOG_TAIL_LINES_MAX)
		t->nseen++;
	b.len = 0;
	if (t->json) {
		ctl_msg_json(&b, p);
		proto_buf_add(&b, "\n", 1);
	} else {
		snprintf(id, sizeof id, "%.*s", (int)plugin.len, plugin.ptr);
		ctl_out_record(&b, id, &l, CTL_FORMAT_SHORT);
	}
	if (ctl_out_write(&b, 1) != 0)
		exit(ctl_out_end());	/* nobody reads: done */
}

/*
 * Take one frame of a tail: a record, a count of dropped ones, or the
 * answer (returns 1). Records before the answer are replayed ones.
 */
static int
ctl_tail_frame(struct ctl_tail *t, const struct proto_envelope *env,
    int answered)
{
	int64_t d;

	ctl_conn_check(env);
	if (env->type == PROTO_RESPONSE)
		return (1);
	if (!proto_str_eq(env->method, RELOG_METHOD_RECORD) &&
	    !proto_str_eq(env->method, RELOG_METHOD_DROPPED))
		return (0);
	d = ctl_msg_int(env->payload, "dropped");
	if (d > t->dropped)
		fprintf(stderr, "relogctl: %lld records not shown: read too "
		    "slowly\n", (long long)(d - t->dropped));
	t->dropped = d;
	if (proto_str_eq(env->method, RELOG_METHOD_RECORD))
		ctl_tail_print(t, env->payload, !answered);
	return (0);
}

/*
 * Ask relogd for the tail on fd and print what comes. Returns 0 when it
 * is done (not following), -1 when relogd closed the connection.
 */
static int
ctl_tail_session(int fd, struct ctl_tail *t)
{
	struct proto_msg m;
	int answered = 0;

	t->dropped = 0;
	ctl_conn_request(fd, 2, RELOG_METHOD_TAIL, ctl_tail_pack, t);
	for (;;) {
		if (ctl_conn_frame(fd, &m, answered && t->follow ? -1 :
		    CTL_TIMEOUT_MS) != 0)
			return (-1);
		if (ctl_tail_frame(t, &m.env, answered))
			answered = 1;
		proto_msg_free(&m);
		if (answered && !t->follow)
			return (0);
	}
}

/*
 * Connect again, waiting longer after each failure (up to 5 s), until
 * relogd is back. Only "not there (yet)" is waited out; anything else
 * ends relogctl as at the start.
 */
static int
ctl_tail_reconnect(void)
{
	int wait_ms = CTL_TAIL_BACKOFF_MIN_MS, fd, ret;

	for (;;) {
		ret = ctl_conn_try_open(&fd, NULL);
		if (ret == 0)
			return (fd);
		if (ret != -ENOENT && ret != -ECONNREFUSED &&
		    ret != -ECONNRESET && ret != -EAGAIN)
			return (ctl_conn_open());	/* says why, exits */
		poll(NULL, 0, wait_ms);
		wait_ms = wait_ms * 2 > CTL_TAIL_BACKOFF_MAX_MS ?
		    CTL_TAIL_BACKOFF_MAX_MS : wait_ms * 2;
	}
}

/* relogctl tail: run sessions; following, across relogd's restarts. */
static int
ctl_tail_run(struct ctl_tail *t)
{
	int fd = ctl_conn_open();

	ctl_out_start(0);
	while (ctl_tail_session(fd, t) != 0 && t->follow) {
		close(fd);
		fprintf(stderr, "relogctl: relogd closed the connection; "
		    "reconnecting to %s\n", ctl_socket);
		fd = ctl_tail_reconnect();
		fprintf(stderr, "relogctl: reconnected to %s\n", ctl_socket);
		/* What relogd still keeps of what was missed meanwhile. */
		t->lines = RELOG_TAIL_LINES_MAX;
		memcpy(t->again, t->seen, t->nseen * sizeof t->seen[0]);
		t->nagain = t->nseen;
	}
	close(fd);
	return (ctl_out_end());
}

/* relogctl tail */
int
ctl_tail_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ctl_tail t = {
		.level = 0, .lines = 10,
	};
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "+:fn:p:l:h", opts,
	    NULL)) != -1) {
		switch (opt) {
		case 'j': t.json = 1; break;
		case 'f': t.follow = 1; break;
		case 'h': ctl_help("tail"); break;
		case 'n':
			t.lines = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || t.lines < 0 ||
			    t.lines > RELOG_TAIL_LINES_MAX)
				ctl_usage_error("tail", "-n takes 0 to %d "
				    "lines", RELOG_TAIL_LINES_MAX);
			break;
		case 'p':
			if (!proto_id_valid(optarg, strlen(optarg)))
				ctl_usage_error("tail", "-p %s: not a plugin "
				    "id", optarg);
			if (t.nplugins == RELOG_TAIL_PLUGINS_MAX)
				ctl_usage_error("tail", "%d plugins at most",
				    RELOG_TAIL_PLUGINS_MAX);
			t.plugins[t.nplugins++] = optarg;
			break;
		case 'l': t.level = ctl_level("tail", optarg); break;
		default: ctl_bad_option("tail", opt, argv);
		}
	}
	if (optind != argc)
		ctl_usage_error("tail", "%s: tail takes no arguments",
		    argv[optind]);
	return (ctl_tail_run(&t));
}
