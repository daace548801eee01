/*
 * relogctl stats: relogd.stats as a table, as relogd's answer in JSON, or
 * as Prometheus text (proto-metrics.c: the very text relogd serves on
 * metrics_listen). relogctl reopen: relogd.reopen.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "relogctl.h"

enum ctl_stats_format {
	CTL_STATS_TEXT,
	CTL_STATS_JSON,
	CTL_STATS_PROMETHEUS,
};

/*
 * A text column's width: min, or its longest value in the table's rows
 * (an array of maps), so that a long name pushes its row's numbers along
 * with every other row's.
 */
static int
ctl_stats_width(const msgpack_object *rows, const char *key, int min)
{
	struct proto_str s;
	uint32_t i;
	int width = min;

	for (i = 0; rows != NULL && i < rows->via.array.size; i++) {
		s = ctl_msg_str(&rows->via.array.ptr[i], key);
		if (s.len > (size_t)width && s.len <= INT_MAX)
			width = (int)s.len;
	}
	return (width);
}

/* Print the connections' table. */
static void
ctl_stats_connections(const msgpack_object *conns)
{
	const msgpack_object *o;
	struct proto_str s, t, state;
	int rw = ctl_stats_width(conns, "runner_id", 24);
	int pw = ctl_stats_width(conns, "plugin", 16);
	uint32_t i;

	printf("%-6s %-8s %-6s %-*s %-*s %-8s %10s\n", "CONN", "PID", "UID",
	    rw, "RUNNER", pw, "PLUGIN", "STATE", "RECORDS");
	for (i = 0; conns != NULL && i < conns->via.array.size; i++) {
		o = &conns->via.array.ptr[i];
		s = ctl_msg_str(o, "runner_id");
		t = ctl_msg_str(o, "plugin");
		state = ctl_msg_str(o, "state");
		printf("%-6lld %-8lld %-6lld %-*.*s %-*.*s %-8.*s %10lld\n",
		    (long long)ctl_msg_int(o, "id"),
		    (long long)ctl_msg_int(o, "pid"),
		    (long long)ctl_msg_int(o, "uid"), rw, (int)s.len, s.ptr,
		    pw, (int)t.len, t.ptr, (int)state.len, state.ptr,
		    (long long)ctl_msg_int(o, "records"));
	}
}

/* Print the plugins' table. */
static void
ctl_stats_plugins(const msgpack_object *plugins)
{
	const msgpack_object *o;
	struct proto_str s;
	int pw = ctl_stats_width(plugins, "plugin", 24);
	uint32_t i;

	printf("\n%-*s %10s %10s %10s %10s %10s %12s\n", pw, "PLUGIN",
	    "RECEIVED", "WRITTEN", "DROPPED", "SUPPRESSED", "FILTERED",
	    "BYTES");
	for (i = 0; plugins != NULL && i < plugins->via.array.size; i++) {
		o = &plugins->via.array.ptr[i];
		s = ctl_msg_str(o, "plugin");
		printf("%-*.*s %10lld %10lld %10lld %10lld %10lld %12lld\n",
		    pw, (int)s.len, s.ptr, (long long)ctl_msg_int(o, "received"),
		    (long long)ctl_msg_int(o, "written"),
		    (long long)ctl_msg_int(o, "dropped_by_runners"),
		    (long long)ctl_msg_int(o, "suppressed"),
		    (long long)ctl_msg_int(o, "filtered"),
		    (long long)ctl_msg_int(o, "bytes"));
	}
}

/*
 * Say what needs an operator's eye, a line a plugin: a file it cannot
 * write (its records wait, unacknowledged), records others aimed at it
 * (owned), records journald did not take.
 */
static void
ctl_stats_troubles(const msgpack_object *plugins)
{
	const msgpack_object *o;
	struct proto_str s, w;
	int64_t refused, lost;
	uint32_t i;

	for (i = 0; plugins != NULL && i < plugins->via.array.size; i++) {
		o = &plugins->via.array.ptr[i];
		s = ctl_msg_str(o, "plugin");
		w = ctl_msg_str(o, "writing");
		refused = ctl_msg_int(o, "refused");
		lost = ctl_msg_int(o, "journald_lost");
		if (w.len != 0 && !proto_str_eq(w, "ok"))
			printf("%.*s: cannot write its file: %.*s; %lld records "
			    "wait\n", (int)s.len, s.ptr, (int)w.len, w.ptr,
			    (long long)ctl_msg_int(o, "waiting"));
		if (refused > 0)
			printf("%.*s: %lld records refused: their senders do "
			    "not own it\n", (int)s.len, s.ptr, (long long)refused);
		if (lost > 0)
			printf("%.*s: %lld records journald did not take\n",
			    (int)s.len, s.ptr, (long long)lost);
	}
}

/* Print the forward sinks' table, if there are any. */
static void
ctl_stats_forward(const msgpack_object *fwd)
{
	const msgpack_object *o;
	struct proto_str s, st;
	int uw = ctl_stats_width(fwd, "uri", 32);
	uint32_t i;

	if (fwd == NULL || fwd->via.array.size == 0)
		return;
	printf("\n%-*s %-10s %10s %10s %10s %10s %10s\n", uw, "FORWARD",
	    "STATE", "MEMORY", "DISK", "SENT", "ACKED", "DROPPED");
	for (i = 0; i < fwd->via.array.size; i++) {
		o = &fwd->via.array.ptr[i];
		s = ctl_msg_str(o, "uri");
		st = ctl_msg_str(o, "state");
		printf("%-*.*s %-10.*s %10lld %10lld %10lld %10lld %10lld\n",
		    uw, (int)s.len, s.ptr, (int)st.len, st.ptr,
		    (long long)ctl_msg_int(o, "queued_memory"),
		    (long long)ctl_msg_int(o, "queued_disk"),
		    (long long)ctl_msg_int(o, "sent"),
		    (long long)ctl_msg_int(o, "acked"),
		    (long long)ctl_msg_int(o, "dropped"));
	}
	for (i = 0; i < fwd->via.array.size; i++) {
		o = &fwd->via.array.ptr[i];
		if (!ctl_msg_bool(o, "disk_full"))
			continue;
		s = ctl_msg_str(o, "uri");
		printf("%.*s: its file queue's disk is full; %lld records wait "
		    "in memory\n", (int)s.len, s.ptr,
		    (long long)ctl_msg_int(o, "queued_memory"));
	}
}

/* Print the whole answer as tables. */
static void
ctl_stats_text(const msgpack_object *payload)
{
	const msgpack_object *conns = ctl_msg_array(payload, "connections");
	struct proto_str s = ctl_msg_str(payload, "version");

	printf("relogd %.*s, up %lld s, connections: %u, input held: %lld "
	    "bytes, shared rings: %lld (%lld bytes)\n\n", (int)s.len, s.ptr,
	    (long long)ctl_msg_int(payload, "uptime_s"),
	    conns != NULL ? conns->via.array.size : 0,
	    (long long)ctl_msg_int(payload, "buffered"),
	    (long long)ctl_msg_int(payload, "rings"),
	    (long long)ctl_msg_int(payload, "ring_bytes"));
	ctl_stats_connections(conns);
	ctl_stats_plugins(ctl_msg_array(payload, "plugins"));
	ctl_stats_troubles(ctl_msg_array(payload, "plugins"));
	ctl_stats_forward(ctl_msg_array(payload, "forward"));
}

/*
 * Append the answer as Prometheus text, from the payload's bytes in the
 * frame (proto_metrics_format reads raw msgpack, as relogd's does).
 */
static void
ctl_stats_prometheus(struct proto_buf *b, const struct proto_msg *r)
{
	struct proto_reader rd;
	size_t start;

	proto_reader_init(&rd, r->body, r->len);
	if (proto_read_find(&rd, "payload") != 0)
		ctl_fail(CTL_FAILED, "bad reply: no payload");
	start = rd.off;
	if (proto_read_skip(&rd) != 0 ||
	    proto_metrics_format(b, r->body + start, rd.off - start) != 0)
		ctl_fail(CTL_FAILED, "bad reply: the payload is not a map");
}

/* relogctl stats */
int
ctl_stats_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	enum ctl_stats_format format = CTL_STATS_TEXT;
	struct proto_buf b = { NULL, 0, 0 };
	struct proto_msg r;
	int opt, fd;

	while ((opt = getopt_long(argc, argv, "+:o:h", opts, NULL)) != -1) {
		if (opt == 'j' || (opt == 'o' && strcmp(optarg, "json") == 0))
			format = CTL_STATS_JSON;
		else if (opt == 'o' && strcmp(optarg, "text") == 0)
			format = CTL_STATS_TEXT;
		else if (opt == 'o' && strcmp(optarg, "prometheus") == 0)
			format = CTL_STATS_PROMETHEUS;
		else if (opt == 'o')
			ctl_usage_error("stats", "-o %s: not text, json or "
			    "prometheus", optarg);
		else if (opt == 'h')
			ctl_help("stats");
		else
			ctl_bad_option("stats", opt, argv);
	}
	if (optind != argc)
		ctl_usage_error("stats", "%s: stats takes no arguments",
		    argv[optind]);
	fd = ctl_conn_open();
	ctl_conn_call(fd, 2, RELOG_METHOD_STATS, ctl_conn_pack_empty, NULL,
	    &r);
	if (format == CTL_STATS_TEXT)
		ctl_stats_text(r.env.payload);
	else if (format == CTL_STATS_JSON) {
		ctl_msg_json(&b, r.env.payload);
		proto_buf_add(&b, "\n", 1);
	} else
		ctl_stats_prometheus(&b, &r);
	if (b.len != 0)
		fwrite(b.data, 1, b.len, stdout);
	proto_buf_free(&b);
	proto_msg_free(&r);
	close(fd);
	return (fflush(stdout) == 0 ? CTL_OK : CTL_FAILED);
}

/* relogctl reopen */
int
ctl_reopen_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct proto_msg r;
	int opt, fd;

	while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		if (opt == 'h')
			ctl_help("reopen");
		ctl_bad_option("reopen", opt, argv);
	}
	if (optind != argc)
		ctl_usage_error("reopen", "%s: reopen takes no arguments",
		    argv[optind]);
	fd = ctl_conn_open();
	ctl_conn_call(fd, 2, RELOG_METHOD_REOPEN, ctl_conn_pack_empty, NULL,
	    &r);
	proto_msg_free(&r);
	close(fd);
	return (CTL_OK);
}
