/*
 * Metrics: relogd.stats in Prometheus's text format, from relogctl stats
 * -o prometheus and from relogd's GET /metrics (metrics_listen), both
 * parsed, checked against the format and against stats --json; the
 * filtered counter; metrics_listen refused when it is no address.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "tests.h"

#define METRICS_TIMEOUT_MS 60000

static struct harness H;

static void
metrics_setup(void)
{
	harness_init(&H);
}

static void
metrics_teardown(void)
{
	harness_cleanup(&H);
}

/* A TCP port on 127.0.0.1 nobody listens on (the kernel's pick). */
static int
metrics_free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return (ntohs(sin.sin_port));
}

/*
 * Send an HTTP request to 127.0.0.1:port and read the answer to its end
 * (HTTP/1.0: relogd closes). Returns it (free it); *body points into it.
 */
static char *
metrics_http(int port, const char *request, char **body)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char *text, *end;
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(send(fd, request, strlen(request), MSG_NOSIGNAL),
	    (ssize_t)strlen(request));
	text = capture_read_all(fd, METRICS_TIMEOUT_MS);
	end = strstr(text, "\r\n\r\n");
	ck_assert_msg(end != NULL, "no HTTP answer: %s", text);
	*body = end + 4;
	return (text);
}

/* Run relogctl with args against the test's relogd; it must succeed. */
static char *
metrics_ctl(const char *const *args)
{
	const char *argv[16];
	struct capture c;
	size_t n = 0, i;

	argv[n++] = harness_build_path("relogctl");
	argv[n++] = "-s";
	argv[n++] = H.socket;
	for (i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	capture_run(argv, NULL, 0, &c, METRICS_TIMEOUT_MS);
	ck_assert_msg(c.status == 0, "relogctl %s: %d: %s", args[0], c.status,
	    c.err);
	free(c.err);
	return (c.out);
}

/*
 * A number in the flat JSON object that holds anchor (e.g.
 * "\"plugin\":\"mx\""): the value of key in it.
 */
static long long
metrics_json(const char *json, const char *anchor, const char *key)
{
	const char *at = strstr(json, anchor), *start, *end, *k;
	char pat[64];

	ck_assert_msg(at != NULL, "no %s in %s", anchor, json);
	for (start = at; start > json && *start != '{'; start--)
		;
	end = strchr(at, '}');
	snprintf(pat, sizeof pat, "\"%s\":", key);
	k = strstr(start, pat);
	ck_assert_msg(k != NULL && k < end, "no %s in the object of %s", key,
	    anchor);
	k += strlen(pat);
	if (strncmp(k, "true", 4) == 0 || strncmp(k, "false", 5) == 0)
		return (*k == 't');
	return (strtoll(k, NULL, 10));
}

/* The value of the sample "name{labels}" ("name" if labels is ""). */
static long long
metrics_sample(const char *text, const char *name, const char *labels)
{
	char head[512];
	const char *p = text;

	snprintf(head, sizeof head, "%s%s%s%s ", name, *labels ? "{" : "",
	    labels, *labels ? "}" : "");
	while (p != NULL && *p != '\0') {
		if (strncmp(p, head, strlen(head)) == 0)
			return (strtoll(p + strlen(head), NULL, 10));
		p = strchr(p, '\n');
		p = p != NULL ? p + 1 : NULL;
	}
	ck_abort_msg("no sample %s in:\n%s", head, text);
	return (-1);
}

/* Check a label set: name="value" pairs, values escaped as they must. */
static void
metrics_check_labels(const char *p, const char *line)
{
	while (*p != '}') {
		ck_assert_msg(*p >= 'a' && *p <= 'z', "bad label: %s", line);
		p += strspn(p, "abcdefghijklmnopqrstuvwxyz_");
		ck_assert_msg(p[0] == '=' && p[1] == '"', "bad label: %s",
		    line);
		for (p += 2; *p != '"'; p++) {
			ck_assert_msg(*p != '\n' && *p != '\0', "bad: %s",
			    line);
			if (*p == '\\') {
				ck_assert_msg(p[1] == '\\' || p[1] == '"' ||
				    p[1] == 'n', "bad escape: %s", line);
				p++;
			}
		}
		p++;
		if (*p == ',')
			p++;
	}
}

/*
 * Check the exposition format: each family's HELP then TYPE, once, before
 * its samples; counters named *_total; names relog_*; integer values.
 */
static void
metrics_check_format(const char *text)
{
	char family[128] = "", type[16] = "", name[128], *line, *copy, *save;
	const char *p;

	copy = strdup(text);
	ck_assert_ptr_nonnull(copy);
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0) {
			ck_assert_int_eq(sscanf(line + 7, "%127s", name), 1);
			ck_assert_msg(strcmp(name, family) != 0, "HELP twice");
			ck_assert_uint_eq(harness_count(text, line), 1);
			snprintf(family, sizeof family, "%s", name);
			type[0] = '\0';
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			ck_assert_int_eq(sscanf(line + 7, "%127s %15s", name,
			    type), 2);
			ck_assert_str_eq(name, family);
			ck_assert(strcmp(type, "counter") == 0 ||
			    strcmp(type, "gauge") == 0);
			continue;
		}
		p = line + strcspn(line, "{ ");
		snprintf(name, sizeof name, "%.*s", (int)(p - line), line);
		ck_assert_msg(strcmp(name, family) == 0 && type[0] != '\0',
		    "sample outside its family: %s", line);
		ck_assert_msg(strncmp(name, "relog_", 6) == 0, "%s", line);
		if (strcmp(type, "counter") == 0)
			ck_assert_msg(strlen(name) > 6 && strcmp(name +
			    strlen(name) - 6, "_total") == 0, "%s", line);
		if (*p == '{') {
			metrics_check_labels(p + 1, line);
			p = strchr(p, '}') + 1;
		}
		ck_assert_msg(*p == ' ' && strspn(p + 1, "0123456789") ==
		    strlen(p + 1), "bad value: %s", line);
	}
	free(copy);
}

/* Pack a stats payload by hand, as control.c does (some keys left out). */
static void
metrics_pack(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 5);
	proto_pack_key(pk, "version");
	proto_pack_key(pk, "9.9.9");
	proto_pack_key(pk, "uptime_s");
	msgpack_pack_int64(pk, 42);
	proto_pack_key(pk, "connections");
	msgpack_pack_array(pk, 2);
	msgpack_pack_map(pk, 0);
	msgpack_pack_map(pk, 0);
	proto_pack_key(pk, "plugins");
	msgpack_pack_array(pk, 1);
	/* An older relogd's plugin: no "filtered". */
	msgpack_pack_map(pk, 2);
	proto_pack_key(pk, "plugin");
	proto_pack_key(pk, "old");
	proto_pack_key(pk, "received");
	msgpack_pack_uint64(pk, 7);
	proto_pack_key(pk, "forward");
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 3);
	proto_pack_key(pk, "uri");
	proto_pack_key(pk, "fluent://a\"b\\c\nd\xff");
	proto_pack_key(pk, "state");
	proto_pack_key(pk, "connecting");
	proto_pack_key(pk, "connected");
	msgpack_pack_false(pk);
}

/* The format itself, from a payload packed here: escaping, lenience. */
START_TEST(test_metrics_format)
{
	static const char uri[] =
	    "uri=\"fluent://a\\\"b\\\\c\\nd\xef\xbf\xbd\"";
	struct proto_buf b = { NULL, 0, 0 };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char labels[128];

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	metrics_pack(&pk);
	ck_assert_int_eq(proto_metrics_format(&b, sb.data, sb.size), 0);
	proto_buf_add(&b, "", 1);
	metrics_check_format(b.data);
	ck_assert_int_eq(metrics_sample(b.data, "relog_info",
	    "version=\"9.9.9\""), 1);
	ck_assert_int_eq(metrics_sample(b.data, "relog_uptime_seconds", ""),
	    42);
	ck_assert_int_eq(metrics_sample(b.data, "relog_connections", ""), 2);
	ck_assert_int_eq(metrics_sample(b.data, "relog_plugin_received_total",
	    "plugin=\"old\""), 7);
	ck_assert_ptr_nonnull(strstr(b.data, "# TYPE "
	    "relog_plugin_filtered_total counter\n# HELP "));
	ck_assert_int_eq(metrics_sample(b.data, "relog_forward_connected",
	    uri), 0);
	snprintf(labels, sizeof labels, "%s,state=\"connecting\"", uri);
	ck_assert_int_eq(metrics_sample(b.data, "relog_forward_state",
	    labels), 1);
	snprintf(labels, sizeof labels, "%s,state=\"up\"", uri);
	ck_assert_int_eq(metrics_sample(b.data, "relog_forward_state",
	    labels), 0);
	ck_assert_ptr_null(strstr(b.data, "relog_forward_sent_total{"));
	/* Not a map: refused. */
	b.len = 0;
	ck_assert_int_eq(proto_metrics_format(&b, "\x91\x01", 2), -1);
	proto_buf_free(&b);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* Run relogctl send for plugin mx at a level. */
static void
metrics_send(const char *level, const char *msg)
{
	const char *args[] = { "send", "-p", "mx", "-l", level, msg, NULL };

	free(metrics_ctl(args));
}

/*
 * Compare a Prometheus text with stats --json: every counter of plugin mx
 * and of the forward sink (its records queued, in memory and on disk,
 * together: they move from one to the other).
 */
static void
metrics_compare(const char *prom, const char *json, const char *uri)
{
	static const char *const counters[][2] = {
		{ "received", "relog_plugin_received_total" },
		{ "written", "relog_plugin_written_total" },
		{ "filtered", "relog_plugin_filtered_total" },
		{ "suppressed", "relog_plugin_suppressed_total" },
		{ "dropped_by_runners",
		    "relog_plugin_dropped_by_runners_total" },
		{ "bytes", "relog_plugin_bytes_total" },
		{ "lost_bytes", "relog_plugin_lost_bytes_total" },
	};
	static const char *const sink[][2] = {
		{ "sent", "relog_forward_sent_total" },
		{ "acked", "relog_forward_acked_total" },
		{ "dropped", "relog_forward_dropped_total" },
		{ "disk_full", "relog_forward_disk_full" },
		{ "connected", "relog_forward_connected" },
	};
	static const char *const states[] = {
		"down", "connecting", "up", "closing", "stalled"
	};
	char label[256], anchor[256];
	long long on = 0;
	size_t i;

	metrics_check_format(prom);
	for (i = 0; i < sizeof counters / sizeof counters[0]; i++)
		ck_assert_int_eq(metrics_sample(prom, counters[i][1],
		    "plugin=\"mx\""), metrics_json(json, "\"plugin\":\"mx\"",
		    counters[i][0]));
	snprintf(anchor, sizeof anchor, "\"uri\":\"%s\"", uri);
	snprintf(label, sizeof label, "uri=\"%s\"", uri);
	for (i = 0; i < sizeof sink / sizeof sink[0]; i++)
		ck_assert_int_eq(metrics_sample(prom, sink[i][1], label),
		    metrics_json(json, anchor, sink[i][0]));
	snprintf(label, sizeof label, "uri=\"%s\",queue=\"memory\"", uri);
	on = metrics_sample(prom, "relog_forward_queued_records", label);
	snprintf(label, sizeof label, "uri=\"%s\",queue=\"disk\"", uri);
	on += metrics_sample(prom, "relog_forward_queued_records", label);
	ck_assert_int_eq(on, metrics_json(json, anchor, "queued_memory") +
	    metrics_json(json, anchor, "queued_disk"));
	for (on = 0, i = 0; i < sizeof states / sizeof states[0]; i++) {
		snprintf(label, sizeof label, "uri=\"%s\",state=\"%s\"", uri,
		    states[i]);
		on += metrics_sample(prom, "relog_forward_state", label);
	}
	ck_assert_int_eq(on, 1);
	ck_assert_int_eq(metrics_sample(prom, "relog_info",
	    "version=\"0.1.0\""), 1);
}

/*
 * relogd with metrics_listen and a plugin whose level holds INFO back:
 * filtered counted; stats -o prometheus and GET /metrics say what
 * stats --json says; anything but GET or HEAD /metrics is 404.
 */
START_TEST(test_metrics_scrape)
{
	static const char *const json_args[] = { "stats", "--json", NULL };
	static const char *const prom_args[] = {
		"stats", "-o", "prometheus", NULL
	};
	static const char *const text_args[] = { "stats", NULL };
	const char *dargs[] = { "--config", NULL, NULL };
	char conf[512], uri[64], want[128], *json, *prom, *http, *body, *text;
	int port = metrics_free_port(), down = metrics_free_port();

	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", down);
	snprintf(conf, sizeof conf, "[relogd]\nmetrics_listen = 127.0.0.1:%d\n"
	    "[plugin.mx]\nlevel = warning\nforward = %s\n", port, uri);
	dargs[1] = harness_config(&H, conf);
	harness_daemon_start(&H, dargs);
	metrics_send("info", "held back 1");
	metrics_send("debug", "held back 2");
	metrics_send("info", "held back 3");
	metrics_send("error", "written 1");
	metrics_send("warning", "written 2");

	json = metrics_ctl(json_args);
	ck_assert_int_eq(metrics_json(json, "\"plugin\":\"mx\"", "received"),
	    5);
	ck_assert_int_eq(metrics_json(json, "\"plugin\":\"mx\"", "written"),
	    2);
	ck_assert_int_eq(metrics_json(json, "\"plugin\":\"mx\"", "filtered"),
	    3);
	prom = metrics_ctl(prom_args);
	metrics_compare(prom, json, uri);
	ck_assert_int_ge(metrics_sample(prom, "relog_connections", ""), 1);
	http = metrics_http(port, "GET /metrics HTTP/1.0\r\n\r\n", &body);
	ck_assert_ptr_nonnull(strstr(http, " 200 OK\r\n"));
	ck_assert_ptr_nonnull(strstr(http, "Content-Type: text/plain; "
	    "version=0.0.4; charset=utf-8\r\n"));
	metrics_compare(body, json, uri);
	free(http);
	text = metrics_ctl(text_args);
	ck_assert_ptr_nonnull(strstr(text, "FILTERED"));
	/* RECEIVED WRITTEN DROPPED SUPPRESSED FILTERED */
	snprintf(want, sizeof want, "\n%-24s %10d %10d %10d %10d %10d ", "mx",
	    5, 2, 0, 0, 3);
	ck_assert_msg(strstr(text, want) != NULL, "%s", text);
	free(text);

	http = metrics_http(port, "GET /other HTTP/1.0\r\n\r\n", &body);
	ck_assert_ptr_nonnull(strstr(http, " 404 Not Found\r\n"));
	free(http);
	http = metrics_http(port, "POST /metrics HTTP/1.0\r\n"
	    "Content-Length: 2\r\n\r\nhi", &body);
	ck_assert_ptr_nonnull(strstr(http, " 404 Not Found\r\n"));
	free(http);
	http = metrics_http(port, "HEAD /metrics HTTP/1.0\r\n\r\n", &body);
	ck_assert_ptr_nonnull(strstr(http, " 200 OK\r\n"));
	ck_assert_str_eq(body, "");
	free(http);
	free(json);
	free(prom);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/* relogd --check-config with metrics_listen set to value: its status. */
static int
metrics_check_config(const char *value, char **err)
{
	const char *argv[] = { harness_build_path("relogd"), "--check-config",
	    "--config", NULL, NULL };
	struct capture c;
	char conf[256];

	snprintf(conf, sizeof conf, "[relogd]\nmetrics_listen = %s\n", value);
	argv[3] = harness_config(&H, conf);
	capture_run(argv, NULL, 0, &c, METRICS_TIMEOUT_MS);
	free(c.out);
	*err = c.err;
	return (c.status);
}

/*
 * A metrics_listen that is no address and port is refused at config
 * check, saying so; an address in use, at start, before relogd binds its
 * socket.
 */
START_TEST(test_metrics_bad_listen)
{
	static const char *const bad[] = {
		"localhost:9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536",
		"::1:9464", "[::1]", "127.0.0.1:94x", "",
	};
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const char *argv[] = { harness_build_path("relogd"), "--config", NULL,
	    "--socket", H.socket, "--log-dir", H.log_dir, "--state-dir",
	    H.state_dir, NULL };
	char conf[128], want[128], *err;
	struct capture c;
	socklen_t len = sizeof sin;
	size_t i;
	int fd;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_int_eq(metrics_check_config(bad[i], &err), 1);
		snprintf(want, sizeof want, "metrics_listen %s: not an IP "
		    "address and a port, e.g. 127.0.0.1:9464", bad[i]);
		ck_assert_msg(strstr(err, want) != NULL, "%s", err);
		free(err);
	}
	ck_assert_int_eq(metrics_check_config("[::1]:9464", &err), 0);
	free(err);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(conf, sizeof conf, "[relogd]\nmetrics_listen = "
	    "127.0.0.1:%d\n", ntohs(sin.sin_port));
	argv[2] = harness_config(&H, conf);
	capture_run(argv, NULL, 0, &c, METRICS_TIMEOUT_MS);
	ck_assert_int_eq(c.status, 1);
	snprintf(want, sizeof want, "metrics_listen 127.0.0.1:%d: cannot "
	    "listen: Address already in use", ntohs(sin.sin_port));
	ck_assert_msg(strstr(c.err, want) != NULL, "%s", c.err);
	/* Refused before relogd made its socket: nothing left behind. */
	ck_assert_int_ne(access(H.socket, F_OK), 0);
	capture_free(&c);
	close(fd);
}
END_TEST

Suite *
suite_metrics(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");

	tcase_add_checked_fixture(tc, metrics_setup, metrics_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_metrics_format);
	tcase_add_test(tc, test_metrics_scrape);
	tcase_add_test(tc, test_metrics_bad_listen);
	suite_add_tcase(s, tc);
	return (s);
}
