/*
 * Connections: reading what a peer sends, writing what it is sent, and
 * closing. What the bytes mean is the connection's protocol's (struct
 * client_ops: runner.c, fluent.c), which this file calls only through the
 * table.
 *
 * A connection is not read while a sink its records feed is full (the ack
 * ledger says when it drained), nor while it leaves more than
 * CLIENT_OUTPUT_MAX of replies unread, nor while the input budget
 * (max_buffered, and its uid's share of it) is spent. Then one starved
 * connection at a time, oldest first, may read past the budget to finish
 * the frame it began (at most one frame over): so partial frames cannot
 * hold the budget for ever, and a peer that went away is seen to. One
 * that does not finish within hello_timeout is closed.
 *
 * A runner may pass descriptors (its ring, its wake socket) with its hello
 * only. A peer that hung up may be kept by its protocol to finish what it
 * holds (a ring is drained). client_close frees on a later loop turn.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relogd.h"

/*
 * How long a closing client may take to read its last reply; at exit, how
 * long all of them together may.
 */
#define CLIENT_CLOSE_TIMEOUT_S 5
/* The most read from a connection at once. */
#define CLIENT_READ_MAX (256u * 1024)
/* Replies a client leaves unread before relogd stops reading it. */
#define CLIENT_OUTPUT_MAX (1024u * 1024)

#define CLIENT_UID_BUCKETS 256

/* A uid's connections, the input they hold and the rings they pass. */
struct client_uid {
	uid_t uid;
	size_t conns;
	size_t buffered;
	size_t rings;		/* bytes, counted by ring.c */
	struct client_uid *next;
};

static TAILQ_HEAD(, client) clients = TAILQ_HEAD_INITIALIZER(clients);
/* Connections not read while the input budget is spent. */
static TAILQ_HEAD(, client) client_starved =
    TAILQ_HEAD_INITIALIZER(client_starved);
static struct client_uid *client_uids[CLIENT_UID_BUCKETS];
static size_t client_buffered;	/* every connection's input */
static struct client *client_exempt;	/* may finish its frame over it */
static struct event *client_exempt_ev;	/* its deadline */
static size_t client_total;
static uint64_t client_next_id = 1;
static void (*client_gone_cb)(void);
static const char *client_fds_refused;	/* why, for the one line */

static void client_read_cb(evutil_socket_t, short, void *);
static void client_write_cb(struct bufferevent *, void *);
static void client_event_cb(struct bufferevent *, short, void *);
static void client_timer_cb(evutil_socket_t, short, void *);
static void client_answer(void *, const struct ack *);
static void client_resume(void *);
static void client_exempt_pick(void);
static void client_free(struct client *);

/* The entry of a uid (made, counting nothing, if add). */
static struct client_uid *
client_uid(uid_t uid, int add)
{
	struct client_uid **b = &client_uids[uid % CLIENT_UID_BUCKETS], *u;

	for (u = *b; u != NULL; u = u->next) {
		if (u->uid == uid)
			return (u);
	}
	if (!add)
		return (NULL);
	if ((u = calloc(1, sizeof *u)) == NULL)
		fatal("calloc");
	u->uid = uid;
	u->next = *b;
	*b = u;
	return (u);
}

/* Forget a uid that has no connection left. */
static void
client_uid_drop(struct client_uid *gone)
{
	struct client_uid **p = &client_uids[gone->uid % CLIENT_UID_BUCKETS];

	while (*p != gone)
		p = &(*p)->next;
	*p = gone->next;
	free(gone);
}

/*
 * How much more input a connection may buffer now: the budget left of
 * max_buffered, and of its uid's share (a quarter, or a whole frame).
 */
static size_t
client_allowance(const struct client *c)
{
	size_t share = relogd_config.max_buffered / 4, total;

	if (share < relogd_config.max_frame + RELOG_FRAME_HEADER_SIZE)
		share = relogd_config.max_frame + RELOG_FRAME_HEADER_SIZE;
	total = relogd_config.max_buffered;
	if (client_buffered >= total || c->peer->buffered >= share)
		return (0);
	return (total - client_buffered < share - c->peer->buffered ?
	    total - client_buffered : share - c->peer->buffered);
}

/*
 * The ring bytes a connection's uid may have mapped more: what is left of
 * its share of max_ring_total (three quarters, as of max_plugins: another
 * uid finds a quarter; or one max_ring, if that is more). ring.c counts
 * the total and the bytes.
 */
size_t
client_rings_left(const struct client *c)
{
	size_t share = relogd_config.max_ring_total / 4 * 3;

	if (share < relogd_config.max_ring)
		share = relogd_config.max_ring;
	return (c->peer->rings < share ? share - c->peer->rings : 0);
}

/* A ring of this many bytes mapped for the connection's uid, or let go. */
void
client_rings_count(struct client *c, size_t bytes, int add)
{
	if (add)
		c->peer->rings += bytes;
	else
		c->peer->rings -= bytes;
}

/*
 * The bytes that finish the frame a connection began (its header first),
 * no more than the largest frame it may send.
 */
static size_t
client_frame_left(const struct client *c)
{
	size_t have = evbuffer_get_length(c->in), max, len;
	unsigned char head[RELOG_FRAME_HEADER_SIZE];

	max = (c->state == CLIENT_HELLO ? RELOG_HELLO_FRAME_MAX :
	    relogd_config.max_frame) + RELOG_FRAME_HEADER_SIZE;
	if (have >= max)
		return (0);
	if (have < sizeof head)
		return (sizeof head - have);
	evbuffer_copyout(c->in, head, sizeof head);
	len = (size_t)head[0] << 24 | (size_t)head[1] << 16 |
	    (size_t)head[2] << 8 | head[3];
	len += sizeof head;
	if (len > max)
		len = max;
	return (len > have ? len - have : 0);
}

/* The exempt connection finished its frame, or went: pick the next. */
static void
client_exempt_end(void)
{
	client_exempt = NULL;
	evtimer_del(client_exempt_ev);
	client_exempt_pick();
}

/* A starved connection did not finish its frame in time: close it. */
static void
client_exempt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = client_exempt;

	(void)fd;
	(void)what;
	(void)arg;
	/* Held back by its sinks or its unread replies: not its fault. */
	if (client_frame_left(c) == 0 || c->output_full ||
	    c->origin.acks->congested) {
		client_exempt_end();
		return;
	}
	log_peer("%s did not finish a frame in %zu s while the input budget "
	    "was spent: closed", client_name(c), relogd_config.hello_timeout_s);
	client_free(c);
}

/*
 * Let the oldest starved connection that could read finish its frame
 * past the budget (unless one does already), and read it.
 */
static void
client_exempt_pick(void)
{
	struct timeval tv = { (time_t)relogd_config.hello_timeout_s, 0 };
	struct client *s;

	if (client_exempt != NULL)
		return;
	TAILQ_FOREACH(s, &client_starved, starved_entry) {
		if (!s->output_full && !s->origin.acks->congested &&
		    s->state != CLIENT_CLOSING)
			break;
	}
	if (s == NULL)
		return;
	TAILQ_REMOVE(&client_starved, s, starved_entry);
	s->starved = 0;
	client_exempt = s;
	if (client_exempt_ev == NULL && (client_exempt_ev = evtimer_new(
	    relogd_base, client_exempt_cb, NULL)) == NULL)
		fatalx("out of memory");
	evtimer_add(client_exempt_ev, &tv);
	client_reading(s, 1);
	event_active(s->read_ev, EV_READ, 0);
}

/*
 * Count what a connection holds now; if that freed budget, read the
 * connections that were starved of it again.
 */
static void
client_account(struct client *c)
{
	size_t now = c->in != NULL ? evbuffer_get_length(c->in) : 0;
	struct client *s, *next;

	client_buffered += now - c->buffered;
	c->peer->buffered += now - c->buffered;
	if (now >= c->buffered) {
		c->buffered = now;
		return;
	}
	c->buffered = now;
	for (s = TAILQ_FIRST(&client_starved); s != NULL; s = next) {
		next = TAILQ_NEXT(s, starved_entry);
		if (client_allowance(s) == 0)
			continue;
		TAILQ_REMOVE(&client_starved, s, starved_entry);
		s->starved = 0;
		if (s->output_full || s->origin.acks->congested ||
		    s->state == CLIENT_CLOSING)
			continue;
		client_reading(s, 1);
		event_active(s->read_ev, EV_READ, 0);
	}
}

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
 * May this peer connect? Its uid must be allowed (allow_uids), and have
 * fewer than max_connections_per_uid connections. Said (rate-limited).
 */
static int
client_admit(const struct ucred *cred)
{
	struct client_uid *u;

	if (relogd_config.allow_uids.uids != NULL &&
	    !config_uid_listed(&relogd_config.allow_uids, cred->uid)) {
		log_peer("pid %ld uid %ld may not connect (allow_uids): closed",
		    (long)cred->pid, (long)cred->uid);
		return (0);
	}
	u = client_uid(cred->uid, 0);
	if (u != NULL && u->conns >= relogd_config.max_connections_per_uid) {
		log_peer("uid %ld has %zu connections already "
		    "(max_connections_per_uid): pid %ld closed",
		    (long)cred->uid, u->conns, (long)cred->pid);
		return (0);
	}
	return (1);
}

/*
 * Start serving an accepted connection (non-blocking, close-on-exec) that
 * speaks ops' protocol, if its peer may connect; else close it at once,
 * before anything is read. Returns 0, or -1 if it was closed.
 */
int
client_create(int fd, const struct client_ops *ops)
{
	struct timeval tv = { (time_t)relogd_config.hello_timeout_s, 0 };
	struct ucred cred = { .pid = -1, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t len = sizeof cred;
	struct client *c;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    !client_admit(&cred)) {
		close(fd);
		return (-1);
	}
	if ((c = calloc(1, sizeof *c)) == NULL)
		fatal("calloc");
	c->id = client_next_id++;
	c->fd = fd;
	c->fds[0] = c->fds[1] = -1;
	c->ops = ops;
	c->state = ops->hello ? CLIENT_HELLO : CLIENT_READY;
	c->origin.pid = cred.pid;
	c->origin.uid = cred.uid;
	c->peer = client_uid(cred.uid, 1);
	c->peer->conns++;
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
	return (0);
}

/* Close a client's connection and free it (its acks live on). */
static void
client_free(struct client *c)
{
	c->ops->gone(c);
	TAILQ_REMOVE(&clients, c, entry);
	client_total--;
	if (c->starved)
		TAILQ_REMOVE(&client_starved, c, starved_entry);
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	client_account(c);
	if (c == client_exempt)
		client_exempt_end();
	if (--c->peer->conns == 0)
		client_uid_drop(c->peer);
	ack_owner_detach(c->origin.acks);
	while (c->nfds > 0)
		close(c->fds[--c->nfds]);
	free(c->origin.hosted);
	free(c->origin.token);
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

/*
 * Is a closing client still owed answers its protocol gives it (records it
 * sent before the message that closed it, waiting for a file: a Fluent
 * client whose ack is lost sends its chunk again)?
 */
static int
client_owed(const struct client *c)
{
	return (c->ops->answers_closing && ack_owed(c->origin.acks));
}

/*
 * The ledger settled an ack of this client: its protocol answers it, and a
 * closing client too if the protocol says (client_owed).
 */
static void
client_answer(void *arg, const struct ack *a)
{
	struct client *c = arg;

	if (c->state != CLIENT_CLOSING || c->ops->answers_closing)
		c->ops->answer(c, a);
}

/* The sinks this client fed drained: read it again. */
static void
client_resume(void *arg)
{
	struct client *c = arg;

	log_debug("%s: sinks drained, reading again", client_name(c));
	if (c->ops->resume != NULL && c->state != CLIENT_CLOSING)
		c->ops->resume(c);
	if (c->hungup || c->output_full || c->state == CLIENT_CLOSING)
		return;
	client_reading(c, 1);
	/* Frames may already wait in its buffer. */
	event_active(c->read_ev, EV_READ, 0);
}

/*
 * Stop reading from a client and free it once its last reply is written
 * (and the last answer it is owed, client_owed), or on the next loop turn
 * if there is none: never on the caller's stack, so the caller may still
 * look at it (its state is CLIENT_CLOSING). CLIENT_CLOSE_TIMEOUT_S at most.
 */
void
client_close(struct client *c)
{
	struct timeval tv = { 0, 0 };

	c->state = CLIENT_CLOSING;
	client_reading(c, 0);
	if (!c->hungup &&
	    (evbuffer_get_length(bufferevent_get_output(c->bev)) != 0 ||
	    client_owed(c)))
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
 * Keep the descriptors a read brought (mh's SCM_RIGHTS) if the protocol
 * takes them with its hello and they are the first; else close them, every
 * one the kernel put in the control buffer. Returns 0, or -1
 * (client_fds_refused says why): drop the connection.
 */
static int
client_fds_received(struct client *c, struct msghdr *mh)
{
	struct cmsghdr *cm;
	int got[CLIENT_FDS_MAX], fd, n = 0, all = 0, ok = c->ops->fds &&
	    c->state == CLIENT_HELLO && c->nfds == 0;
	size_t i, k;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		k = cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len >= CMSG_LEN(0) ? (cm->cmsg_len - CMSG_LEN(0)) /
		    sizeof(int) : 0;
		for (i = 0; i < k; i++, all++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
			if (ok && n < CLIENT_FDS_MAX)
				got[n++] = fd;
			else
				close(fd);
		}
	}
	if (all > CLIENT_FDS_MAX || (mh->msg_flags & MSG_CTRUNC) != 0)
		client_fds_refused = "more than two descriptors";
	else if (!ok)
		client_fds_refused = "descriptors but with its hello";
	else {
		memcpy(c->fds, got, (size_t)n * sizeof(int));
		c->nfds = n;
		return (0);
	}
	while (n > 0)
		close(got[--n]);
	return (-1);
}

/* recv(2), with what a peer may pass; EBADMSG if it passed some it may not. */
static ssize_t
client_recv(struct client *c, void *buf, size_t len)
{
	_Alignas(struct cmsghdr) char cbuf[CMSG_SPACE((CLIENT_FDS_MAX + 1) *
	    sizeof(int))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof cbuf,
	};
	ssize_t n;

	do
		n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n >= 0 && (mh.msg_controllen != 0 ||
	    (mh.msg_flags & MSG_CTRUNC) != 0) &&
	    client_fds_received(c, &mh) != 0) {
		errno = EBADMSG;
		return (-1);
	}
	return (n);
}

/* Hand the caller (it owns them now) what the hello passed; how many. */
int
client_fds(struct client *c, int *fds)
{
	int n = c->nfds;

	memcpy(fds, c->fds, (size_t)n * sizeof(int));
	c->nfds = 0;
	return (n);
}

/*
 * Read up to max bytes into the client's buffer, as far as the input
 * budget allows (client_allowance; before its hello, one small frame of
 * it at most).
 * Returns how many, 0 at end of file, or -1 (errno set; EAGAIN when
 * nothing waits, or the budget is spent: then it is starved, not read
 * until the budget frees).
 */
static ssize_t
client_fill(struct client *c, size_t max)
{
	struct evbuffer_iovec vec;
	size_t allow = client_allowance(c), have;
	ssize_t n;

	if (c->state == CLIENT_HELLO) {
		have = evbuffer_get_length(c->in);
		if (have >= RELOG_HELLO_FRAME_MAX + RELOG_FRAME_HEADER_SIZE)
			allow = 0;
		else if (allow > RELOG_HELLO_FRAME_MAX +
		    RELOG_FRAME_HEADER_SIZE - have)
			allow = RELOG_HELLO_FRAME_MAX +
			    RELOG_FRAME_HEADER_SIZE - have;
	}
	if (c == client_exempt && allow < client_frame_left(c))
		allow = client_frame_left(c);
	if (allow < max)
		max = allow;
	if (max == 0) {
		if (!c->starved && c != client_exempt) {
			c->starved = 1;
			TAILQ_INSERT_TAIL(&client_starved, c, starved_entry);
			client_reading(c, 0);
			client_exempt_pick();
		}
		errno = EAGAIN;
		return (-1);
	}
	if (evbuffer_reserve_space(c->in, (ev_ssize_t)max, &vec, 1) < 1)
		fatalx("out of memory for a connection");
	n = client_recv(c, vec.iov_base, max < vec.iov_len ? max :
	    vec.iov_len);
	vec.iov_len = n > 0 ? (size_t)n : 0;
	evbuffer_commit_space(c->in, &vec, 1);
	client_account(c);
	return (n);
}

/*
 * The peer hung up, but its protocol keeps the connection for a while (a
 * ring to drain): read it no more, let go of its input and its timers, and
 * write it nothing.
 */
static void
client_hangup(struct client *c)
{
	c->hungup = 1;
	client_reading(c, 0);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	evtimer_del(c->timer);
	if (c->starved) {
		TAILQ_REMOVE(&client_starved, c, starved_entry);
		c->starved = 0;
	}
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	client_account(c);
	if (c == client_exempt)
		client_exempt_end();
}

/*
 * The peer is gone (end of file, or error): say so, unless it was expected,
 * and free it, or leave it to its protocol if that has work left.
 */
static void
client_lost(struct client *c, int error)
{
	size_t left = evbuffer_get_length(c->in);

	if (c->hungup)
		return;
	if (error != 0)
		log_warn("%s: %s", client_name(c), strerror(error));
	else if (c->state != CLIENT_CLOSING && left != 0)
		log_warn("%s closed in the middle of a frame (%zu bytes lost)",
		    client_name(c), left);
	else if (c->state == CLIENT_READY)
		log_info("runner %s disconnected after %llu records",
		    c->origin.runner_id, (unsigned long long)c->records);
	if (c->state == CLIENT_READY && c->ops->hangup != NULL &&
	    c->ops->hangup(c)) {
		client_hangup(c);
		return;
	}
	client_free(c);
}

/*
 * Stop reading a client that is not taking its replies, or whose records'
 * sinks are full or acks owed too many (the ledger resumes it).
 */
static void
client_throttle(struct client *c)
{
	if (c->state != CLIENT_READY)
		return;
	if (ack_throttled(c->origin.acks)) {
		client_reading(c, 0);
		log_debug("%s: sinks full or acks owed", client_name(c));
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
	size_t held;
	int error = 0;

	(void)fd;
	if (what & EV_TIMEOUT) {
		log_warn("%s sent nothing for %zu s: dropped", client_name(c),
		    relogd_config.idle_timeout_s);
		client_free(c);
		return;
	}
	if (what & EV_READ) {
		/* The files hold too much not written: take nothing more. */
		if (c->state == CLIENT_READY &&
		    ack_overloaded(c->origin.acks)) {
			client_reading(c, 0);
			log_debug("%s: sinks full, not reading", client_name(c));
			return;
		}
		n = client_fill(c, CLIENT_READ_MAX);
		if (n < 0 && errno == EBADMSG) {
			log_peer("%s passed %s: dropped", client_name(c),
			    client_fds_refused);
			client_free(c);
			return;
		}
		error = n < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
		if (error)
			error = errno;
	}
	held = evbuffer_get_length(c->in);
	ack_read_begin(c->origin.acks);
	c->ops->process(c);
	client_account(c);
	plugin_flush_all();
	ack_progress();
	if (n == 0 || error != 0) {
		client_lost(c, error);
		return;
	}
	/* A frame taken: the exempt one goes back to the budget's rules. */
	if (c == client_exempt && evbuffer_get_length(c->in) < held)
		client_exempt_end();
	client_throttle(c);
}

/* Output fell below half of the limit, or all of it is written. */
static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (c->hungup)
		return;
	if (c->state == CLIENT_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
		    !client_owed(c))
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
		if (c->hungup || ioctl(c->fd, FIONREAD, &queued) != 0)
			queued = 0;
		ack_read_begin(c->origin.acks);
		while (c->state != CLIENT_CLOSING && queued > 0 &&
		    (n = client_fill(c, (size_t)queued < CLIENT_READ_MAX ?
		    (size_t)queued : CLIENT_READ_MAX)) > 0) {
			queued -= (int)n;
			c->ops->process(c);
			client_account(c);
		}
		if (c->ops->stop != NULL && c->state != CLIENT_CLOSING)
			c->ops->stop(c);
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

/* Queue bytes (a whole frame) to the client (none once it hung up). */
void
client_send(struct client *c, const char *data, size_t len)
{
	if (!c->hungup)
		bufferevent_write(c->bev, data, len);
}

/* How many connections there are. */
size_t
client_count(void)
{
	return (client_total);
}

/* Bytes of input every connection holds together (max_buffered's). */
size_t
client_buffered_total(void)
{
	return (client_buffered);
}

/*
 * Write a client's replies as far as its socket takes them now. Returns 1
 * if some are left for when it takes more, or 0 (all written, or the peer
 * is gone: they are dropped).
 */
static int
client_write_now(struct client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int n;

	if (c->hungup)
		return (0);
	/*
	 * A socket bufferevent freezes the start of its output so that only
	 * it writes there: evbuffer_write fails (-1, errno as it was) and
	 * writes nothing. Its writes are off: relogd writes them itself.
	 */
	evbuffer_unfreeze(out, 1);
	while (evbuffer_get_length(out) != 0) {
		if ((n = evbuffer_write(out, c->fd)) > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR))
			return (1);
		evbuffer_drain(out, evbuffer_get_length(out));
	}
	return (0);
}

/*
 * At exit, before the connections close: write the replies the drain held
 * back (it turned writes off) and the answers settled since, waiting up to
 * CLIENT_CLOSE_TIMEOUT_S for peers slow to read them (a socket holds only
 * a few hundred small replies). A Fluent client whose ack is lost sends
 * its chunk again, and it is written twice: relogd keeps no chunk ids.
 */
static void
client_write_all(void)
{
	int64_t deadline = relogd_now_ms(CLOCK_MONOTONIC) +
	    CLIENT_CLOSE_TIMEOUT_S * 1000, now;
	struct pollfd *pfd;
	struct client *c;
	size_t n;

	if ((pfd = calloc(client_total + 1, sizeof *pfd)) == NULL)
		fatal("calloc");
	for (;;) {
		n = 0;
		TAILQ_FOREACH(c, &clients, entry) {
			/* A tail is owed no answers: it is not waited for. */
			if (!client_write_now(c) || c->tail != NULL)
				continue;
			pfd[n].fd = c->fd;
			pfd[n++].events = POLLOUT;
		}
		now = relogd_now_ms(CLOCK_MONOTONIC);
		if (n == 0 || now >= deadline ||
		    (poll(pfd, n, (int)(deadline - now)) < 0 && errno != EINTR))
			break;
	}
	free(pfd);
	if (n != 0)
		log_warn("%zu connection%s did not read %s last replies in "
		    "%d s: what those answer may be sent again", n,
		    n == 1 ? "" : "s", n == 1 ? "its" : "their",
		    CLIENT_CLOSE_TIMEOUT_S);
}

/* Free every client (at exit, after the sinks were drained). */
void
client_free_all(void)
{
	struct client *c;

	ack_progress();
	client_write_all();
	client_gone_cb = NULL;
	while ((c = TAILQ_FIRST(&clients)) != NULL)
		client_free(c);
}
