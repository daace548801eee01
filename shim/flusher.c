/*
 * The flusher thread: connects to relogd (and reconnects with backoff),
 * says hello and hands it the ring, then keeps out of the way: relogd
 * reads the ring itself, and the flusher only asks it, for relog_flush and
 * relog_close, to say once it has written up to a position
 * (runner.ring_sync), and notices when the connection ends. A relogd that
 * does not take the ring gets batches instead (batch.c).
 *
 * All I/O is non-blocking with poll, and every wait is bounded by the close
 * deadline once relog_close has been called (conn.c).
 */
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "relog-ring.h"
#include "shim.h"
#include "shm-ring.h"

/* Pick a new instance id: relogd tells this process's seqs by it. */
static void
flusher_new_instance(struct relog *h)
{
	uint64_t v;

	if (getrandom(&v, sizeof v, GRND_NONBLOCK) != sizeof v)
		v = (uint64_t)shim_wall_ms() ^ (uint64_t)getpid() << 32 ^
		    (uint64_t)(uintptr_t)h;
	snprintf(h->instance, sizeof h->instance, "%016llx",
	    (unsigned long long)v);
}

/*
 * Start as a new instance with no connection and nothing sent (at open,
 * and in a forked child, where what was sent is the parent's).
 */
void
flusher_reset(struct relog *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->hello_id = 0;
	h->seq = 0;
	h->dropped_told = 0;
	h->fhead = h->fcount = h->in_len = h->in_off = 0;
	h->next_connect = 0;
	h->backoff_ms = SHIM_BACKOFF_FIRST_MS;
	msgpack_sbuffer_clear(&h->out);
	flusher_new_instance(h);
}

/* relogd refused the hello: say so once a minute, not at every retry. */
static void
flusher_refused(struct relog *h, const struct shim_reply *r)
{
	char reason[512];

	if (h->refused_told != 0 && shim_now_ms() - h->refused_told < 60000)
		return;
	h->refused_told = shim_now_ms();
	conn_say(h->refused_told, "relog: relogd refused runner %s: %s\n",
	    h->runner_id, conn_shown(reason, sizeof reason, r->reason));
}

/*
 * Say hello, passing the ring (its answer is read by flusher_answer).
 * Returns 0 or -1.
 */
static int
flusher_hello(struct relog *h, int64_t deadline)
{
	int fds[2] = { shm_ring_fd(h->shm), h->wake_rx };
	int nfds = fds[0] >= 0 && fds[1] >= 0 ? 2 : 0;
	struct proto_hello hello = {
		.runner_id = proto_cstr(h->runner_id),
		.sdk_version = proto_cstr(SHIM_SDK_VERSION),
		.session_token = proto_cstr(h->session_token),
		.plugin_id = proto_cstr(h->plugin_id),
		.instance = proto_cstr(h->instance),
		.plugin_ids = h->plugin_ids,
		.nplugin_ids = h->nplugin_ids,
		.ring_version = nfds != 0 ? RELOG_RING_VERSION : 0,
	};
	msgpack_sbuffer out;
	msgpack_packer pk;
	int64_t id;
	size_t start;
	int ret = -1;

	/* Until this relogd says it looks again after arming: fenced. */
	shm_ring_rechecked(h->shm, false);
	/*
	 * A buffer of its own, not out (under pack_lock, which fork takes
	 * before the handle's lock, held here after a fork).
	 */
	msgpack_sbuffer_init(&out);
	msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
	start = conn_begin_frame(h, &pk, RELOG_METHOD_HELLO, &id);
	proto_pack_hello(&pk, &hello);
	proto_pack_no_error(&pk);
	if (proto_frame_end(&out, start, RELOG_FRAME_MAX_DEFAULT) == 0 &&
	    conn_send(h, out.data, out.size, fds, nfds, deadline) == 0) {
		h->hello_id = id;
		ret = 0;
	}
	msgpack_sbuffer_destroy(&out);
	return (ret);
}

/*
 * Read relogd's answer to the hello: accepted, and how. Returns 1 if
 * relogd reads the ring itself, 0 if it wants batches, -1 on failure.
 */
static int
flusher_answer(struct relog *h, int64_t deadline)
{
	int64_t id = h->hello_id;
	struct shim_reply r;
	char reason[512];
	ssize_t len;

	h->hello_id = 0;
	if ((len = conn_reply(h, deadline)) < 0)
		return (-1);
	if (conn_parse_reply(conn_reply_body(h), (size_t)len, &r) != 0 ||
	    r.request_id != id || !r.accepted) {
		flusher_refused(h, &r);
		return (-1);
	}
	conn_reply_done(h, (size_t)len);
	if (r.ring == 0 && !h->ring_refused_told) {
		conn_say(shim_now_ms(), "relog: relogd did not take the ring "
		    "of runner %s (%s); sending batches\n", h->runner_id,
		    conn_shown(reason, sizeof reason, r.ring_reason));
		h->ring_refused_told = 1;
	}
	if (shm_ring_fd(h->shm) >= 0 && h->wake_rx >= 0 && r.ring == 1) {
		shm_ring_rechecked(h->shm, r.ring_recheck == 1);
		return (1);
	}
	return (0);
}

/* The first connect was tried: relog_open need wait no longer. */
static void
flusher_tried(struct relog *h)
{
	pthread_mutex_lock(&h->lock);
	if (!h->tried) {
		h->tried = 1;
		pthread_cond_broadcast(&h->sent_cond);
	}
	pthread_mutex_unlock(&h->lock);
}

/*
 * Connect and say hello, passing the ring, until the deadline: once it
 * returns 0 the ring is relogd's to read, whatever becomes of us, even
 * before relogd has answered (the descriptor waits in the socket).
 * relog_open calls it in its caller's thread, before the flusher runs,
 * so that a runner that dies at once has handed its ring over however
 * long the flusher waits for a CPU. Returns 0, or -1 with the connection
 * dropped and the next try scheduled.
 */
int
flusher_greet(struct relog *h, int64_t deadline)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (strlen(h->socket_path) >= sizeof sun.sun_path)
		goto fail;
	strcpy(sun.sun_path, h->socket_path);
	h->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (h->fd < 0)
		goto fail;
	/*
	 * A full listen backlog (EAGAIN) leaves the socket unconnected, and no
	 * event says when it has room: try again every millisecond.
	 */
	while (connect(h->fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		if (errno != EAGAIN ||
		    conn_deadline(h, deadline) - shim_now_ms() <= 0)
			goto fail;
		(void)poll(NULL, 0, 1);
	}
	if (flusher_hello(h, deadline) != 0)
		goto fail;
	return (0);

fail:
	h->hello_id = 0;
	conn_drop(h);
	return (-1);
}

/*
 * Connect and say hello, unless relog_open did (flusher_greet), and set up
 * whichever path relogd chose. Returns 0, or -1 with the next try
 * scheduled.
 */
static int
flusher_connect(struct relog *h)
{
	int64_t deadline = shim_now_ms() + SHIM_IO_TIMEOUT_MS;
	int ring;

	if (h->fd < 0 && flusher_greet(h, deadline) != 0) {
		flusher_tried(h);
		return (-1);
	}
	if ((ring = flusher_answer(h, deadline)) < 0)
		goto fail;
	if (ring)
		batch_forget(h);
	else if (batch_start(h) != 0)
		goto fail;
	__atomic_store_n(&h->ring_mode, ring, __ATOMIC_RELAXED);
	h->backoff_ms = SHIM_BACKOFF_FIRST_MS;
	flusher_tried(h);
	return (0);

fail:
	conn_drop(h);
	flusher_tried(h);
	return (-1);
}

/*
 * Closing on a ring relogd reads: has the ring lost records relogd has not
 * said yet, and has close not asked it to (flusher_ring)?
 */
static int
flusher_unsaid(const struct relog *h)
{
	return (h->fd >= 0 && __atomic_load_n(&h->ring_mode,
	    __ATOMIC_RELAXED) && !h->close_said && shim_ring_unsaid(h));
}

/*
 * Ask relogd to answer once it has written every record pushed so far
 * (runner.ring_sync), and wait for the answer until the deadline; replies
 * to nothing asked are skipped. Returns 0 or -1.
 */
static int
flusher_sync(struct relog *h, int64_t deadline)
{
	struct shim_reply r;
	msgpack_packer pk;
	int64_t id;
	ssize_t len;
	size_t start;

	pthread_mutex_lock(&h->pack_lock);
	msgpack_sbuffer_clear(&h->out);
	msgpack_packer_init(&pk, &h->out, msgpack_sbuffer_write);
	start = conn_begin_frame(h, &pk, RELOG_METHOD_RING_SYNC, &id);
	proto_pack_ring_sync(&pk, shim_ring_head(h));
	proto_pack_no_error(&pk);
	proto_frame_end(&h->out, start, RELOG_FRAME_MAX_DEFAULT);
	pthread_mutex_unlock(&h->pack_lock);
	if (conn_send(h, h->out.data, h->out.size, NULL, 0, deadline) != 0)
		return (-1);
	do {
		if ((len = conn_reply(h, deadline)) < 0 ||
		    conn_parse_reply(conn_reply_body(h), (size_t)len,
		    &r) != 0)
			return (-1);
		conn_reply_done(h, (size_t)len);
	} while (r.request_id != id);
	return (0);
}

/*
 * relogd reads the ring: unless someone waits for it to be written, only
 * see that the connection is still up (a reply nobody waits for is
 * skipped). Returns 0, or -1 with the connection dropped.
 */
static int
flusher_ring(struct relog *h, int closing)
{
	int64_t deadline = conn_deadline(h, shim_now_ms() +
	    SHIM_ACK_TIMEOUT_MS);
	ssize_t len;
	int i, waiters, said;

	pthread_mutex_lock(&h->lock);
	waiters = h->flush_waiters != 0;
	pthread_mutex_unlock(&h->lock);
	if (closing || waiters) {
		/*
		 * Closing, also (once) while relogd has yet to say what the
		 * ring lost: it answers once its notice is written (a second
		 * at most), and the ring, with the count, goes with us.
		 */
		said = closing && flusher_unsaid(h);
		if ((shim_ring_behind(h) || said) &&
		    flusher_sync(h, deadline) != 0)
			goto fail;
		if (said)
			h->close_said = 1;
		/* relog_flush looks at the ring's tail again. */
		pthread_mutex_lock(&h->lock);
		pthread_cond_broadcast(&h->sent_cond);
		pthread_mutex_unlock(&h->lock);
		return (0);
	}
	for (i = 0, len = 0; i < SHIM_REPLIES_AT_ONCE; i++) {
		if ((len = conn_reply(h, 0)) <= 0)
			break;
		conn_reply_done(h, (size_t)len);
	}
	if (len >= 0)
		return (0);

fail:
	conn_drop(h);
	return (-1);
}

/*
 * While relogd cannot be reached, say once per attempt how many records the
 * ring had to drop meanwhile (emit never writes anything).
 */
static void
flusher_tell_drops(struct relog *h)
{
	uint64_t dropped = shm_ring_dropped(h->shm);

	if (dropped == h->dropped_told)
		return;
	conn_say(shim_now_ms(), "[LOG-FALLBACK] relog: relogd unreachable "
	    "at %s; %llu records dropped so far\n", h->socket_path,
	    (unsigned long long)dropped);
	h->dropped_told = dropped;
}

/*
 * Connect if it is time (or read the answer to relog_open's hello), then
 * deliver, or see to relogd's reading.
 */
static void
flusher_drain(struct relog *h, int closing)
{
	if (h->fd < 0 || h->hello_id != 0) {
		if (h->fd < 0 && !closing && shim_now_ms() < h->next_connect)
			return;
		if (flusher_connect(h) != 0) {
			flusher_tell_drops(h);
			return;
		}
	}
	if (__atomic_load_n(&h->ring_mode, __ATOMIC_RELAXED))
		flusher_ring(h, closing);
	else
		batch_deliver(h);
}

/* Is there anything relogd has not written yet? */
static int
flusher_pending(const struct relog *h)
{
	return (batch_pending(h) || shim_ring_behind(h));
}

/* The flusher thread. */
void *
flusher_main(void *arg)
{
	struct relog *h = arg;
	struct timespec until;
	int64_t wake_at;
	int closing;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		if (h->closing && ((!flusher_pending(h) &&
		    !flusher_unsaid(h)) || shim_now_ms() >= h->close_deadline))
			break;
		/*
		 * Connected: the timer. Not: the next attempt. A hello
		 * relog_open sent: its answer, now.
		 */
		wake_at = h->hello_id != 0 ? 0 : h->fd < 0 ? h->next_connect :
		    shim_now_ms() + h->interval_ms;
		if (h->closing && h->close_deadline < wake_at)
			wake_at = h->close_deadline;
		until = shim_abstime(wake_at);
		/* The ring's wake callback clears flusher_idle. */
		h->flusher_idle = 1;
		while (!h->flush_wanted && h->flusher_idle) {
			if (pthread_cond_timedwait(&h->wake, &h->lock,
			    &until) == ETIMEDOUT)
				break;
		}
		h->flusher_idle = 0;
		h->flush_wanted = 0;
		closing = h->closing;
		pthread_mutex_unlock(&h->lock);
		flusher_drain(h, closing);
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	if (flusher_pending(h))
		batch_give_up(h);
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	return (NULL);
}
