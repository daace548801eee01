/*
 * Prometheus metrics over HTTP (libevent's evhttp), with metrics_listen
 * set: GET /metrics answers relogd.stats, packed by control.c as for
 * relogctl, in Prometheus's text format (proto-metrics.c, which relogctl
 * stats -o prometheus uses too); anything else is 404.
 *
 * It never holds relogd up: a scrape is formatted at once from the
 * counters into one buffer (the response, the only allocation: the stats
 * are packed into a buffer kept from one scrape to the next), and sent
 * without blocking. Responses not yet sent hold at most
 * METRICS_INFLIGHT_MAX bytes, then scrapes get 503; a client gets
 * METRICS_TIMEOUT_S to send its request and read the answer; when accept
 * runs out of file descriptors it pauses instead of spinning.
 */
#include <netinet/in.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/http.h>
#include <event2/listener.h>

#include "relogd.h"

#define METRICS_TIMEOUT_S 10
#define METRICS_INFLIGHT_MAX (16u * 1024 * 1024)
#define METRICS_HEADERS_MAX 8192
#define METRICS_BODY_MAX 4096
#define METRICS_BACKLOG 64
#define METRICS_PAUSE_MS 1000	/* accept failed: try again after this */

static struct evhttp *metrics_http;
static struct evconnlistener *metrics_listener;
static struct event *metrics_resume;
static msgpack_sbuffer metrics_stats;	/* relogd.stats, packed */
static size_t metrics_inflight;		/* bytes of responses not sent */

/* evbuffer's cleanup of a response: sent, or its connection gone. */
static void
metrics_release(const void *data, size_t len, void *arg)
{
	(void)arg;
	metrics_inflight -= len;
	free((void *)data);
}

/* GET /metrics: relogd.stats as Prometheus text; anything else: 404. */
static void
metrics_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct proto_buf text = { NULL, 0, 0 };
	msgpack_packer pk;

	(void)arg;
	if ((cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) ||
	    path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	/* evhttp would send a body to HEAD too: give it none. */
	if (cmd == EVHTTP_REQ_HEAD) {
		evhttp_send_reply(req, HTTP_OK, "OK", NULL);
		return;
	}
	if (metrics_inflight >= METRICS_INFLIGHT_MAX) {
		evhttp_send_error(req, HTTP_SERVUNAVAIL, "Scrapes Pending");
		return;
	}
	metrics_stats.size = 0;
	msgpack_packer_init(&pk, &metrics_stats, msgpack_sbuffer_write);
	control_stats_pack(&pk);
	if (proto_metrics_format(&text, metrics_stats.data,
	    metrics_stats.size) != 0)
		fatalx("metrics: relogd.stats is not a map");
	metrics_inflight += text.len;
	if (evbuffer_add_reference(evhttp_request_get_output_buffer(req),
	    text.data, text.len, metrics_release, NULL) != 0) {
		metrics_release(text.data, text.len, NULL);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

/* The pause after a failed accept is over: accept again. */
static void
metrics_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	evconnlistener_enable(metrics_listener);
}

/*
 * accept failed (out of file descriptors): pause the listener rather than
 * wake up for it again at once, as tmux does.
 */
static void
metrics_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct timeval tv = { METRICS_PAUSE_MS / 1000,
	    (METRICS_PAUSE_MS % 1000) * 1000 };

	(void)arg;
	log_warn("metrics: accept: %s; pausing for %d ms",
	    strerror(EVUTIL_SOCKET_ERROR()), METRICS_PAUSE_MS);
	evconnlistener_disable(l);
	evtimer_add(metrics_resume, &tv);
}

/* A listening socket on exactly the address of metrics_listen, or fatal. */
static int
metrics_socket(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char *cause;
	int fd, one = 1;

	if (config_listen_addr(addr, &ss, &len, &cause) != 0)
		fatalx("%s", cause);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		fatal("metrics_listen %s: socket", addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* [::]:PORT means IPv6 only: bind only what the config says. */
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
	    listen(fd, METRICS_BACKLOG) != 0)
		fatal("metrics_listen %s: cannot listen", addr);
	return (fd);
}

/* Listen on metrics_listen, if it is set. Failing to is fatal. */
void
metrics_start(void)
{
	const char *addr = relogd_config.metrics_listen;
	struct evhttp_bound_socket *bound;
	int fd;

	if (addr == NULL)
		return;
	fd = metrics_socket(addr);
	if ((metrics_http = evhttp_new(relogd_base)) == NULL ||
	    (metrics_resume = evtimer_new(relogd_base, metrics_resume_cb,
	    NULL)) == NULL)
		fatalx("metrics: out of memory");
	evhttp_set_timeout(metrics_http, METRICS_TIMEOUT_S);
	evhttp_set_max_headers_size(metrics_http, METRICS_HEADERS_MAX);
	evhttp_set_max_body_size(metrics_http, METRICS_BODY_MAX);
	/* Every method reaches metrics_request_cb, which says 404. */
	evhttp_set_allowed_methods(metrics_http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(metrics_http, metrics_request_cb, NULL);
	if ((bound = evhttp_accept_socket_with_handle(metrics_http,
	    fd)) == NULL)
		fatalx("metrics_listen %s: cannot accept", addr);
	metrics_listener = evhttp_bound_socket_get_listener(bound);
	evconnlistener_set_error_cb(metrics_listener, metrics_accept_error_cb);
	log_info("metrics on http://%s/metrics", addr);
}

/* Stop serving metrics (at exit): the socket and connections close. */
void
metrics_stop(void)
{
	if (metrics_http == NULL)
		return;
	evhttp_free(metrics_http);
	metrics_http = NULL;
	metrics_listener = NULL;
	event_free(metrics_resume);
	metrics_resume = NULL;
	msgpack_sbuffer_destroy(&metrics_stats);
	memset(&metrics_stats, 0, sizeof metrics_stats);
}
