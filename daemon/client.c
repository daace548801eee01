/*
 * Connections: reading what a peer sends, writing what it is sent, and
 * closing. What the bytes mean is the connection's protocol's (struct
 * client_ops: runner.c, fluent.c), which this file calls only through the
 * table.
 *
 * A connection is not read while a sink its records feed is full (the ack
 * ledger says when it drained), nor while it leaves more than
 * CLIENT_OUTPUT_MAX of replies unread. A connection is never freed on its
 * caller's stack: client_close frees it on a later loop turn.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relogd.h"

/* How long a closing client may take to read its last reply. */
#define CLIENT_CLOSE_TIMEOUT_S 5
/* The most read from a connection at once. */
#define CLIENT_READ_MAX (256u * 1024)
/* Replies a client leaves unread before relogd stops reading it. */
#define CLIENT_OUTPUT_MAX (1024u * 1024)

static TAILQ_HEAD(, client) clients = TAILQ_HEAD_INITIALIZER(clients);
static size_t client_total;
static uint64_t client_next_id = 1;
static void (*client_gone_cb)(void);

static void client_read_cb(evutil_socket_t, short, void *);
static void client_write_cb(struct bufferevent *, void *);
static void client_event_cb(struct bufferevent *, short, void *);
static void client_timer_cb(evutil_socket_t, short, void *);
static void client_answer(void *, const struct ack *);
static void client_resume(void *);

/* Set what to call whenever a connection goes (the listener's resume). */
void
client_init(void (*gone)(void))
{
	client_gone_cb = gone;
}

/*
 * Read this client, or stop. Reading has the idle timeout once the client
 * is identified, but for a listener (a tail).
 */
void
client_reading(struct client *c, int on)
{
	struct timeval tv = { (time_t)relogd_config.idle_timeout_s, 0 };

	/* Deleted first: event_add keeps an old timeout it is not given. */
	event_del(c->read_ev);
	if (!on)
		return;
	event_add(c->read_ev, c->state == CLIENT_READY && !c->listener &&
	    relogd_config.idle_timeout_s != 0 ? &tv : NULL);
}

/*
 * Start serving an accepted connection (non-blocking, close-on-exec) that
 * speaks ops' protocol.
 */
void
client_create(int fd, const struct client_ops *ops)
{
	struct timeval tv = { (time_t)relogd_config.hello_timeout_s, 0 };
	struct ucred cred;
	socklen_t len = sizeof cred;
	struct client *c;

	if ((c = calloc(1, sizeof *c)) == NULL)
		fatal("calloc");
	c->id = client_next_id++;
	c->fd = fd;
	c->ops = ops;
	c->state = ops->hello ? CLIENT_HELLO : CLIENT_READY;
	c->origin.pid = -1;
	c->origin.uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		c->origin.pid = cred.pid;
		c->origin.uid = cred.uid;
	}
	c->origin.acks = ack_owner_new(-1, client_answer, client_resume, c);
	/*
	 * Reading is relogd's own (bufferevent reads 4 KiB at a time): up to
	 * CLIENT_READ_MAX per wakeup, so one callback, one write per sink and
	 * one reply go for everything a peer sent at once.
	 */
	c->read_ev = event_new(relogd_base, fd, EV_READ | EV_PERSIST,
	    client_read_cb, c);
	c->in = evbuffer_new();
	c->bev = bufferevent_socket_new(relogd_base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(relogd_base, client_timer_cb, c);
	if (c->read_ev == NULL || c->in == NULL || c->bev == NULL ||
	    c->timer == NULL)
		fatalx("out of memory for a connection");
	bufferevent_setcb(c->bev, NULL, client_write_cb, client_event_cb, c);
	/* The write callback says when unread replies fell below half. */
	bufferevent_setwatermark(c->bev, EV_WRITE, CLIENT_OUTPUT_MAX / 2, 0);
	bufferevent_enable(c->bev, EV_WRITE);
	client_reading(c, 1);
	if (ops->hello)
		evtimer_add(c->timer, &tv);
	TAILQ_INSERT_TAIL(&clients, c, entry);
	client_total++;
	log_debug("connection %llu from pid %ld uid %ld",
	    (unsigned long long)c->id, (long)c->origin.pid,
	    (long)c->origin.uid);
	if (ops->start != NULL)
		ops->start(c);
}

/* Close a client's connection and free it (its acks live on). */
static void
client_free(struct client *c)
{
	c->ops->gone(c);
	TAILQ_REMOVE(&clients, c, entry);
	client_total--;
	ack_owner_detach(c->origin.acks);
	free(c->origin.hosted);
	event_free(c->timer);
	event_free(c->read_ev);
	evbuffer_free(c->in);
	bufferevent_free(c->bev);
	free(c);
	if (client_gone_cb != NULL)
		client_gone_cb();
}

/* Who a client is, for relogd's own messages (static: use it at once). */
const char *
client_name(const struct client *c)
{
	static char name[RELOG_ID_MAX + 64];

	snprintf(name, sizeof name, "connection %llu (pid %ld, runner %s)",
	    (unsigned long long)c->id, (long)c->origin.pid,
	    c->origin.runner_id[0] != '\0' ? c->origin.runner_id : "unknown");
	return (name);
}

/* The ledger settled an ack of this client: its protocol answers it. */
static void
client_answer(void *arg, const struct ack *a)
{
	struct client *c = arg;

	if (c->state != CLIENT_CLOSING)
		c->ops->answer(c, a);
}

/* The sinks this client fed drained: read it again. */
static void
client_resume(void *arg)
{
	struct client *c = arg;

	log_debug("%s: sinks drained, reading again", client_name(c));
	if (c->output_full || c->state == CLIENT_CLOSING)
		return;
	client_reading(c, 1);
	/* Frames may already wait in its buffer. */
	event_active(c->read_ev, EV_READ, 0);
}

/*
 * Stop reading from a client and free it once its last reply is written,
 * or on the next loop turn if there is none: never on the caller's stack,
 * so the caller may still look at it (its state is CLIENT_CLOSING).
 */
void
client_close(struct client *c)
{
	struct timeval tv = { 0, 0 };

	c->state = CLIENT_CLOSING;
	client_reading(c, 0);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) != 0)
		tv.tv_sec = CLIENT_CLOSE_TIMEOUT_S;
	evtimer_del(c->timer);
	evtimer_add(c->timer, &tv);
}

/*
 * The timer: a closing client's last reply was not taken in time (or there
 * was none), or an identified one is due and none came.
 */
static void
client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	if (c->state == CLIENT_CLOSING)
		client_free(c);
	else
		c->ops->timeout(c);
}

/*
 * Read up to max bytes into the client's buffer. Returns how many, 0 at end
 * of file, or -1 (errno set; EAGAIN when nothing waits).
 */
static ssize_t
client_fill(struct client *c, size_t max)
{
	struct evbuffer_iovec vec;
	ssize_t n;

	if (evbuffer_reserve_space(c->in, (ev_ssize_t)max, &vec, 1) < 1)
		fatalx("out of memory for a connection");
	do
		n = recv(c->fd, vec.iov_base, max < vec.iov_len ? max :
		    vec.iov_len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	vec.iov_len = n > 0 ? (size_t)n : 0;
	evbuffer_commit_space(c->in, &vec, 1);
	return (n);
}

/*
 * The peer is gone (end of file, or error): say so, unless it was expected,
 * and free it.
 */
static void
client_lost(struct client *c, int error)
{
	size_t left = evbuffer_get_length(c->in);

	if (error != 0)
		log_warn("%s: %s", client_name(c), strerror(error));
	else if (c->state != CLIENT_CLOSING && left != 0)
		log_warn("%s closed in the middle of a frame (%zu bytes lost)",
		    client_name(c), left);
	else if (c->state == CLIENT_READY)
		log_info("runner %s disconnected after %llu records",
		    c->origin.runner_id, (unsigned long long)c->records);
	client_free(c);
}

/*
 * Stop reading a client that is not taking its replies, or whose records'
 * sinks are full (the ledger resumes it).
 */
static void
client_throttle(struct client *c)
{
	if (c->state != CLIENT_READY)
		return;
	if (!c->origin.acks->congested && ack_congested(c->origin.acks)) {
		client_reading(c, 0);
		log_debug("%s: a sink is full, not reading", client_name(c));
	}
	if (!c->output_full && evbuffer_get_length(
	    bufferevent_get_output(c->bev)) > CLIENT_OUTPUT_MAX) {
		c->output_full = 1;
		client_reading(c, 0);
		log_debug("%s: replies unread, not reading", client_name(c));
	}
}

/*
 * Data arrived (or the idle timeout): read what is there, let the protocol
 * take it, have the outputs write once for all of it, settle acks, and
 * throttle. At end of file, what came before it is taken first.
 */
static void
client_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	ssize_t n = 1;
	int error = 0;

	(void)fd;
	if (what & EV_TIMEOUT) {
		log_warn("%s sent nothing for %zu s: dropped", client_name(c),
		    relogd_config.idle_timeout_s);
		client_free(c);
		return;
	}
	if (what & EV_READ) {
		n = client_fill(c, CLIENT_READ_MAX);
		error = n < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
		if (error)
			error = errno;
	}
	ack_read_begin(c->origin.acks);
	c->ops->process(c);
	plugin_flush_all();
	ack_progress();
	if (n == 0 || error != 0) {
		client_lost(c, error);
		return;
	}
	client_throttle(c);
}

/* Output fell below half of the limit, or all of it is written. */
static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (c->state == CLIENT_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			client_free(c);
		return;
	}
	c->ops->drained(c);
	if (c->output_full) {
		c->output_full = 0;
		if (!c->origin.acks->congested)
			client_reading(c, 1);
	}
}

/* Writing a reply failed. */
static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	client_lost(arg, EVUTIL_SOCKET_ERROR() != 0 ? EVUTIL_SOCKET_ERROR() :
	    EPIPE);
}

/*
 * At shutdown: read what every client has already sent and take it. The
 * clients are freed by client_free_all.
 */
void
client_drain_all(void)
{
	struct client *c;
	ssize_t n;
	int queued;

	TAILQ_FOREACH(c, &clients, entry) {
		client_reading(c, 0);
		bufferevent_disable(c->bev, EV_WRITE);
		/* What was sent by now, not what a fast peer sends next. */
		if (ioctl(c->fd, FIONREAD, &queued) != 0)
			queued = 0;
		ack_read_begin(c->origin.acks);
		while (c->state != CLIENT_CLOSING && queued > 0 &&
		    (n = client_fill(c, (size_t)queued < CLIENT_READ_MAX ?
		    (size_t)queued : CLIENT_READ_MAX)) > 0) {
			queued -= (int)n;
			c->ops->process(c);
		}
		plugin_flush_all();
	}
}

/* Call fn for every connection. */
void
client_foreach(void (*fn)(struct client *, void *), void *arg)
{
	struct client *c;

	TAILQ_FOREACH(c, &clients, entry)
		fn(c, arg);
}

/* Do the client's unread replies stay under limit bytes? */
int
client_writable(const struct client *c, size_t limit)
{
	return (c->state == CLIENT_READY && evbuffer_get_length(
	    bufferevent_get_output(c->bev)) < limit);
}

/* Queue bytes (a whole frame) to the client. */
void
client_send(struct client *c, const char *data, size_t len)
{
	bufferevent_write(c->bev, data, len);
}

/* How many connections there are. */
size_t
client_count(void)
{
	return (client_total);
}

/* Free every client (at exit, after the sinks were drained). */
void
client_free_all(void)
{
	struct client *c;

	ack_progress();
	client_gone_cb = NULL;
	while ((c = TAILQ_FIRST(&clients)) != NULL)
		client_free(c);
}
