/*
 * A remote's connection to its collector: connecting (TCP, TLS, or a Unix
 * socket), sending batches from its queue as far as its protocol allows,
 * and, when the connection fails or breaks, backing off (0.1 s doubling,
 * with jitter, up to forward_retry_max) while records wait on disk. What
 * the bytes mean is the protocol's (struct remote_proto): this file calls
 * it only through the table.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "relogd.h"
#include "remote.h"

#define REMOTE_OUT_LOW (64u * 1024)	/* refill the socket below it */
#define REMOTE_RETRY_MIN_MS 100
/*
 * A connect not through in this long: the collector may be away (a host
 * that drops the SYN answers nothing until forward_timeout), and records
 * wait on disk from then on (remote_queue_away).
 */
#define REMOTE_CONNECT_SLOW_MS 1000
/*
 * A connection whose collector owes something (bytes it has not taken, an
 * ack, syslog's end-of-file) and took nothing for this long may have
 * stopped reading: records wait on disk until it takes some again
 * (remote_queue_away), as they would were it down, while the connection
 * is given until forward_timeout. Looked at every REMOTE_STALL_LOOK_MS
 * from when something is sent (the first look) until nothing is owed:
 * owing at REMOTE_STALL_LOOKS looks in a row, with nothing taken between.
 */
#define REMOTE_STALL_MS 1000
#define REMOTE_STALL_LOOK_MS 500
#define REMOTE_STALL_LOOKS (REMOTE_STALL_MS / REMOTE_STALL_LOOK_MS + 1)
/* For a connect, an ack, an end-of-file: forward_timeout seconds. */
#define REMOTE_TIMEOUT_S ((time_t)relogd_config.remote_timeout_s)

static struct evdns_base *remote_conn_dns;
static SSL_CTX *remote_conn_tls;
static struct proto_buf remote_conn_batch;	/* a batch being formatted */
int remote_conn_draining;		/* exiting: send nothing new */

static void remote_conn_connect(struct remote *);

/*
 * The TLS settings every TLS remote shares, made at the first connection
 * (again after a reload). NULL if they cannot be loaded (said in the log).
 */
static SSL_CTX *
remote_conn_tls_ctx(void)
{
	const struct config *c = &relogd_config;
	const char *what = "the system's CA certificates";
	unsigned long e;

	if (remote_conn_tls != NULL)
		return (remote_conn_tls);
	ERR_clear_error();
	if ((remote_conn_tls = SSL_CTX_new(TLS_client_method())) == NULL)
		fatalx("cannot set up TLS");
	SSL_CTX_set_min_proto_version(remote_conn_tls, TLS1_2_VERSION);
	SSL_CTX_set_verify(remote_conn_tls, SSL_VERIFY_PEER, NULL);
	if (c->remote_tls_ca != NULL)
		what = c->remote_tls_ca;
	if ((c->remote_tls_ca != NULL ? SSL_CTX_load_verify_locations(
	    remote_conn_tls, c->remote_tls_ca, NULL) :
	    SSL_CTX_set_default_verify_paths(remote_conn_tls)) != 1)
		goto fail;
	what = c->remote_tls_cert;
	if (c->remote_tls_cert != NULL && SSL_CTX_use_certificate_chain_file(
	    remote_conn_tls, c->remote_tls_cert) != 1)
		goto fail;
	if (c->remote_tls_key != NULL)
		what = c->remote_tls_key;
	if (c->remote_tls_cert != NULL && SSL_CTX_use_PrivateKey_file(
	    remote_conn_tls, what, SSL_FILETYPE_PEM) != 1)
		goto fail;
	return (remote_conn_tls);
fail:
	/* The first error is the cause; those after it wrap it. */
	e = ERR_peek_error();
	log_error("forward TLS: cannot load %s: %s", what,
	    ERR_SYSTEM_ERROR(e) ? strerror(ERR_GET_REASON(e)) :
	    ERR_reason_error_string(e) != NULL ? ERR_reason_error_string(e) :
	    "error");
	ERR_clear_error();
	SSL_CTX_free(remote_conn_tls);
	remote_conn_tls = NULL;
	return (NULL);
}

/* The TLS settings were reloaded: new connections load them again. */
void
remote_conn_reload_tls(void)
{
	if (remote_conn_tls != NULL)
		SSL_CTX_free(remote_conn_tls);
	remote_conn_tls = NULL;
}

/*
 * The remote's timer: time to retry (down), a connect that takes long
 * (connecting: the collector may be away), the protocol's (up, with
 * batches in flight), or no end-of-file in time (closing).
 */
static void
remote_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct remote *rm = arg;

	(void)fd;
	(void)what;
	switch (rm->state) {
	case REMOTE_DOWN:
		remote_conn_connect(rm);
		break;
	case REMOTE_CONNECTING:
		rm->connect_slow = 1;
		remote_queue_flush(rm);
		break;
	case REMOTE_UP:
		if (rm->nbatches != 0)
			rm->proto->timer(rm);
		break;
	case REMOTE_CLOSING:
		remote_conn_lost(rm, "no end-of-file in time "
		    "(forward_timeout)");
		break;
	}
}

/*
 * What the collector took, as a count that grows while it takes: over
 * TCP (TLS too), the bytes its TCP acknowledged, which are out of relogd
 * whatever becomes of it; over a Unix socket, the bytes our output handed
 * the kernel, which queues them on the collector's side. With *owes set
 * if the kernel still holds bytes for it.
 */
static uint64_t
remote_conn_taken(struct remote *rm, int *owes)
{
	int fd = bufferevent_getfd(rm->bev), queued = 0;
	struct tcp_info ti;
	socklen_t len = sizeof ti;

	if (ioctl(fd, SIOCOUTQ, &queued) == 0 && queued > 0)
		*owes = 1;
	if (rm->addr.path == NULL && getsockopt(fd, IPPROTO_TCP, TCP_INFO,
	    &ti, &len) == 0 && len >= offsetof(struct tcp_info,
	    tcpi_bytes_acked) + sizeof ti.tcpi_bytes_acked)
		return (ti.tcpi_bytes_acked);
	return (rm->out_taken);
}

/*
 * The records went to disk, or did not all (the file queue full): a
 * remote's budgets kept and its file queue written, a connection whose
 * batches in flight lost records on disk begun again, what waits sent.
 */
void
remote_conn_flush(struct remote *rm)
{
	remote_queue_flush(rm);
	/* In flight, but no longer (all) on disk: start over. */
	if (rm->resync && rm->state != REMOTE_DOWN) {
		log_warn("forward %s: records in flight were dropped from the "
		    "file queue; sending again from the oldest kept", rm->uri);
		remote_conn_close(rm);
	}
	remote_conn_start(rm);
}

/* Where records wait while the collector is away. */
static const char *
remote_conn_where(const struct remote *rm)
{
	return (spool_refused(&rm->spool) ?
	    "in memory (the disk refuses them)" : "on disk");
}

/*
 * Does the collector owe something: bytes it has not taken (in our output
 * or the kernel's), Fluent's acks, syslog's end-of-file? With, in
 * *progress, what it took so far (acks too).
 */
static int
remote_conn_owes(struct remote *rm, uint64_t *progress)
{
	int owes;

	owes = evbuffer_get_length(bufferevent_get_output(rm->bev)) != 0 ||
	    rm->state == REMOTE_CLOSING || (rm->proto->acks &&
	    rm->nbatches != 0);
	*progress = remote_conn_taken(rm, &owes) + rm->acked;
	return (owes);
}

/*
 * Something was sent, or the connection is closing: the collector owes
 * it, and this is the first look, unless the looks go on already.
 */
static void
remote_conn_watch(struct remote *rm)
{
	struct timeval look = { 0, REMOTE_STALL_LOOK_MS * 1000 };

	if (evtimer_pending(rm->stall_ev, NULL))
		return;
	rm->stall_looks = remote_conn_owes(rm, &rm->progress_seen);
	if (rm->stall_looks)
		evtimer_add(rm->stall_ev, &look);
}

/*
 * Connected and owed: does the collector take anything? Owing at
 * REMOTE_STALL_LOOKS looks in a row and taking nothing between them, it is
 * stalled: the records in memory go to disk, and new ones follow them
 * there, until it takes bytes or acks again. Owed nothing, it is not
 * looked at until something is sent.
 */
static void
remote_conn_stall_cb(evutil_socket_t fd, short what, void *arg)
{
	struct remote *rm = arg;
	uint64_t progress;
	int owes;

	(void)fd;
	(void)what;
	owes = remote_conn_owes(rm, &progress);
	if (progress != rm->progress_seen || !owes) {
		rm->progress_seen = progress;
		rm->stall_looks = owes;
		if (rm->stalled)
			log_info("forward %s: the collector takes records "
			    "again", rm->uri);
		rm->stalled = 0;
		if (!owes)
			evtimer_del(rm->stall_ev);
		return;
	}
	if (++rm->stall_looks < REMOTE_STALL_LOOKS || rm->stalled)
		return;
	rm->stalled = 1;
	remote_conn_flush(rm);
	log_info("forward %s: the collector took nothing for %d ms; records "
	    "wait %s until it does", rm->uri, REMOTE_STALL_MS,
	    remote_conn_where(rm));
}

/* Bytes left our output for the collector: counted, as its progress. */
static void
remote_conn_out_cb(struct evbuffer *out, const struct evbuffer_cb_info *info,
    void *arg)
{
	(void)out;
	((struct remote *)arg)->out_taken += info->n_deleted;
}

/* Set up a remote's timers (once, when it is made). */
void
remote_conn_init(struct remote *rm)
{
	rm->timer = evtimer_new(relogd_base, remote_conn_timer_cb, rm);
	rm->stall_ev = event_new(relogd_base, -1, EV_PERSIST,
	    remote_conn_stall_cb, rm);
	if (rm->timer == NULL || rm->stall_ev == NULL)
		fatalx("cannot create a timer");
}

/* Close the connection; what was sent and not acked is sent again. */
void
remote_conn_close(struct remote *rm)
{
	if (rm->bev != NULL) {
		evbuffer_remove_cb(bufferevent_get_output(rm->bev),
		    remote_conn_out_cb, rm);
		bufferevent_free(rm->bev);
	}
	rm->bev = NULL;
	rm->since_close = 0;
	remote_queue_rewind(rm);
	rm->proto->reset(rm);
	rm->state = REMOTE_DOWN;
	rm->half_closed = 0;
	rm->resync = 0;
	if (rm->stalled)
		log_info("forward %s: the stalled connection ended", rm->uri);
	rm->stalled = 0;
	evtimer_del(rm->timer);
	event_del(rm->stall_ev);
}

/*
 * The connection failed or broke. Retry with exponential backoff (with
 * jitter, capped), keeping records on disk meanwhile. Records it carried
 * and the collector did not ack go again: said each time, even while the
 * remote is known down, since the collector may get them twice.
 */
void
remote_conn_lost(struct remote *rm, const char *why)
{
	uint64_t delay, cap = relogd_config.remote_retry_max_s * 1000;
	uint64_t in_flight = 0;
	char again[80] = "";
	struct timeval tv;
	size_t i;

	for (i = 0; i < rm->nbatches; i++)
		in_flight += rm->batches[i].records;
	remote_conn_close(rm);
	if (!remote_queue_pending(rm)) {
		/* Nothing owed: connect again when records come. */
		rm->failures = 0;
		log_debug("forward %s: closed (%s)", rm->uri, why);
		return;
	}
	delay = (uint64_t)REMOTE_RETRY_MIN_MS << (rm->failures < 20 ?
	    rm->failures : 20);
	if (delay > cap)
		delay = cap;
	delay = delay / 2 + (uint64_t)random() % (delay / 2 + 1);
	rm->failures++;
	/* Away now: records go to disk, what it does not take said now. */
	remote_queue_flush(rm);
	if (in_flight != 0)
		snprintf(again, sizeof again, "; %" PRIu64 " records sent and "
		    "not acked go again", in_flight);
	if (!rm->said_down)
		log_warn("forward %s: %s%s; records wait %s, retrying",
		    rm->uri, why, again, remote_conn_where(rm));
	else if (in_flight != 0)
		log_info("forward %s: %s%s", rm->uri, why, again);
	else
		log_debug("forward %s: %s; retrying in %" PRIu64 " ms",
		    rm->uri, why, delay);
	rm->said_down = 1;
	tv.tv_sec = (time_t)(delay / 1000);
	tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
	evtimer_add(rm->timer, &tv);
}

/*
 * Send what waits, as far as the protocol allows, then let it arm its
 * timers (an ack is due, an idle close).
 */
void
remote_conn_pump(struct remote *rm)
{
	struct remote_batch batch;
	struct evbuffer *out;
	int sent = 0;

	if (rm->state != REMOTE_UP || remote_conn_draining)
		return;
	out = bufferevent_get_output(rm->bev);
	while (evbuffer_get_length(out) < REMOTE_OUT_LOW &&
	    rm->proto->may_send(rm)) {
		if (!remote_queue_next(rm, &remote_conn_batch, &batch))
			break;
		rm->proto->send(rm, out, &remote_conn_batch, &batch);
		remote_queue_sent(rm, &batch);
		sent = 1;
	}
	if (sent)
		remote_conn_watch(rm);
	if (rm->nbatches != 0)
		rm->proto->sent(rm, sent);
}

/*
 * Closing: once all output is out, half-close: TLS's close_notify, then
 * the FIN. The collector answers either (rsyslogd answers close_notify,
 * often before the FIN reaches it: remote_conn_sent_all). A half-close
 * that fails (the connection was reset: a collector gone with bytes
 * unread) is none: the connection ends broken, or at forward_timeout.
 */
static void
remote_conn_half_close(struct remote *rm)
{
	if (evbuffer_get_length(bufferevent_get_output(rm->bev)) != 0 ||
	    rm->half_closed)
		return;
	if (rm->addr.tls)
		(void)SSL_shutdown(bufferevent_openssl_get_ssl(rm->bev));
	if (shutdown(bufferevent_getfd(rm->bev), SHUT_WR) == 0)
		rm->half_closed = 1;
}

/*
 * Stop sending; once all output is out, half-close, and wait for the
 * collector's end-of-file (syslog's ack) within forward_timeout.
 */
void
remote_conn_finish(struct remote *rm)
{
	struct timeval tv = { REMOTE_TIMEOUT_S, 0 };

	rm->state = REMOTE_CLOSING;
	evtimer_add(rm->timer, &tv);
	bufferevent_setwatermark(rm->bev, EV_WRITE, 0, 0);
	remote_conn_half_close(rm);
	remote_conn_watch(rm);
}

/* Answers came from the collector: the protocol reads them. */
static void
remote_conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct remote *rm = arg;

	rm->proto->read(rm, bufferevent_get_input(bev));
}

/* Output fell below the low mark: send more; or, closing, half-close. */
static void
remote_conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct remote *rm = arg;

	(void)bev;
	if (rm->state == REMOTE_CLOSING)
		remote_conn_half_close(rm);
	else
		remote_conn_pump(rm);
}

/*
 * Has the collector every byte sent? Our output is empty, and the kernel's
 * too (acknowledged by the peer's TCP, or read from a Unix socket).
 *
 * After a TCP half-close, SIOCOUTQ counts our FIN until the peer
 * acknowledges it: it is a sequence number, not a byte. Over TLS the
 * collector may close as soon as it reads our close_notify, which comes
 * before the FIN; its end-of-file then reaches us with every byte
 * acknowledged and the FIN on its way. That is all sent, not a broken
 * connection (which would send every record again). A FIN not sent yet
 * (SIOCOUTQNSD: a peer whose window is shut, reading nothing) is not;
 * nor is it over plain TCP, where a collector sees our end only once its
 * TCP has our FIN, so that a close answering it acknowledges the FIN.
 */
int
remote_conn_sent_all(struct remote *rm)
{
	int fd = bufferevent_getfd(rm->bev), queued = 0, unsent = 1;

	if (evbuffer_get_length(bufferevent_get_output(rm->bev)) != 0)
		return (0);
	/* Not known is not sent: the records go again, none is lost. */
	if (ioctl(fd, SIOCOUTQ, &queued) != 0)
		return (0);
	if (queued == 1 && rm->half_closed && rm->addr.tls &&
	    ioctl(fd, SIOCOUTQNSD, &unsent) == 0 && unsent == 0)
		queued = 0;
	return (queued == 0);
}

/* Why a connection failed, in words (OpenSSL's reason included). */
static void
remote_conn_why(struct remote *rm, short what, char *why, size_t size)
{
	unsigned long e;
	long vr;

	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, size, "no progress in %lld s",
		    (long long)REMOTE_TIMEOUT_S);
	else if (what & BEV_EVENT_EOF)
		snprintf(why, size, "the collector closed the connection");
	else if (bufferevent_socket_get_dns_error(rm->bev) != 0)
		snprintf(why, size, "cannot resolve %s: %s", rm->addr.host,
		    evutil_gai_strerror(bufferevent_socket_get_dns_error(
		    rm->bev)));
	else if (rm->addr.tls &&
	    (e = bufferevent_get_openssl_error(rm->bev)) != 0) {
		snprintf(why, size, "TLS: %s", ERR_reason_error_string(e) !=
		    NULL ? ERR_reason_error_string(e) : "error");
		/* A refused certificate says why: its issuer, host, dates. */
		vr = SSL_get_verify_result(bufferevent_openssl_get_ssl(rm->bev));
		if (vr != X509_V_OK)
			snprintf(why + strlen(why), size - strlen(why), " (%s)",
			    X509_verify_cert_error_string(vr));
	} else
		snprintf(why, size, "%s", evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
}

/*
 * Connected; or the connection ended: the protocol's ack (syslog's
 * end-of-file), else a failure.
 */
static void
remote_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct remote *rm = arg;
	char why[160];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		evtimer_del(rm->timer);
		rm->state = REMOTE_UP;
		rm->was_up = 1;
		rm->connect_slow = 0;
		log_debug("forward %s: connected", rm->uri);
		remote_conn_pump(rm);
		return;
	}
	if ((what & BEV_EVENT_EOF) && rm->proto->eof(rm)) {
		remote_conn_close(rm);
		if (remote_queue_pending(rm) && !remote_conn_draining)
			remote_conn_connect(rm);
		return;
	}
	remote_conn_why(rm, what, why, sizeof why);
	remote_conn_lost(rm, why);
}

/* A new TLS connection to the remote's host, checking its name or IP. */
static struct bufferevent *
remote_conn_tls_new(struct remote *rm, SSL_CTX *ctx)
{
	struct bufferevent *bev;
	unsigned char ip[sizeof(struct in6_addr)];
	SSL *ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		fatalx("SSL_new");
	SSL_set_tlsext_host_name(ssl, rm->addr.host);
	if (inet_pton(AF_INET, rm->addr.host, ip) == 1 ||
	    inet_pton(AF_INET6, rm->addr.host, ip) == 1)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    rm->addr.host);
	else
		SSL_set1_host(ssl, rm->addr.host);
	bev = bufferevent_openssl_socket_new(relogd_base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS);
	if (bev != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return (bev);
}

/* Connect, to send what waits. */
static void
remote_conn_connect(struct remote *rm)
{
	struct timeval tv = { REMOTE_TIMEOUT_S, 0 };
	struct timeval slow = { REMOTE_CONNECT_SLOW_MS / 1000,
	    REMOTE_CONNECT_SLOW_MS % 1000 * 1000 };
	struct sockaddr_un sun;
	SSL_CTX *ctx = NULL;
	int ret;

	if (rm->state != REMOTE_DOWN || remote_conn_draining)
		return;
	if (rm->addr.tls && (ctx = remote_conn_tls_ctx()) == NULL) {
		remote_conn_lost(rm, "TLS settings cannot be loaded");
		return;
	}
	rm->bev = ctx != NULL ? remote_conn_tls_new(rm, ctx) :
	    bufferevent_socket_new(relogd_base, -1, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS);
	if (rm->bev == NULL)
		fatalx("cannot create a connection");
	bufferevent_setcb(rm->bev, remote_conn_read_cb, remote_conn_write_cb,
	    remote_conn_event_cb, rm);
	if (evbuffer_add_cb(bufferevent_get_output(rm->bev),
	    remote_conn_out_cb, rm) == NULL)
		fatalx("cannot watch a connection's output");
	bufferevent_setwatermark(rm->bev, EV_WRITE, REMOTE_OUT_LOW, 0);
	/* Connecting, and writing: no progress in the timeout is a failure. */
	bufferevent_set_timeouts(rm->bev, NULL, &tv);
	bufferevent_enable(rm->bev, EV_READ | EV_WRITE);
	rm->state = REMOTE_CONNECTING;
	rm->connect_slow = 0;
	evtimer_add(rm->timer, &slow);
	/*
	 * Later failures come to remote_conn_event_cb (deferred); one at
	 * once (no such socket file, say) is returned here.
	 */
	if (rm->addr.path != NULL) {
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, rm->addr.path, strlen(rm->addr.path));
		ret = bufferevent_socket_connect(rm->bev,
		    (struct sockaddr *)&sun, sizeof sun);
	} else {
		if (remote_conn_dns == NULL)
			remote_conn_dns = evdns_base_new(relogd_base,
			    EVDNS_BASE_INITIALIZE_NAMESERVERS |
			    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		ret = bufferevent_socket_connect_hostname(rm->bev,
		    remote_conn_dns, AF_UNSPEC, rm->addr.host,
		    atoi(rm->addr.port));
	}
	if (ret != 0)
		remote_conn_lost(rm, strerror(errno));
}

/* Connect now, unless connected or waiting to retry; else send. */
void
remote_conn_start(struct remote *rm)
{
	if (rm->state == REMOTE_DOWN && !evtimer_pending(rm->timer, NULL))
		remote_conn_connect(rm);
	else
		remote_conn_pump(rm);
}

/*
 * At exit, after the remotes were freed: run what is ready (the loop goes
 * on until nothing is), since a connection freed while one of its deferred
 * callbacks waits to run stays referenced until that callback runs, and
 * would outlive the event base with its TLS session; then free the DNS
 * and TLS settings.
 */
void
remote_conn_free_all(void)
{
	event_base_loop(relogd_base, EVLOOP_NONBLOCK);
	if (remote_conn_dns != NULL)
		evdns_base_free(remote_conn_dns, 0);
	remote_conn_dns = NULL;
	remote_conn_reload_tls();
	proto_buf_free(&remote_conn_batch);
}
