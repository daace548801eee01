/*
 * Forward sinks: records sent on to a log collector the operators already
 * run, as RFC 5424 syslog over TCP (RFC 6587 octet counting, optionally
 * TLS) or as Fluent Forward PackedForward batches, without losing them when
 * the collector is down or slow.
 *
 * A record is copied into the sink's queue in memory and the runner is
 * answered; the collector never slows the runners. Past the memory budget,
 * or while the collector cannot be reached, the queue goes to its file queue
 * (spool.c), which is replayed in order and survives a restart. Records
 * leave the queue once the collector has them:
 *  - Fluent: when it answers the batch's chunk id ({"ack": id});
 *  - syslog, which has no answers: when the collector, after every byte of
 *    a connection was sent and the connection half-closed, closes its side
 *    too. A peer that closes after reading end-of-file has read every byte
 *    before it. A connection is closed so after 1 MiB, or 1 s without new
 *    records; if it breaks instead, what it carried is sent again.
 * Either way a record may be delivered twice, never lost, unless the disk
 * budget overflows: then the oldest are dropped, counted, and a record says
 * so.
 */
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "relogd.h"

#define REMOTE_OUT_LOW (64u * 1024)	/* refill the socket below it */
#define REMOTE_BATCH_RECORDS 1000
#define REMOTE_BATCH_BYTES (256u * 1024)
#define REMOTE_FLUENT_WINDOW 128	/* chunks not acked yet */
#define REMOTE_SYSLOG_CLOSE_BYTES (1024u * 1024)
#define REMOTE_SYSLOG_IDLE_MS 1000
/* For a connect, an ack, an end-of-file: forward_timeout seconds. */
#define REMOTE_TIMEOUT_S ((time_t)relogd_config.forward_timeout_s)
#define REMOTE_RETRY_MIN_MS 100
#define REMOTE_ANSWER_MAX (64u * 1024)	/* one of Fluent's answers */
#define REMOTE_SYSLOG_FACILITY 1	/* user */
#define REMOTE_DRAIN_MS 2000		/* at exit, for acks */

static struct remote *remote_list;
static struct evdns_base *remote_dns;
static SSL_CTX *remote_tls;
static char remote_host[256];		/* HOSTNAME, for syslog */
static char remote_chunk_prefix[24];	/* this process's chunk ids */
static struct outbuf remote_buf;	/* a batch being formatted */
static int remote_draining;		/* exiting: send nothing new */

/* A queued record, its texts borrowed from the queue. */
struct remote_view {
	struct remote_rec h;
	struct proto_str plugin, logger, message, exception;
	size_t len;		/* in the queue, its length field included */
};

static struct remote *remote_get(const char *);
static void remote_connect(struct remote *);
static void remote_pump(struct remote *);
static void remote_write_cb(struct bufferevent *, void *);
static void remote_syslog_close(struct remote *);
static void remote_say_cb(evutil_socket_t, short, void *);
static void remote_lost(struct remote *, const char *);

/*
 * Parse a forward URI into rm's kind, tls, host, port and path:
 *   syslog://HOST[:PORT]   syslog+tls://HOST[:PORT]   syslog+unix:/PATH
 *   fluent://HOST[:PORT]   fluent+tls://HOST[:PORT]   fluent+unix:/PATH
 * HOST may be [IPv6]. Returns 0, or -1 with an allocated *cause.
 */
static int
remote_parse(const char *uri, struct remote *rm, char **cause)
{
	static const struct {
		const char *scheme;
		enum remote_kind kind;
		int tls, unix_path;
		const char *port;
	} schemes[] = {
		{ "syslog://", REMOTE_SYSLOG, 0, 0, "514" },
		{ "syslog+tls://", REMOTE_SYSLOG, 1, 0, "6514" },
		{ "syslog+unix:", REMOTE_SYSLOG, 0, 1, NULL },
		{ "fluent://", REMOTE_FLUENT, 0, 0, "24224" },
		{ "fluent+tls://", REMOTE_FLUENT, 1, 0, "24224" },
		{ "fluent+unix:", REMOTE_FLUENT, 0, 1, NULL },
	};
	const char *rest = NULL, *colon, *end;
	unsigned long port;
	size_t i, hlen;
	char *e;

	memset(rm, 0, sizeof *rm);
	for (i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		if (strncmp(uri, schemes[i].scheme,
		    strlen(schemes[i].scheme)) == 0) {
			rest = uri + strlen(schemes[i].scheme);
			break;
		}
	}
	if (rest == NULL)
		goto bad;
	rm->kind = schemes[i].kind;
	rm->tls = schemes[i].tls;
	if (schemes[i].unix_path) {
		if (rest[0] != '/' || strlen(rest) >=
		    sizeof ((struct sockaddr_un *)NULL)->sun_path)
			goto bad;
		if ((rm->path = strdup(rest)) == NULL)
			fatal("strdup");
		return (0);
	}
	if (rest[0] == '[') {
		if ((end = strchr(rest, ']')) == NULL)
			goto bad;
		rest++;
		hlen = (size_t)(end - rest);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			goto bad;
	} else {
		colon = strrchr(rest, ':');
		hlen = colon != NULL ? (size_t)(colon - rest) : strlen(rest);
	}
	if (hlen == 0 || hlen > 253 || strcspn(rest, "/?#@ ") < hlen)
		goto bad;
	if (colon != NULL) {
		errno = 0;
		port = strtoul(colon + 1, &e, 10);
		if (colon[1] == '\0' || *e != '\0' || errno != 0 || port == 0 ||
		    port > 65535)
			goto bad;
	}
	rm->host = strndup(rest, hlen);
	rm->port = strdup(colon != NULL ? colon + 1 : schemes[i].port);
	if (rm->host == NULL || rm->port == NULL)
		fatal("strdup");
	return (0);
bad:
	if (asprintf(cause, "forward: bad URI \"%s\" (syslog://HOST:PORT, "
	    "syslog+tls://, fluent://, fluent+tls://, or syslog+unix:/PATH, "
	    "fluent+unix:/PATH)", uri) < 0)
		*cause = NULL;
	return (-1);
}

/* Free what remote_parse allocated. */
static void
remote_parse_free(struct remote *rm)
{
	free(rm->host);
	free(rm->port);
	free(rm->path);
}

/*
 * Call fn for each URI of a forward list (separated by commas or spaces;
 * "none" is none). Stops at fn's first non-zero, which it returns.
 */
static int
remote_list_foreach(const char *list, int (*fn)(const char *, void *),
    void *arg)
{
	char uri[RELOGD_FORWARD_LIST_MAX];
	const char *p = list;
	size_t n;
	int ret;

	for (;;) {
		p += strspn(p, ", \t");
		if (*p == '\0')
			return (0);
		n = strcspn(p, ", \t");
		if (n >= sizeof uri)
			n = sizeof uri - 1;
		memcpy(uri, p, n);
		uri[n] = '\0';
		p += n;
		if (strcmp(uri, "none") != 0 && (ret = fn(uri, arg)) != 0)
			return (ret);
	}
}

/* What checking a list carries. */
struct remote_check {
	char **cause;
	size_t n;
};

static int
remote_check_one(const char *uri, void *arg)
{
	struct remote_check *check = arg;
	struct remote rm;

	if (remote_parse(uri, &rm, check->cause) != 0)
		return (-1);
	remote_parse_free(&rm);
	if (++check->n > RELOGD_FORWARD_MAX) {
		if (asprintf(check->cause, "forward: at most %d sinks",
		    RELOGD_FORWARD_MAX) < 0)
			*check->cause = NULL;
		return (-1);
	}
	return (0);
}

/* Is a forward list well formed? Returns 0, or -1 with *cause. */
int
remote_list_check(const char *list, char **cause)
{
	struct remote_check check = { cause, 0 };

	return (remote_list_foreach(list, remote_check_one, &check));
}

/* What resolving a list carries. */
struct remote_resolving {
	struct remote **out;
	size_t n;
	int at_start;		/* a sink that cannot start is fatal */
};

static int
remote_resolve_one(const char *uri, void *arg)
{
	struct remote_resolving *r = arg;
	size_t i;

	if ((r->out[r->n] = remote_get(uri)) == NULL) {
		if (r->at_start)
			fatalx("forward %s: cannot start", uri);
		return (0);
	}
	for (i = 0; i < r->n; i++) {
		if (r->out[i] == r->out[r->n])
			return (0);	/* named twice */
	}
	r->n++;
	return (r->n == RELOGD_FORWARD_MAX);
}

/*
 * The sinks of a (checked) forward list, into out (RELOGD_FORWARD_MAX of
 * them at most). Returns how many.
 */
static size_t
remote_resolve_list(const char *list, struct remote **out, int at_start)
{
	struct remote_resolving r = { out, 0, at_start };

	remote_list_foreach(list, remote_resolve_one, &r);
	return (r.n);
}

size_t
remote_resolve(const char *list, struct remote **out)
{
	return (remote_resolve_list(list, out, 0));
}

/* The file queue's folder: the URI made safe, and a hash of it. */
static void
remote_spool_dir(const char *uri, char *buf, size_t size)
{
	uint32_t hash = 2166136261u;
	char name[80];
	size_t i;

	for (i = 0; uri[i] != '\0'; i++)
		hash = (hash ^ (unsigned char)uri[i]) * 16777619u;
	for (i = 0; uri[i] != '\0' && i < sizeof name - 1; i++)
		name[i] = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
		    "VWXYZ0123456789.-", uri[i]) != NULL ? uri[i] : '_';
	name[i] = '\0';
	snprintf(buf, size, "%s/forward/%s-%08" PRIx32,
	    relogd_config.state_dir, name, hash);
}

/*
 * The TLS settings every TLS sink shares, made at the first connection
 * (again after a reload). NULL if they cannot be loaded (said in the log).
 */
static SSL_CTX *
remote_tls_ctx(void)
{
	const struct config *c = &relogd_config;
	const char *what = "the system's CA certificates";
	unsigned long e;

	if (remote_tls != NULL)
		return (remote_tls);
	ERR_clear_error();
	if ((remote_tls = SSL_CTX_new(TLS_client_method())) == NULL)
		fatalx("cannot set up TLS");
	SSL_CTX_set_min_proto_version(remote_tls, TLS1_2_VERSION);
	SSL_CTX_set_verify(remote_tls, SSL_VERIFY_PEER, NULL);
	if (c->forward_tls_ca != NULL)
		what = c->forward_tls_ca;
	if ((c->forward_tls_ca != NULL ? SSL_CTX_load_verify_locations(
	    remote_tls, c->forward_tls_ca, NULL) :
	    SSL_CTX_set_default_verify_paths(remote_tls)) != 1)
		goto fail;
	what = c->forward_tls_cert;
	if (c->forward_tls_cert != NULL && SSL_CTX_use_certificate_chain_file(
	    remote_tls, c->forward_tls_cert) != 1)
		goto fail;
	if (c->forward_tls_key != NULL)
		what = c->forward_tls_key;
	if (c->forward_tls_cert != NULL && SSL_CTX_use_PrivateKey_file(
	    remote_tls, what, SSL_FILETYPE_PEM) != 1)
		goto fail;
	return (remote_tls);
fail:
	/* The first error is the cause; those after it wrap it. */
	e = ERR_peek_error();
	log_error("forward TLS: cannot load %s: %s", what,
	    ERR_SYSTEM_ERROR(e) ? strerror(ERR_GET_REASON(e)) :
	    ERR_reason_error_string(e) != NULL ? ERR_reason_error_string(e) :
	    "error");
	ERR_clear_error();
	SSL_CTX_free(remote_tls);
	remote_tls = NULL;
	return (NULL);
}

static void
remote_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct remote *rm = arg;

	(void)fd;
	(void)what;
	switch (rm->state) {
	case REMOTE_DOWN:
		remote_connect(rm);
		break;
	case REMOTE_CONNECTING:
		break;
	case REMOTE_UP:
		if (rm->nbatches == 0)
			break;
		if (rm->kind == REMOTE_SYSLOG)
			remote_syslog_close(rm);  /* a second without records */
		else
			remote_lost(rm, "no ack in time (forward_timeout)");
		break;
	case REMOTE_CLOSING:
		remote_lost(rm, "no end-of-file in time (forward_timeout)");
		break;
	}
}

/* Free a sink (its file queue closed, its connection gone). */
static void
remote_free(struct remote *rm)
{
	event_free(rm->timer);
	event_free(rm->say_timer);
	if (rm->acks != NULL)
		msgpack_unpacker_free(rm->acks);
	outbuf_free(&rm->mem);
	free(rm->batches);
	free(rm->uri);
	remote_parse_free(rm);
	free(rm);
}

/*
 * The forward sink for a URI (valid: remote_list_check said so), created
 * on first use with its file queue, whose records it sends at once. NULL
 * if its file queue cannot be opened (said in the log).
 */
static struct remote *
remote_get(const char *uri)
{
	char dir[PATH_MAX], path[PATH_MAX + 8];
	struct remote *rm;
	char *cause = NULL;
	FILE *f;

	for (rm = remote_list; rm != NULL; rm = rm->next) {
		if (strcmp(rm->uri, uri) == 0)
			return (rm);
	}
	if ((rm = calloc(1, sizeof *rm)) == NULL)
		fatal("calloc");
	if (remote_parse(uri, rm, &cause) != 0)
		fatalx("%s", cause);
	if ((rm->uri = strdup(uri)) == NULL)
		fatal("strdup");
	rm->timer = evtimer_new(relogd_base, remote_timer_cb, rm);
	rm->say_timer = evtimer_new(relogd_base, remote_say_cb, rm);
	if (rm->timer == NULL || rm->say_timer == NULL)
		fatalx("cannot create a timer");
	if (rm->kind == REMOTE_FLUENT &&
	    (rm->acks = msgpack_unpacker_new(1024)) == NULL)
		fatal("msgpack_unpacker_new");

	snprintf(dir, sizeof dir, "%s/forward", relogd_config.state_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_error("cannot create %s: %s", dir, strerror(errno));
		goto fail;
	}
	remote_spool_dir(uri, dir, sizeof dir);
	if (spool_open(&rm->spool, dir, relogd_config.forward_disk) != 0)
		goto fail;
	/* Say whose queue it is, for a restart with other settings. */
	snprintf(path, sizeof path, "%s/uri", dir);
	if ((f = fopen(path, "we")) == NULL || fprintf(f, "%s\n", uri) < 0 ||
	    fclose(f) != 0) {
		log_error("cannot write %s: %s", path, strerror(errno));
		spool_close(&rm->spool);
		goto fail;
	}
	rm->next = remote_list;
	remote_list = rm;
	if (rm->spool.records != 0) {
		log_info("forward %s: %" PRIu64 " records queued on disk",
		    uri, rm->spool.records);
		remote_connect(rm);
	}
	return (rm);
fail:
	log_error("forward %s: not used", uri);
	remote_free(rm);
	return (NULL);
}

/*
 * At startup and after a reload: open the configured sinks, and every file
 * queue left with records by sinks no longer configured.
 */
void
remote_start_all(int at_start)
{
	const struct plugin_config *pc;
	char dir[PATH_MAX], path[PATH_MAX + 300], uri[RELOGD_FORWARD_LIST_MAX];
	struct dirent *de;
	DIR *d;
	FILE *f;

	struct remote *some[RELOGD_FORWARD_MAX];
	char *cause;

	/* TLS settings may have changed (connections keep theirs). */
	if (remote_tls != NULL)
		SSL_CTX_free(remote_tls);
	remote_tls = NULL;
	if (relogd_config.forward != NULL)
		remote_resolve_list(relogd_config.forward, some, at_start);
	for (pc = relogd_config.plugins; pc != NULL; pc = pc->next)
		remote_resolve_list(pc->set.forward, some, at_start);

	snprintf(dir, sizeof dir, "%s/forward", relogd_config.state_dir);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s/uri", dir, de->d_name);
		if ((f = fopen(path, "re")) == NULL)
			continue;
		if (fgets(uri, sizeof uri, f) != NULL) {
			uri[strcspn(uri, "\n")] = '\0';
			cause = NULL;
			if (remote_list_check(uri, &cause) == 0)
				remote_resolve(uri, some);
			free(cause);
		}
		fclose(f);
	}
	closedir(d);
}

/* Append a text, and " [truncated N bytes]" if some was cut. */
static size_t
remote_add_text(struct outbuf *b, struct proto_str s, size_t cut)
{
	char mark[48];
	int n = 0;

	outbuf_add(b, s.ptr, s.len);
	if (cut != 0) {
		n = snprintf(mark, sizeof mark, " [truncated %zu bytes]", cut);
		outbuf_add(b, mark, (size_t)n);
	}
	return (s.len + (size_t)n);
}

/*
 * Queue a record for a forward sink: plugin id, pid of the runner, and the
 * record as the plugin's file has it (logger name under its prefix, marks
 * where texts were cut).
 */
void
remote_enqueue(struct remote *rm, const char *plugin_id,
    const struct record *r, pid_t pid)
{
	const struct proto_entry *e = &r->e;
	struct outbuf *b = &rm->mem;
	struct remote_rec h;
	size_t start = b->len, hdr = 4 + sizeof h;
	uint32_t len;

	memset(&h, 0, sizeof h);
	h.timestamp_ms = e->timestamp_ms;
	h.level = e->level;
	h.pid = pid > 0 ? (uint32_t)pid : 0;
	h.plugin_len = (uint16_t)strlen(plugin_id);
	outbuf_grow(b, hdr);
	b->len += hdr;
	outbuf_add(b, plugin_id, h.plugin_len);
	outbuf_add(b, r->logger_prefix.ptr, r->logger_prefix.len);
	outbuf_add(b, e->logger_name.ptr, e->logger_name.len);
	if (r->name_cut != 0)
		outbuf_add(b, "...", 3);
	h.logger_len = (uint16_t)(b->len - start - hdr - h.plugin_len);
	h.message_len = (uint32_t)remote_add_text(b, e->message, r->msg_cut);
	h.exception_len = (uint32_t)remote_add_text(b, e->exception_text,
	    r->exc_cut);
	len = (uint32_t)(b->len - start - 4);
	memcpy(b->data + start, &len, 4);
	memcpy(b->data + start + 4, &h, sizeof h);
	rm->mem_records++;
	rm->dirty = 1;
}

/* Read a queued record; -1 if its lengths do not add up. */
static int
remote_view(const char *p, struct remote_view *v)
{
	uint32_t len;
	const char *s;

	memcpy(&len, p, 4);
	memcpy(&v->h, p + 4, sizeof v->h);
	v->len = (size_t)len + 4;
	if ((uint64_t)v->h.plugin_len + v->h.logger_len + v->h.message_len +
	    v->h.exception_len != len - sizeof v->h)
		return (-1);
	s = p + 4 + sizeof v->h;
	v->plugin = (struct proto_str){ s, v->h.plugin_len };
	s += v->h.plugin_len;
	v->logger = (struct proto_str){ s, v->h.logger_len };
	s += v->h.logger_len;
	v->message = (struct proto_str){ s, v->h.message_len };
	s += v->h.message_len;
	v->exception = (struct proto_str){ s, v->h.exception_len };
	return (0);
}

/* The length of the record in memory at stream offset at. */
static size_t
remote_mem_len(const struct remote *rm, uint64_t at)
{
	uint32_t len;

	memcpy(&len, rm->mem.data + (at - rm->mem_base), 4);
	return ((size_t)len + 4);
}

/* Count records given up on; a record and a log line say so, later. */
static void
remote_dropped(struct remote *rm, uint64_t n)
{
	rm->dropped += n;
	rm->dropped_unsaid += n;
	/* Batches in flight may have lost records: send again from disk. */
	if (n != 0 && rm->nbatches != 0)
		rm->resync = 1;
}

/*
 * Move the records in memory to the file queue, after the ones there: the
 * collector is down, or memory is full. Batches sent from memory are now
 * acked by where they end on disk.
 */
static void
remote_spill(struct remote *rm)
{
	uint64_t at = rm->mem_head, end = rm->mem_base + rm->mem.len, n = 0;
	int moved = 0;
	size_t i, len;

	for (i = 0; i < rm->nbatches; i++) {
		if (rm->batches[i].on_disk)
			continue;
		for (; at < rm->batches[i].mem_end; at += len) {
			len = remote_mem_len(rm, at);
			n += spool_append(&rm->spool, rm->mem.data +
			    (at - rm->mem_base), len);
		}
		rm->batches[i].on_disk = 1;
		rm->batches[i].end = spool_end(&rm->spool);
		moved = 1;
	}
	/* They were sent; the file queue had nothing unread before them. */
	if (moved)
		spool_skip_all(&rm->spool);
	for (; at < end; at += len) {
		len = remote_mem_len(rm, at);
		n += spool_append(&rm->spool, rm->mem.data + (at - rm->mem_base),
		    len);
	}
	rm->mem.len = 0;
	rm->mem_base = rm->mem_head = rm->mem_sent = end;
	rm->mem_records = 0;
	remote_dropped(rm, n);
}

/* A batch reached the collector: its records leave the queue. */
static void
remote_batch_done(struct remote *rm, const struct remote_batch *b)
{
	size_t used;

	rm->acked += b->records;
	if (b->on_disk) {
		spool_ack(&rm->spool, b->end, b->records);
		return;
	}
	rm->mem_head = b->mem_end;
	rm->mem_records -= b->records < rm->mem_records ? b->records :
	    rm->mem_records;
	/* Give back the room of what was acked, now and then. */
	used = (size_t)(rm->mem_head - rm->mem_base);
	if (used > rm->mem.len / 2) {
		memmove(rm->mem.data, rm->mem.data + used, rm->mem.len - used);
		rm->mem.len -= used;
		rm->mem_base = rm->mem_head;
	}
}

/* Settle the acked batches at the front. */
static void
remote_settle(struct remote *rm)
{
	size_t n = 0;

	struct timeval tv = { REMOTE_TIMEOUT_S, 0 };

	while (n < rm->nbatches && rm->batches[n].acked)
		remote_batch_done(rm, &rm->batches[n++]);
	if (n == 0)
		return;
	memmove(rm->batches, rm->batches + n,
	    (rm->nbatches - n) * sizeof *rm->batches);
	rm->nbatches -= n;
	/* The collector takes records: the backoff starts over. */
	if (rm->said_down)
		log_info("forward %s: delivering again", rm->uri);
	rm->said_down = 0;
	rm->failures = 0;
	/* Fluent: the next ack is due within the timeout. */
	if (rm->kind == REMOTE_FLUENT && rm->state == REMOTE_UP) {
		if (rm->nbatches != 0)
			evtimer_add(rm->timer, &tv);
		else
			evtimer_del(rm->timer);
	}
}

/* Has the sink records waiting? */
static int
remote_pending(const struct remote *rm)
{
	return (rm->mem_records != 0 || spool_pending(&rm->spool));
}

/* Close the connection; what was sent and not acked is sent again. */
static void
remote_disconnect(struct remote *rm)
{
	if (rm->bev != NULL)
		bufferevent_free(rm->bev);
	rm->bev = NULL;
	rm->nbatches = 0;
	rm->since_close = 0;
	spool_rewind(&rm->spool);
	rm->mem_sent = rm->mem_head;
	if (rm->acks != NULL)
		msgpack_unpacker_reset(rm->acks);
	rm->state = REMOTE_DOWN;
	rm->half_closed = 0;
	rm->resync = 0;
	evtimer_del(rm->timer);
}

/*
 * The connection failed or broke. Retry with exponential backoff (with
 * jitter, capped), keeping records on disk meanwhile.
 */
static void
remote_lost(struct remote *rm, const char *why)
{
	uint64_t delay, cap = relogd_config.forward_retry_max_s * 1000;
	struct timeval tv;

	remote_disconnect(rm);
	if (!remote_pending(rm)) {
		/* Nothing owed: connect again when records come. */
		rm->failures = 0;
		log_debug("forward %s: closed (%s)", rm->uri, why);
		return;
	}
	remote_spill(rm);
	spool_flush(&rm->spool);
	delay = (uint64_t)REMOTE_RETRY_MIN_MS << (rm->failures < 20 ?
	    rm->failures : 20);
	if (delay > cap)
		delay = cap;
	delay = delay / 2 + (uint64_t)random() % (delay / 2 + 1);
	rm->failures++;
	if (!rm->said_down)
		log_warn("forward %s: %s; records wait on disk, retrying",
		    rm->uri, why);
	else
		log_debug("forward %s: %s; retrying in %" PRIu64 " ms",
		    rm->uri, why, delay);
	rm->said_down = 1;
	tv.tv_sec = (time_t)(delay / 1000);
	tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
	evtimer_add(rm->timer, &tv);
}

/*
 * Close a syslog connection to learn that the collector read all it
 * carried: half-close once the output is written (remote_write_cb), and
 * wait for the collector's end-of-file (remote_event_cb).
 */
static void
remote_syslog_close(struct remote *rm)
{
	struct timeval tv = { REMOTE_TIMEOUT_S, 0 };

	rm->state = REMOTE_CLOSING;
	evtimer_add(rm->timer, &tv);
	bufferevent_setwatermark(rm->bev, EV_WRITE, 0, 0);
	remote_write_cb(rm->bev, rm);
}

/* A Fluent answer: {"ack": chunk id}. */
static void
remote_fluent_answer(struct remote *rm, const msgpack_object *o)
{
	const msgpack_object_kv *kv;
	char id[64];
	size_t i, j, plen = strlen(remote_chunk_prefix);
	uint32_t k;

	if (o->type != MSGPACK_OBJECT_MAP)
		return;
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR ||
		    !proto_str_eq((struct proto_str){ kv->key.via.str.ptr,
		    kv->key.via.str.size }, "ack") ||
		    kv->val.type != MSGPACK_OBJECT_STR ||
		    kv->val.via.str.size >= sizeof id)
			continue;
		memcpy(id, kv->val.via.str.ptr, kv->val.via.str.size);
		id[kv->val.via.str.size] = '\0';
		if (strncmp(id, remote_chunk_prefix, plen) != 0 ||
		    id[plen] == '\0' || strspn(id + plen, "0123456789") !=
		    strlen(id + plen) || strlen(id + plen) > 9)
			continue;
		k = (uint32_t)strtoul(id + plen, NULL, 10);
		for (j = 0; j < rm->nbatches; j++) {
			if (rm->batches[j].chunk == k)
				rm->batches[j].acked = 1;
		}
		return;
	}
}

static void
remote_read_cb(struct bufferevent *bev, void *arg)
{
	struct remote *rm = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	msgpack_unpacked res;
	size_t n;
	int ret = MSGPACK_UNPACK_CONTINUE;

	if (rm->kind == REMOTE_SYSLOG) {
		/* Collectors say nothing over syslog; ignore what they do. */
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	msgpack_unpacked_init(&res);
	while ((n = evbuffer_get_length(in)) != 0) {
		if (n > REMOTE_ANSWER_MAX)
			n = REMOTE_ANSWER_MAX;
		if (!msgpack_unpacker_reserve_buffer(rm->acks, n))
			fatal("msgpack_unpacker_reserve_buffer");
		evbuffer_remove(in, msgpack_unpacker_buffer(rm->acks), n);
		msgpack_unpacker_buffer_consumed(rm->acks, n);
		while ((ret = msgpack_unpacker_next(rm->acks, &res)) ==
		    MSGPACK_UNPACK_SUCCESS)
			remote_fluent_answer(rm, &res.data);
		if (ret != MSGPACK_UNPACK_CONTINUE ||
		    msgpack_unpacker_message_size(rm->acks) > REMOTE_ANSWER_MAX)
			break;
	}
	msgpack_unpacked_destroy(&res);
	if (ret != MSGPACK_UNPACK_CONTINUE && ret != MSGPACK_UNPACK_SUCCESS) {
		remote_lost(rm, "a bad answer");
		return;
	}
	if (msgpack_unpacker_message_size(rm->acks) > REMOTE_ANSWER_MAX) {
		remote_lost(rm, "an answer too long");
		return;
	}
	remote_settle(rm);
	remote_pump(rm);
}

/* Everything sent on a syslog connection is out: half-close it. */
static void
remote_write_cb(struct bufferevent *bev, void *arg)
{
	struct remote *rm = arg;

	if (rm->state == REMOTE_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) != 0 ||
		    rm->half_closed)
			return;
		/*
		 * TLS's close_notify is a courtesy (the collector may take a
		 * bare end-of-file); the TCP half-close is what it answers.
		 */
		if (rm->tls)
			SSL_shutdown(bufferevent_openssl_get_ssl(bev));
		shutdown(bufferevent_getfd(bev), SHUT_WR);
		rm->half_closed = 1;
		return;
	}
	remote_pump(rm);
}

/*
 * Has the collector every byte sent? Our output is empty, and the kernel's
 * too (acknowledged by the peer's TCP, or read from a Unix socket).
 */
static int
remote_sent_all(struct remote *rm)
{
	int queued = 0;

	if (evbuffer_get_length(bufferevent_get_output(rm->bev)) != 0)
		return (0);
	if (ioctl(bufferevent_getfd(rm->bev), SIOCOUTQ, &queued) != 0)
		queued = 0;
	return (queued == 0);
}

static void
remote_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct remote *rm = arg;
	char why[160];
	unsigned long e;
	long vr;
	size_t i;

	if (what & BEV_EVENT_CONNECTED) {
		rm->state = REMOTE_UP;
		log_debug("forward %s: connected", rm->uri);
		remote_pump(rm);
		return;
	}
	if ((what & BEV_EVENT_EOF) && rm->state == REMOTE_CLOSING &&
	    rm->half_closed && remote_sent_all(rm)) {
		/* It read all we sent. */
		for (i = 0; i < rm->nbatches; i++)
			rm->batches[i].acked = 1;
		remote_settle(rm);
		remote_disconnect(rm);
		if (remote_pending(rm) && !remote_draining)
			remote_connect(rm);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof why, "no progress in %lld s",
		    (long long)REMOTE_TIMEOUT_S);
	else if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof why, "the collector closed the "
		    "connection");
	else if (bufferevent_socket_get_dns_error(bev) != 0)
		snprintf(why, sizeof why, "cannot resolve %s: %s", rm->host,
		    evutil_gai_strerror(bufferevent_socket_get_dns_error(bev)));
	else if (rm->tls && (e = bufferevent_get_openssl_error(bev)) != 0) {
		snprintf(why, sizeof why, "TLS: %s",
		    ERR_reason_error_string(e) != NULL ?
		    ERR_reason_error_string(e) : "error");
		/* A refused certificate says why: its issuer, host, dates. */
		vr = SSL_get_verify_result(bufferevent_openssl_get_ssl(bev));
		if (vr != X509_V_OK)
			snprintf(why + strlen(why), sizeof why - strlen(why),
			    " (%s)", X509_verify_cert_error_string(vr));
	} else
		snprintf(why, sizeof why, "%s", evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
	remote_lost(rm, why);
}

/* Connect, to send what waits. */
static void
remote_connect(struct remote *rm)
{
	struct timeval tv = { REMOTE_TIMEOUT_S, 0 };
	struct sockaddr_un sun;
	SSL_CTX *ctx;
	SSL *ssl;
	int ret;

	if (rm->state != REMOTE_DOWN || remote_draining)
		return;
	if (rm->tls) {
		if ((ctx = remote_tls_ctx()) == NULL) {
			remote_lost(rm, "TLS settings cannot be loaded");
			return;
		}
		if ((ssl = SSL_new(ctx)) == NULL)
			fatalx("SSL_new");
		SSL_set_tlsext_host_name(ssl, rm->host);
		if (inet_pton(AF_INET, rm->host, &sun) == 1 ||
		    inet_pton(AF_INET6, rm->host, &sun) == 1)
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
			    rm->host);
		else
			SSL_set1_host(ssl, rm->host);
		rm->bev = bufferevent_openssl_socket_new(relogd_base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE |
		    BEV_OPT_DEFER_CALLBACKS);
		if (rm->bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(rm->bev, 1);
	} else
		rm->bev = bufferevent_socket_new(relogd_base, -1,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (rm->bev == NULL)
		fatalx("cannot create a connection");
	bufferevent_setcb(rm->bev, remote_read_cb, remote_write_cb,
	    remote_event_cb, rm);
	bufferevent_setwatermark(rm->bev, EV_WRITE, REMOTE_OUT_LOW, 0);
	/* Connecting, and writing: no progress in the timeout is a failure. */
	bufferevent_set_timeouts(rm->bev, NULL, &tv);
	bufferevent_enable(rm->bev, EV_READ | EV_WRITE);
	rm->state = REMOTE_CONNECTING;
	/*
	 * Later failures come to remote_event_cb (deferred); one at once
	 * (no such socket file, say) is returned here.
	 */
	if (rm->path != NULL) {
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, rm->path, strlen(rm->path));
		ret = bufferevent_socket_connect(rm->bev,
		    (struct sockaddr *)&sun, sizeof sun);
	} else {
		if (remote_dns == NULL)
			remote_dns = evdns_base_new(relogd_base,
			    EVDNS_BASE_INITIALIZE_NAMESERVERS |
			    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		ret = bufferevent_socket_connect_hostname(rm->bev, remote_dns,
		    AF_UNSPEC, rm->host, atoi(rm->port));
	}
	if (ret != 0)
		remote_lost(rm, strerror(errno));
}

/* Append a PRINTUSASCII field of RFC 5424 (others become '_'), or "-". */
static void
remote_syslog_field(struct outbuf *b, struct proto_str s, size_t max)
{
	size_t i, n = s.len < max ? s.len : max;
	char c;

	if (n == 0) {
		outbuf_add(b, "-", 1);
		return;
	}
	for (i = 0; i < n; i++) {
		c = s.ptr[i];
		outbuf_add(b, c > 32 && c < 127 ? &c : "_", 1);
	}
}

/* Append an SD-PARAM value: '"', '\\' and ']' escaped (RFC 5424 6.3.3). */
static void
remote_syslog_value(struct outbuf *b, struct proto_str s)
{
	size_t i, from = 0;

	for (i = 0; i < s.len; i++) {
		if (s.ptr[i] != '"' && s.ptr[i] != '\\' && s.ptr[i] != ']')
			continue;
		outbuf_add(b, s.ptr + from, i - from);
		outbuf_add(b, "\\", 1);
		from = i;
	}
	outbuf_add(b, s.ptr + from, s.len - from);
}

/*
 * One record as RFC 5424, octet-counted (RFC 6587 3.4.1):
 * LEN SP <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [relog@32473
 * plugin="" logger="" level=""] MSG, where MSG is the message and, on the
 * lines after it, the exception text.
 */
static void
remote_format_syslog(struct outbuf *b, const struct remote_view *v)
{
	static struct outbuf msg;
	struct outbuf *line = &msg;
	char num[32];
	int n;

	line->len = 0;
	n = snprintf(num, sizeof num, "<%d>1 ", REMOTE_SYSLOG_FACILITY * 8 +
	    sink_priority(v->h.level));
	outbuf_add(line, num, (size_t)n);
	sink_format_time(line, v->h.timestamp_ms);
	outbuf_add(line, " ", 1);
	outbuf_add(line, remote_host, strlen(remote_host));
	outbuf_add(line, " ", 1);
	remote_syslog_field(line, v->plugin, 48);
	if (v->h.pid != 0)
		n = snprintf(num, sizeof num, " %" PRIu32 " ", v->h.pid);
	else
		n = snprintf(num, sizeof num, " - ");
	outbuf_add(line, num, (size_t)n);
	remote_syslog_field(line, v->logger, 32);
	outbuf_add(line, " [relog@32473 plugin=\"", 22);
	remote_syslog_value(line, v->plugin);
	outbuf_add(line, "\" logger=\"", 10);
	remote_syslog_value(line, v->logger);
	outbuf_add(line, "\" level=\"", 9);
	sink_format_level(line, v->h.level);
	outbuf_add(line, "\"] ", 3);
	outbuf_add(line, v->message.ptr, v->message.len);
	if (v->exception.len != 0) {
		outbuf_add(line, "\n", 1);
		outbuf_add(line, v->exception.ptr, v->exception.len);
	}
	n = snprintf(num, sizeof num, "%zu ", line->len);
	outbuf_add(b, num, (size_t)n);
	outbuf_add(b, line->data, line->len);
}

static int
remote_outbuf_write(void *data, const char *buf, size_t len)
{
	outbuf_add(data, buf, len);
	return (0);
}

/*
 * One record as a Fluent entry: [EventTime, {message, level, levelno,
 * logger, plugin, pid, host, exception}], EventTime being ext type 0:
 * seconds and nanoseconds, both big-endian u32.
 */
static void
remote_format_fluent(struct outbuf *b, const struct remote_view *v)
{
	static struct outbuf level;
	msgpack_packer pk;
	int64_t ms = v->h.timestamp_ms < 0 ? 0 : v->h.timestamp_ms;
	uint32_t sec = htonl((uint32_t)(ms / 1000));
	uint32_t nsec = htonl((uint32_t)(ms % 1000) * 1000000u);
	char t[8];

	msgpack_packer_init(&pk, b, remote_outbuf_write);
	msgpack_pack_array(&pk, 2);
	memcpy(t, &sec, 4);
	memcpy(t + 4, &nsec, 4);
	msgpack_pack_ext(&pk, 8, 0);
	msgpack_pack_ext_body(&pk, t, 8);
	msgpack_pack_map(&pk, 6 + (v->h.pid != 0) + (v->exception.len != 0));
	proto_pack_key(&pk, "message");
	proto_pack_str(&pk, v->message);
	proto_pack_key(&pk, "level");
	level.len = 0;
	sink_format_level(&level, v->h.level);
	proto_pack_str(&pk, (struct proto_str){ level.data, level.len });
	proto_pack_key(&pk, "levelno");
	msgpack_pack_int64(&pk, v->h.level);
	proto_pack_key(&pk, "logger");
	proto_pack_str(&pk, v->logger);
	proto_pack_key(&pk, "plugin");
	proto_pack_str(&pk, v->plugin);
	proto_pack_key(&pk, "host");
	proto_pack_str(&pk, proto_cstr(remote_host));
	if (v->h.pid != 0) {
		proto_pack_key(&pk, "pid");
		msgpack_pack_uint32(&pk, v->h.pid);
	}
	if (v->exception.len != 0) {
		proto_pack_key(&pk, "exception");
		proto_pack_str(&pk, v->exception);
	}
}

static int
remote_evbuffer_write(void *data, const char *buf, size_t len)
{
	return (evbuffer_add(data, buf, len));
}

/*
 * Wrap a batch of Fluent entries (all of one plugin) as PackedForward:
 * ["plugin.<id>", entries as bin, {"chunk": id, "size": n}].
 */
static void
remote_send_fluent(struct evbuffer *out, struct proto_str plugin, uint32_t n,
    uint32_t chunk)
{
	msgpack_packer pk;
	char id[64];
	int len;

	msgpack_packer_init(&pk, out, remote_evbuffer_write);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_str(&pk, sizeof RELOG_PLUGIN_PREFIX - 1 + plugin.len);
	msgpack_pack_str_body(&pk, RELOG_PLUGIN_PREFIX,
	    sizeof RELOG_PLUGIN_PREFIX - 1);
	msgpack_pack_str_body(&pk, plugin.ptr, plugin.len);
	msgpack_pack_bin(&pk, remote_buf.len);
	msgpack_pack_bin_body(&pk, remote_buf.data, remote_buf.len);
	msgpack_pack_map(&pk, 2);
	proto_pack_key(&pk, "chunk");
	len = snprintf(id, sizeof id, "%s%" PRIu32, remote_chunk_prefix, chunk);
	proto_pack_str(&pk, (struct proto_str){ id, (size_t)len });
	proto_pack_key(&pk, "size");
	msgpack_pack_uint32(&pk, n);
}

/*
 * Send the next batch: from the file queue while it has records not sent,
 * then from memory. Returns 0 when there is nothing to send.
 */
static int
remote_send_batch(struct remote *rm, struct evbuffer *out)
{
	struct remote_batch b;
	struct remote_view v;
	char plugin[RELOG_ID_MAX + 1];
	size_t plugin_len = 0, len;
	int from_disk = spool_unread(&rm->spool);
	const char *p;

	memset(&b, 0, sizeof b);
	remote_buf.len = 0;
	while (b.records < REMOTE_BATCH_RECORDS &&
	    remote_buf.len < REMOTE_BATCH_BYTES) {
		if (from_disk)
			p = spool_peek(&rm->spool, &len);
		else if (rm->mem_sent < rm->mem_base + rm->mem.len)
			p = rm->mem.data + (rm->mem_sent - rm->mem_base);
		else
			p = NULL;
		if (p == NULL)
			break;
		/* remote_enqueue wrote those in memory: only disk can lie. */
		if (remote_view(p, &v) != 0 && from_disk) {
			log_warn("forward %s: a damaged record on disk was "
			    "dropped", rm->uri);
			spool_drop_read(&rm->spool, len);
			remote_dropped(rm, 1);
			continue;
		}
		if (rm->kind == REMOTE_FLUENT) {
			if (b.records != 0 && (v.plugin.len != plugin_len ||
			    memcmp(v.plugin.ptr, plugin, plugin_len) != 0))
				break;
			if (b.records == 0) {
				plugin_len = v.plugin.len < sizeof plugin ?
				    v.plugin.len : sizeof plugin - 1;
				memcpy(plugin, v.plugin.ptr, plugin_len);
			}
			remote_format_fluent(&remote_buf, &v);
		} else
			remote_format_syslog(&remote_buf, &v);
		if (from_disk)
			spool_consume(&rm->spool, v.len);
		else
			rm->mem_sent += v.len;
		b.records++;
	}
	if (b.records == 0)
		return (0);
	b.on_disk = from_disk;
	b.end = spool_tell(&rm->spool);
	b.mem_end = rm->mem_sent;
	if (rm->kind == REMOTE_FLUENT) {
		b.chunk = rm->next_chunk++;
		remote_send_fluent(out, (struct proto_str){ plugin, plugin_len },
		    b.records, b.chunk);
	} else {
		evbuffer_add(out, remote_buf.data, remote_buf.len);
		rm->since_close += remote_buf.len;
	}
	if (rm->nbatches == rm->batches_cap) {
		rm->batches_cap = rm->batches_cap != 0 ? rm->batches_cap * 2 :
		    16;
		rm->batches = reallocarray(rm->batches, rm->batches_cap,
		    sizeof *rm->batches);
		if (rm->batches == NULL)
			fatal("reallocarray");
	}
	rm->batches[rm->nbatches++] = b;
	rm->sent += b.records;
	return (1);
}

/*
 * Send what waits, as far as the window allows. A syslog connection is
 * closed (to learn that all it carried was read) after 1 MiB, or after a
 * second without new records.
 */
static void
remote_pump(struct remote *rm)
{
	struct timeval tv = { REMOTE_TIMEOUT_S, 0 };
	struct evbuffer *out;
	int sent = 0;

	if (rm->state != REMOTE_UP || remote_draining)
		return;
	out = bufferevent_get_output(rm->bev);
	while (evbuffer_get_length(out) < REMOTE_OUT_LOW) {
		if (rm->kind == REMOTE_FLUENT &&
		    rm->nbatches >= REMOTE_FLUENT_WINDOW)
			break;
		if (rm->kind == REMOTE_SYSLOG &&
		    rm->since_close >= REMOTE_SYSLOG_CLOSE_BYTES)
			break;
		if (!remote_send_batch(rm, out))
			break;
		sent = 1;
	}
	if (rm->nbatches == 0)
		return;
	/* Fluent: an ack is owed within the timeout (remote_timer_cb). */
	if (rm->kind == REMOTE_FLUENT) {
		if (!evtimer_pending(rm->timer, NULL))
			evtimer_add(rm->timer, &tv);
		return;
	}
	if (rm->since_close >= REMOTE_SYSLOG_CLOSE_BYTES)
		remote_syslog_close(rm);
	else if (sent) {
		tv.tv_sec = REMOTE_SYSLOG_IDLE_MS / 1000;
		tv.tv_usec = REMOTE_SYSLOG_IDLE_MS % 1000 * 1000;
		evtimer_add(rm->timer, &tv);
	}
}

/*
 * Say what a full disk budget dropped, once a second at most: in relogd's
 * log, and in a record to the collector (which may itself be dropped, if
 * more are; the next one counts them all).
 */
static void
remote_say_dropped(struct remote *rm)
{
	int64_t now = relogd_now_ms(CLOCK_MONOTONIC), wait;
	struct timeval tv;
	struct record r;
	char msg[PATH_MAX + 200];

	if (rm->dropped_unsaid == 0)
		return;
	if ((wait = rm->said_dropped_at + 1000 - now) > 0) {
		if (!evtimer_pending(rm->say_timer, NULL)) {
			tv.tv_sec = 0;
			tv.tv_usec = (suseconds_t)wait * 1000;
			evtimer_add(rm->say_timer, &tv);
		}
		return;
	}
	snprintf(msg, sizeof msg, "forward %s: dropped %" PRIu64 " records "
	    "(%" PRIu64 " since relogd started): the oldest, as the file "
	    "queue was full (forward_disk = %zu bytes), or those the disk "
	    "did not take", rm->uri, rm->dropped_unsaid, rm->dropped,
	    relogd_config.forward_disk);
	log_warn("%s", msg);
	plugin_notice_record(&r, msg);
	rm->dropped_unsaid = 0;
	rm->said_dropped_at = now;
	remote_enqueue(rm, "relogd", &r, getpid());
}

/* A second after the last notice, more were dropped: say so. */
static void
remote_say_cb(evutil_socket_t fd, short what, void *arg)
{
	struct remote *rm = arg;

	(void)fd;
	(void)what;
	rm->dirty = 1;
	remote_flush_all();
}

/*
 * After a batch of records: keep to the memory budget (and keep records on
 * disk while the collector is away), write the file queue, send.
 */
void
remote_flush_all(void)
{
	struct remote *rm;
	uint64_t held;

	for (rm = remote_list; rm != NULL; rm = rm->next) {
		if (!rm->dirty)
			continue;
		rm->dirty = 0;
		remote_say_dropped(rm);
		held = rm->mem_base + rm->mem.len - rm->mem_head;
		/* While the collector is away, records wait on disk. */
		if (((rm->state == REMOTE_DOWN || rm->state ==
		    REMOTE_CONNECTING) && rm->failures != 0) ||
		    held > relogd_config.forward_memory)
			remote_spill(rm);
		spool_flush(&rm->spool);
		remote_dropped(rm, spool_take_lost(&rm->spool));
		/* In flight, but no longer (all) on disk: start over. */
		if (rm->resync && rm->state != REMOTE_DOWN) {
			log_warn("forward %s: records in flight were dropped "
			    "from the file queue; sending again from the "
			    "oldest kept", rm->uri);
			remote_disconnect(rm);
		}
		if (rm->state == REMOTE_DOWN && !evtimer_pending(rm->timer,
		    NULL))
			remote_connect(rm);
		else
			remote_pump(rm);
	}
}

/* Call fn for every forward sink. */
void
remote_foreach(void (*fn)(struct remote *, void *), void *arg)
{
	struct remote *rm;

	for (rm = remote_list; rm != NULL; rm = rm->next)
		fn(rm, arg);
}

/* Has a sink batches in flight that may yet be acked? */
static int
remote_in_flight(void)
{
	struct remote *rm;

	for (rm = remote_list; rm != NULL; rm = rm->next) {
		if (rm->nbatches != 0 && (rm->state == REMOTE_UP ||
		    rm->state == REMOTE_CLOSING))
			return (1);
	}
	return (0);
}

static void
remote_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/*
 * At exit, with no runner left: give the batches in flight a bounded time
 * to be acked (syslog connections are closed for it), so that they are not
 * sent again after the restart. Nothing new is sent.
 */
void
remote_drain_all(void)
{
	int64_t deadline = relogd_now_ms(CLOCK_MONOTONIC) + REMOTE_DRAIN_MS;
	struct timeval tv = { REMOTE_DRAIN_MS / 1000,
	    REMOTE_DRAIN_MS % 1000 * 1000 };
	struct remote *rm;
	struct event *ev;

	remote_draining = 1;
	for (rm = remote_list; rm != NULL; rm = rm->next) {
		if (rm->kind == REMOTE_SYSLOG && rm->state == REMOTE_UP &&
		    rm->nbatches != 0)
			remote_syslog_close(rm);
	}
	if ((ev = evtimer_new(relogd_base, remote_drain_cb, NULL)) == NULL)
		fatalx("cannot create a timer");
	evtimer_add(ev, &tv);
	while (remote_in_flight() &&
	    relogd_now_ms(CLOCK_MONOTONIC) < deadline)
		event_base_loop(relogd_base, EVLOOP_ONCE);
	event_free(ev);
}

/*
 * At exit: what is not acked goes to the file queue, to be sent after the
 * restart (what was in flight and not acked by remote_drain_all may then
 * arrive twice).
 */
void
remote_free_all(void)
{
	struct remote *rm;

	while ((rm = remote_list) != NULL) {
		remote_list = rm->next;
		remote_disconnect(rm);
		remote_spill(rm);
		if (rm->spool.records != 0)
			log_info("forward %s: %" PRIu64 " records left on disk",
			    rm->uri, rm->spool.records);
		spool_close(&rm->spool);
		remote_free(rm);
	}
	/*
	 * A connection freed while one of its deferred callbacks waits to run
	 * stays referenced until that callback runs: run what is ready (the
	 * loop goes on until nothing is), or the connection and its TLS
	 * session outlive the event base.
	 */
	event_base_loop(relogd_base, EVLOOP_NONBLOCK);
	if (remote_dns != NULL)
		evdns_base_free(remote_dns, 0);
	remote_dns = NULL;
	if (remote_tls != NULL)
		SSL_CTX_free(remote_tls);
	remote_tls = NULL;
	outbuf_free(&remote_buf);
}

/* Once at startup: the host name syslog sends, and the chunk id prefix. */
void
remote_init(void)
{
	unsigned char rnd[8];
	size_t i;

	if (gethostname(remote_host, sizeof remote_host) != 0 ||
	    remote_host[0] == '\0')
		strcpy(remote_host, "-");
	remote_host[sizeof remote_host - 1] = '\0';
	for (i = 0; remote_host[i] != '\0'; i++) {
		if (remote_host[i] <= 32 || remote_host[i] >= 127)
			remote_host[i] = '_';
	}
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		memset(rnd, 0, sizeof rnd);
	for (i = 0; i < sizeof rnd; i++)
		snprintf(remote_chunk_prefix + 2 * i, 3, "%02x", rnd[i]);
	remote_chunk_prefix[16] = '-';
	remote_chunk_prefix[17] = '\0';
	srandom((unsigned)rnd[0] << 8 | rnd[1]);
}
