/*
 * relogd.stats as Prometheus metrics, in the text exposition format
 * (version 0.0.4). One implementation for both ends: relogctl formats the
 * payload relogd answered (stats -o prometheus), relogd formats the same
 * payload, packed by the same code, for GET /metrics. So a counter added
 * to relogd.stats is one row below, and the two can never disagree.
 *
 * The payload is read as raw msgpack with the allocation-free reader
 * (proto-scan.c): relogd formats a scrape without unpacking anything.
 * A key the payload lacks (an older relogd) gives no sample.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"

/* What a metric's value is made of. */
enum proto_metric_kind {
	PROTO_METRIC_INT,	/* the key's integer */
	PROTO_METRIC_BOOL,	/* the key's bool, as 0 or 1 */
	PROTO_METRIC_COUNT,	/* the length of the key's array */
	PROTO_METRIC_INFO,	/* 1, the key's string as the label */
	PROTO_METRIC_STATE,	/* per state: 1 for the key's string, or 0 */
};

/*
 * One metric: a sample from the payload, or one per element of an array
 * of it, labelled with a string key of the element. Rows of the same name
 * make one family (HELP and TYPE once).
 */
struct proto_metric {
	const char *name;
	const char *type;
	const char *help;
	const char *array;	/* a sample per element; NULL: one */
	const char *label;	/* the label, and the key it is read from */
	const char *key;
	enum proto_metric_kind kind;
	const char *extra;	/* a label of the row's own, or NULL */
};

static const struct proto_metric proto_metrics[] = {
	{ "relog_info", "gauge", "relogd's version, as a label",
	    NULL, "version", "version", PROTO_METRIC_INFO, NULL },
	{ "relog_uptime_seconds", "gauge", "Seconds since relogd started",
	    NULL, NULL, "uptime_s", PROTO_METRIC_INT, NULL },
	{ "relog_connections", "gauge",
	    "Connections open: runners, relogctl, Fluent clients",
	    NULL, NULL, "connections", PROTO_METRIC_COUNT, NULL },
	{ "relog_input_buffered_bytes", "gauge",
	    "Bytes of input every connection holds (max_buffered bounds it)",
	    NULL, NULL, "buffered", PROTO_METRIC_INT, NULL },
	{ "relog_rings", "gauge",
	    "Runners' shared rings mapped",
	    NULL, NULL, "rings", PROTO_METRIC_INT, NULL },
	{ "relog_ring_bytes", "gauge",
	    "Bytes of runners' rings mapped (max_ring_total bounds it)",
	    NULL, NULL, "ring_bytes", PROTO_METRIC_INT, NULL },
	{ "relog_peer_messages_suppressed_total", "counter",
	    "relogd's own messages about peers its rate limit held back",
	    NULL, NULL, "peer_messages_suppressed", PROTO_METRIC_INT, NULL },
	{ "relog_plugin_received_total", "counter",
	    "Records routed to the plugin",
	    "plugins", "plugin", "received", PROTO_METRIC_INT, NULL },
	{ "relog_plugin_written_total", "counter",
	    "Records written to the plugin's outputs",
	    "plugins", "plugin", "written", PROTO_METRIC_INT, NULL },
	{ "relog_plugin_filtered_total", "counter",
	    "Records below the plugin's level setting, not written",
	    "plugins", "plugin", "filtered", PROTO_METRIC_INT, NULL },
	{ "relog_plugin_suppressed_total", "counter",
	    "Records the plugin's rate limit held back",
	    "plugins", "plugin", "suppressed", PROTO_METRIC_INT, NULL },
	{ "relog_plugin_dropped_by_runners_total", "counter",
	    "Records the plugin's runners dropped (their rings overflowed)",
	    "plugins", "plugin", "dropped_by_runners", PROTO_METRIC_INT, NULL },
	{ "relog_plugin_bytes_total", "counter",
	    "Bytes of lines queued for the plugin's log file",
	    "plugins", "plugin", "bytes", PROTO_METRIC_INT, NULL },
	{ "relog_plugin_lost_bytes_total", "counter",
	    "Bytes the plugin's log file gave up after write errors",
	    "plugins", "plugin", "lost_bytes", PROTO_METRIC_INT, NULL },
	{ "relog_plugin_owned", "gauge",
	    "1 if only who proves the plugin (token or uid) writes into it",
	    "plugins", "plugin", "owned", PROTO_METRIC_BOOL, NULL },
	{ "relog_plugin_refused_total", "counter",
	    "Records others aimed at the owned plugin, written to _unrouted",
	    "plugins", "plugin", "refused", PROTO_METRIC_INT, NULL },
	{ "relog_plugin_waiting_records", "gauge",
	    "Records waiting for the plugin's log file (unacknowledged)",
	    "plugins", "plugin", "waiting", PROTO_METRIC_INT, NULL },
	{ "relog_plugin_journald_lost_total", "counter",
	    "Records of the plugin journald did not take",
	    "plugins", "plugin", "journald_lost", PROTO_METRIC_INT, NULL },
	{ "relog_forward_connected", "gauge",
	    "1 if the forward sink is connected (up or closing)",
	    "forward", "uri", "connected", PROTO_METRIC_BOOL, NULL },
	{ "relog_forward_state", "gauge",
	    "The forward sink's state: 1 for the one it is in",
	    "forward", "uri", "state", PROTO_METRIC_STATE, NULL },
	{ "relog_forward_queued_records", "gauge",
	    "Records the forward sink holds, sent or not",
	    "forward", "uri", "queued_memory", PROTO_METRIC_INT,
	    "queue=\"memory\"" },
	{ "relog_forward_queued_records", "gauge", NULL,
	    "forward", "uri", "queued_disk", PROTO_METRIC_INT,
	    "queue=\"disk\"" },
	{ "relog_forward_sent_total", "counter",
	    "Records sent to the collector (again after a reconnect)",
	    "forward", "uri", "sent", PROTO_METRIC_INT, NULL },
	{ "relog_forward_acked_total", "counter",
	    "Records the collector has",
	    "forward", "uri", "acked", PROTO_METRIC_INT, NULL },
	{ "relog_forward_dropped_total", "counter",
	    "Records given up on when the file queue was full",
	    "forward", "uri", "dropped", PROTO_METRIC_INT, NULL },
	{ "relog_forward_disk_full", "gauge",
	    "1 while the file queue's disk has no room: records wait in memory",
	    "forward", "uri", "disk_full", PROTO_METRIC_BOOL, NULL },
};

/* A forward sink's states (PROTOCOL.md, relogd.stats). */
static const char *const proto_metrics_states[] = {
	"down", "connecting", "up", "closing", "stalled",
};

#define PROTO_METRICS_NSTATES \
	(sizeof proto_metrics_states / sizeof proto_metrics_states[0])

/* Append a C string. */
static void
proto_metrics_add(struct proto_buf *b, const char *s)
{
	proto_buf_add(b, s, strlen(s));
}

/*
 * Append a label value: backslash, double quote and newline escaped as
 * the format says, and bytes that are not UTF-8 as U+FFFD.
 */
static void
proto_metrics_escape(struct proto_buf *b, struct proto_str v)
{
	const unsigned char *p = (const unsigned char *)v.ptr;
	size_t i = 0, n;

	while (i < v.len) {
		if (p[i] == '\\' || p[i] == '"') {
			proto_buf_add(b, "\\", 1);
			proto_buf_add(b, p + i++, 1);
		} else if (p[i] == '\n') {
			proto_buf_add(b, "\\n", 2);
			i++;
		} else if ((n = proto_utf8_len(p + i, v.len - i)) != 0) {
			proto_buf_add(b, p + i, n);
			i += n;
		} else {
			proto_buf_add(b, "\xef\xbf\xbd", 3);
			i++;
		}
	}
}

/*
 * Append one sample: the name, its labels (the row's label from the
 * element, the row's own, then name2="value2" if given), the value.
 */
static void
proto_metrics_sample(struct proto_buf *b, const struct proto_metric *m,
    const struct proto_str *label, const char *name2, const char *value2,
    int64_t value)
{
	char num[32];
	int n, labels = label != NULL || m->extra != NULL || name2 != NULL;

	proto_metrics_add(b, m->name);
	if (labels)
		proto_buf_add(b, "{", 1);
	if (label != NULL) {
		proto_metrics_add(b, m->label);
		proto_buf_add(b, "=\"", 2);
		proto_metrics_escape(b, *label);
		proto_buf_add(b, "\"", 1);
	}
	if (m->extra != NULL) {
		if (label != NULL)
			proto_buf_add(b, ",", 1);
		proto_metrics_add(b, m->extra);
	}
	if (name2 != NULL) {
		if (label != NULL || m->extra != NULL)
			proto_buf_add(b, ",", 1);
		proto_metrics_add(b, name2);
		proto_buf_add(b, "=\"", 2);
		proto_metrics_escape(b, proto_cstr(value2));
		proto_buf_add(b, "\"", 1);
	}
	if (labels)
		proto_buf_add(b, "}", 1);
	n = snprintf(num, sizeof num, " %" PRId64 "\n", value);
	proto_buf_add(b, num, (size_t)n);
}

/* Append the samples of a state row: one per state, 1 for the current. */
static void
proto_metrics_state(struct proto_buf *b, const struct proto_metric *m,
    const struct proto_str *label, struct proto_str state)
{
	char other[64];
	size_t i;
	int known = 0;

	for (i = 0; i < PROTO_METRICS_NSTATES; i++) {
		known |= proto_str_eq(state, proto_metrics_states[i]);
		proto_metrics_sample(b, m, label, "state",
		    proto_metrics_states[i],
		    proto_str_eq(state, proto_metrics_states[i]));
	}
	/* A state this relogctl does not know yet: still shown. */
	if (!known && state.len < sizeof other) {
		memcpy(other, state.ptr, state.len);
		other[state.len] = '\0';
		proto_metrics_sample(b, m, label, "state", other, 1);
	}
}

/*
 * Append the samples of row m from map (a reader at it), labelled with
 * label (NULL: none). A key that is missing, or of another type, gives
 * none.
 */
static void
proto_metrics_row(struct proto_buf *b, const struct proto_metric *m,
    const struct proto_reader *map, const struct proto_str *label)
{
	struct proto_reader r = *map;
	struct proto_str s;
	uint32_t n;
	int64_t v;
	int yes;

	if (proto_read_find(&r, m->key) != 0)
		return;
	switch (m->kind) {
	case PROTO_METRIC_INT:
		if (proto_read_int(&r, &v) == 0)
			proto_metrics_sample(b, m, label, NULL, NULL, v);
		break;
	case PROTO_METRIC_BOOL:
		if (proto_read_bool(&r, &yes) == 0)
			proto_metrics_sample(b, m, label, NULL, NULL, yes);
		break;
	case PROTO_METRIC_COUNT:
		if (proto_read_array(&r, &n) == 0)
			proto_metrics_sample(b, m, label, NULL, NULL, n);
		break;
	case PROTO_METRIC_INFO:
		if (proto_read_str(&r, &s) == 0)
			proto_metrics_sample(b, m, &s, NULL, NULL, 1);
		break;
	case PROTO_METRIC_STATE:
		if (proto_read_str(&r, &s) == 0)
			proto_metrics_state(b, m, label, s);
		break;
	}
}

/* Append the samples of row m for every element of its array. */
static void
proto_metrics_rows(struct proto_buf *b, const struct proto_metric *m,
    const struct proto_reader *payload)
{
	struct proto_reader r = *payload, label_at;
	struct proto_str label;
	uint32_t n, i;

	if (proto_read_find(&r, m->array) != 0 || proto_read_array(&r, &n) != 0)
		return;
	for (i = 0; i < n; i++) {
		label_at = r;
		if (proto_read_find(&label_at, m->label) == 0 &&
		    proto_read_str(&label_at, &label) == 0)
			proto_metrics_row(b, m, &r, &label);
		if (proto_read_skip(&r) != 0)
			return;
	}
}

/*
 * Append a relogd.stats payload (its raw msgpack) as Prometheus text: for
 * each family its HELP and TYPE, then its samples. Returns 0, or -1 if the
 * payload is not a map.
 */
int
proto_metrics_format(struct proto_buf *b, const char *payload, size_t len)
{
	const struct proto_metric *m;
	struct proto_reader r;
	uint32_t n;
	size_t i;

	proto_reader_init(&r, payload, len);
	if (proto_read_map(&r, &n) != 0)
		return (-1);
	proto_reader_init(&r, payload, len);
	for (i = 0; i < sizeof proto_metrics / sizeof proto_metrics[0]; i++) {
		m = &proto_metrics[i];
		if (m->help != NULL) {
			proto_metrics_add(b, "# HELP ");
			proto_metrics_add(b, m->name);
			proto_buf_add(b, " ", 1);
			proto_metrics_add(b, m->help);
			proto_metrics_add(b, "\n# TYPE ");
			proto_metrics_add(b, m->name);
			proto_buf_add(b, " ", 1);
			proto_metrics_add(b, m->type);
			proto_buf_add(b, "\n", 1);
		}
		if (m->array != NULL)
			proto_metrics_rows(b, m, &r);
		else
			proto_metrics_row(b, m, &r, NULL);
	}
	return (0);
}
