/*
 * Remotes: collectors relogd sends records on to, as RFC 5424 syslog
 * (remote-syslog.c) or Fluent Forward (remote-fluent.c), without losing
 * them when the collector is down or slow. This file is the registry: one
 * remote per URI, shared by every plugin naming it, made with its file
 * queue when first named and kept until exit.
 *
 * A record is copied into the remote's queue (remote-queue.c) and the
 * runner is answered; the collector never slows the runners. The
 * connection (remote-conn.c) sends the queue's batches and drops them once
 * the collector has them. Either way a record may be delivered twice,
 * never lost, unless the disk budget overflows: then the oldest are
 * dropped, counted, and a record says so.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relogd.h"
#include "remote.h"

#define REMOTE_DRAIN_MS 2000		/* at exit, for acks */

static struct remote *remote_list;

/* A protocol's operations, by a URI's protocol. */
static const struct remote_proto *
remote_proto_of(enum uri_proto proto)
{
	return (proto == URI_FLUENT ? &remote_fluent : &remote_syslog);
}

/* The file queue's folder in forward/: the URI made safe, and a hash of it. */
static void
remote_spool_name(const char *uri, char *buf, size_t size)
{
	uint32_t hash = 2166136261u;
	char name[80];
	size_t i;

	for (i = 0; uri[i] != '\0'; i++)
		hash = (hash ^ (unsigned char)uri[i]) * 16777619u;
	for (i = 0; i < sizeof name - 1 && uri[i] != '\0'; i++)
		name[i] = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
		    "VWXYZ0123456789.-", uri[i]) != NULL ? uri[i] : '_';
	name[i] = '\0';
	snprintf(buf, size, "%s-%08" PRIx32, name, hash);
}

/* Free a remote (its file queue closed, its connection gone). */
static void
remote_free(struct remote *rm)
{
	event_free(rm->timer);
	event_free(rm->stall_ev);
	event_free(rm->say_timer);
	if (rm->answers != NULL)
		msgpack_unpacker_free(rm->answers);
	remote_queue_free(rm);
	free(rm->uri);
	uri_free(&rm->addr);
	free(rm);
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
 * Open state_dir/forward (made if create and missing): relogd's own
 * folder, which no one else may write to, and not a symbolic link that
 * would put the queues (and the records in them) elsewhere. The queues are
 * opened from its fd, so the folder checked is the one used. Returns the
 * fd, or -1 (errno set; said in the log but ENOENT).
 */
static int
remote_forward_dir(int create)
{
	int fd;

	if ((fd = relogd_opendirat(relogd_state_dir_fd, "forward",
	    create)) < 0 && errno != ENOENT)
		log_error("%s/forward: %s: no forward queue there",
		    relogd_config.state_dir, relogd_dir_error_text(errno));
	return (fd);
}

/*
 * Open a remote's file queue under state_dir/forward/, saying whose it is.
 * Returns 0, or -1 (said in the log).
 */
static int
remote_open_queue(struct remote *rm)
{
	char name[100], dir[PATH_MAX];
	int fd, ffd;

	if ((ffd = remote_forward_dir(1)) < 0)
		return (-1);
	remote_spool_name(rm->uri, name, sizeof name);
	snprintf(dir, sizeof dir, "%s/forward/%s", relogd_config.state_dir,
	    name);
	if (spool_open(&rm->spool, ffd, name, dir, relogd_config.remote_disk,
	    sizeof(struct remote_rec), REMOTE_REC_MAX) != 0) {
		close(ffd);
		return (-1);
	}
	close(ffd);
	/*
	 * Say whose queue it is, for a restart with other settings: written
	 * aside, then renamed over, so that a kill never leaves it empty.
	 */
	fd = proto_openat(rm->spool.dirfd, "uri.new", O_WRONLY | O_CREAT |
	    O_TRUNC, 0600, NULL);
	if (fd < 0 || dprintf(fd, "%s\n", rm->uri) < 0) {
		log_error("cannot write %s/uri: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		spool_close(&rm->spool);
		return (-1);
	}
	if (close(fd) != 0 || renameat(rm->spool.dirfd, "uri.new",
	    rm->spool.dirfd, "uri") != 0) {
		log_error("cannot write %s/uri: %s", dir, strerror(errno));
		spool_close(&rm->spool);
		return (-1);
	}
	return (0);
}

/*
 * The remote for a URI (valid: uri_list_check said so), made on first use
 * with its file queue, whose records it sends at once. NULL if its file
 * queue cannot be opened (said in the log).
 */
static struct remote *
remote_get(const char *uri)
{
	struct remote *rm;
	char *cause = NULL;

	for (rm = remote_list; rm != NULL; rm = rm->next) {
		if (strcmp(rm->uri, uri) == 0)
			return (rm);
	}
	if ((rm = calloc(1, sizeof *rm)) == NULL)
		fatal("calloc");
	if (uri_parse(uri, &rm->addr, &cause) != 0)
		fatalx("%s", cause);
	rm->proto = remote_proto_of(rm->addr.proto);
	if ((rm->uri = strdup(uri)) == NULL)
		fatal("strdup");
	remote_conn_init(rm);
	if ((rm->say_timer = evtimer_new(relogd_base, remote_say_cb,
	    rm)) == NULL)
		fatalx("cannot create a timer");
	if (remote_open_queue(rm) != 0) {
		log_error("forward %s: not used", uri);
		remote_free(rm);
		return (NULL);
	}
	rm->next = remote_list;
	remote_list = rm;
	if (rm->spool.records != 0) {
		log_info("forward %s: %" PRIu64 " records queued on disk",
		    uri, rm->spool.records);
		remote_conn_start(rm);
	}
	return (rm);
}

/* What resolving a list carries. */
struct remote_resolving {
	struct remote **out;
	size_t n;
	int at_start;		/* a remote that cannot start is fatal */
};

/* Resolve one URI of a list, once. */
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
	return (r->n == RELOGD_REMOTE_MAX);
}

/*
 * The remotes of a (checked) list, into out (RELOGD_REMOTE_MAX of them at
 * most). Returns how many.
 */
static size_t
remote_resolve_list(const char *list, struct remote **out, int at_start)
{
	struct remote_resolving r = { out, 0, at_start };

	uri_list_foreach(list, remote_resolve_one, &r);
	return (r.n);
}

/* The remotes of a (checked) list, for a plugin. Returns how many. */
size_t
remote_resolve(const char *list, struct remote **out)
{
	return (remote_resolve_list(list, out, 0));
}

/*
 * The URI of a queue left in folder name (qfd), read from its uri file
 * into uri: NULL, or why it cannot be sent (in why, or static).
 */
static const char *
remote_left_uri(int qfd, const char *name, char *uri, size_t size,
    char *why, size_t why_size)
{
	char want[100], *cause = NULL;
	FILE *f;
	int fd;

	if ((fd = proto_openat(qfd, "uri", O_RDONLY, 0, NULL)) < 0 ||
	    (f = fdopen(fd, "r")) == NULL) {
		snprintf(why, why_size, "%s", relogd_error_text(errno));
		if (fd >= 0)
			close(fd);
		return (why);
	}
	if (fgets(uri, (int)size, f) == NULL)
		uri[0] = '\0';
	fclose(f);
	uri[strcspn(uri, "\n")] = '\0';
	if (uri[strspn(uri, ", \t")] == '\0')
		return ("it names no collector");
	if (uri_list_check(uri, &cause) != 0) {
		snprintf(why, why_size, "%s", cause);
		free(cause);
		return (why);
	}
	/* Another URI (even one that means the same) has another folder. */
	remote_spool_name(uri, want, sizeof want);
	if (strcmp(want, name) != 0) {
		snprintf(why, why_size, "%s is not the URI its records were "
		    "queued for (its folder would be %s)", uri, want);
		return (why);
	}
	return (NULL);
}

/*
 * Open the file queues left with records by remotes no longer configured
 * (each folder names its URI). One that cannot be sent is said at start.
 */
static void
remote_start_left(int at_start)
{
	char uri[RELOGD_REMOTE_LIST_MAX], why[RELOGD_REMOTE_LIST_MAX + 200];
	struct remote *some[RELOGD_REMOTE_MAX];
	const char *bad;
	struct dirent *de;
	DIR *d;
	int qfd, ffd;

	if ((ffd = remote_forward_dir(0)) < 0)
		return;
	if ((d = fdopendir(ffd)) == NULL) {
		close(ffd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		/* A queue's folder is relogd's alone, as spool_open wants. */
		if ((qfd = relogd_opendirat(dirfd(d), de->d_name, 0)) < 0) {
			if (at_start && errno != ENOTDIR && errno != ENOENT)
				log_warn("%s/forward/%s: %s: a file queue "
				    "there is not sent", relogd_config.state_dir,
				    de->d_name, relogd_dir_error_text(errno));
			continue;
		}
		bad = remote_left_uri(qfd, de->d_name, uri, sizeof uri, why,
		    sizeof why);
		if (bad == NULL)
			remote_resolve(uri, some);
		else if (at_start && spool_dir_holds(qfd))
			log_warn("%s/forward/%s/uri: %s: the records queued "
			    "there are not sent (write in it the URI they "
			    "were queued for, or remove the folder)",
			    relogd_config.state_dir, de->d_name, bad);
		close(qfd);
	}
	closedir(d);
}

/*
 * At startup and after a reload: open the configured remotes, and every
 * file queue left with records by remotes no longer configured.
 */
void
remote_start_all(int at_start)
{
	const struct plugin_config *pc;
	struct remote *some[RELOGD_REMOTE_MAX];

	/* TLS settings may have changed (connections keep theirs). */
	remote_conn_reload_tls();
	remote_resolve_list(relogd_config.plugin_defaults.remotes, some,
	    at_start);
	for (pc = relogd_config.plugins; pc != NULL; pc = pc->next)
		remote_resolve_list(pc->set.remotes, some, at_start);
	remote_start_left(at_start);
}

/*
 * After a batch of records: each remote that took some keeps to its
 * budgets and writes its file queue, then sends (or connects).
 */
void
remote_flush_all(void)
{
	struct remote *rm;

	for (rm = remote_list; rm != NULL; rm = rm->next) {
		if (!rm->dirty)
			continue;
		rm->dirty = 0;
		remote_conn_flush(rm);
	}
}

/* Call fn for every remote. */
void
remote_foreach(void (*fn)(struct remote *, void *), void *arg)
{
	struct remote *rm;

	for (rm = remote_list; rm != NULL; rm = rm->next)
		fn(rm, arg);
}

/* Has a remote batches in flight that may yet be acked? */
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

/* The drain's deadline: nothing to do but end a loop turn. */
static void
remote_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/*
 * At exit, with no runner left: give the batches in flight a bounded time
 * to be acked (the protocol concludes them: syslog closes), so that they
 * are not sent again after the restart. Nothing new is sent.
 */
void
remote_drain_all(void)
{
	int64_t deadline = relogd_now_ms(CLOCK_MONOTONIC) + REMOTE_DRAIN_MS;
	struct timeval tv = { REMOTE_DRAIN_MS / 1000,
	    REMOTE_DRAIN_MS % 1000 * 1000 };
	struct remote *rm;
	struct event *ev;

	remote_conn_draining = 1;
	for (rm = remote_list; rm != NULL; rm = rm->next)
		rm->proto->drain(rm);
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
	uint64_t left;

	while ((rm = remote_list) != NULL) {
		remote_list = rm->next;
		remote_conn_close(rm);
		if ((left = remote_queue_close(rm)) != 0)
			log_info("forward %s: %" PRIu64 " records left on disk",
			    rm->uri, left);
		spool_close(&rm->spool);
		remote_free(rm);
	}
	remote_conn_free_all();
}

/* Once at startup: the chunk ids' prefix, and the backoff's jitter. */
void
remote_init(void)
{
	unsigned char rnd[2];

	remote_fluent_init();
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		memset(rnd, 0, sizeof rnd);
	srandom((unsigned)rnd[0] << 8 | rnd[1]);
}
