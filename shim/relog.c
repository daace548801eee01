/*
 * librelog's public API: opening a handle, queueing records, flushing and
 * closing. Records go into a ring shared with relogd (shm-ring.c) with no
 * lock; the flusher thread (flusher.c) hands the ring over and sends
 * batches when relogd does not read it itself.
 */
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto-ring.h"
#include "relog-ring.h"
#include "shim.h"
#include "shm-ring.h"

static const char *const relog_default_prefixes[] = {
	RELOG_PLUGIN_PREFIX, RELOG_RUNTIME_PREFIX, RELOG_MAIBOT_PREFIX, NULL
};

/*
 * Every open handle, for fork(): the child starts each with an empty ring,
 * no connection, and no flusher until it next uses the handle (it never
 * touches the parent's thread). relog_fork_gen counts forks in this line
 * of processes; a handle whose fork_gen differs has no flusher here.
 */
static int relog_fork_gen;
static pthread_mutex_t relog_all_lock = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(, relog) relog_all = LIST_HEAD_INITIALIZER(relog_all);
static pthread_once_t relog_atfork_once = PTHREAD_ONCE_INIT;

/* An option string: the given one, else the environment, else def. */
static char *
relog_opt_str(const char *given, const char *env, const char *def)
{
	const char *v = given;

	if (v == NULL)
		v = getenv(env);
	if (v == NULL)
		v = def;
	return (v != NULL ? strdup(v) : NULL);
}

/*
 * An option number: the given one if not 0, else the environment, else def.
 * Returns -1 if the environment holds no number in [1, max].
 */
static int
relog_opt_num(size_t given, const char *env, size_t def, size_t max,
    size_t *out)
{
	const char *v;
	char *end;
	unsigned long long n;

	if (given != 0) {
		*out = given;
		return (given <= max ? 0 : -1);
	}
	v = getenv(env);
	if (v == NULL || *v == '\0') {
		*out = def;
		return (0);
	}
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0' || n == 0 || n > max)
		return (-1);
	*out = (size_t)n;
	return (0);
}

/* A prefix of up to 16 bytes as words and masks (relog_wanted). */
static void
relog_prefix_key(uint64_t key[4], const char *prefix, size_t len)
{
	unsigned char bytes[16] = { 0 }, mask[16] = { 0 };

	if (len > sizeof bytes)
		return;
	memcpy(bytes, prefix, len);
	memset(mask, 0xff, len);
	memcpy(&key[0], bytes, 8);
	memcpy(&key[1], mask, 8);
	memcpy(&key[2], bytes + 8, 8);
	memcpy(&key[3], mask + 8, 8);
}

/* Copy the prefix list. Returns 0 or -1. */
static int
relog_set_prefixes(struct relog *h, const char *const *prefixes)
{
	struct relog_prefix *p;
	size_t n = 0, i;

	if (prefixes == NULL)
		prefixes = relog_default_prefixes;
	while (prefixes[n] != NULL)
		n++;
	if (n == 0)
		return (0);
	if ((h->prefixes = calloc(n, sizeof *h->prefixes)) == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		p = &h->prefixes[i];
		if ((p->text = strdup(prefixes[i])) == NULL)
			return (-1);
		h->nprefixes++;
		p->len = strlen(p->text);
		relog_prefix_key(p->key, p->text, p->len);
	}
	return (0);
}

/*
 * Copy the ids of the plugins the runner hosts (for its hello): the given
 * NULL-terminated list, else RELOG_PLUGIN_IDS (separated by commas or
 * spaces). Returns 0, ENOMEM, or EINVAL when a list is too long.
 */
static int
relog_set_plugin_ids(struct relog *h, const char *const *ids)
{
	const char *env = getenv("RELOG_PLUGIN_IDS"), *p;
	size_t n = 0, len;

	h->plugin_ids = calloc(RELOG_HELLO_PLUGINS_MAX,
	    sizeof *h->plugin_ids);
	if (h->plugin_ids == NULL)
		return (ENOMEM);
	for (; ids != NULL && ids[n] != NULL; n++) {
		if (n == RELOG_HELLO_PLUGINS_MAX)
			return (EINVAL);
		h->plugin_ids[n].ptr = strdup(ids[n]);
		if (h->plugin_ids[n].ptr == NULL)
			return (ENOMEM);
		h->plugin_ids[n].len = strlen(ids[n]);
	}
	for (p = ids == NULL ? env : NULL; p != NULL && *p != '\0';) {
		p += strspn(p, ", ");
		if ((len = strcspn(p, ", ")) == 0)
			break;
		if (n == RELOG_HELLO_PLUGINS_MAX)
			return (EINVAL);
		if ((h->plugin_ids[n].ptr = strndup(p, len)) == NULL)
			return (ENOMEM);
		h->plugin_ids[n++].len = len;
		p += len;
	}
	h->nplugin_ids = (uint32_t)n;
	return (0);
}

/* Is this a plugin id a hello may name: safe, and none of relogd's own? */
static int
relog_plugin_id_valid(const char *id, size_t len)
{
	return (proto_id_valid(id, len) && !proto_id_own_log(id, len));
}

/*
 * Are the runner's and plugins' ids names relogd takes? It refuses a hello
 * with any other, every time: better said at once.
 */
static int
relog_ids_valid(const struct relog *h)
{
	uint32_t i;

	if (!proto_id_valid(h->runner_id, strlen(h->runner_id)) ||
	    (h->plugin_id != NULL &&
	    !relog_plugin_id_valid(h->plugin_id, strlen(h->plugin_id))))
		return (0);
	for (i = 0; i < h->nplugin_ids; i++) {
		if (!relog_plugin_id_valid(h->plugin_ids[i].ptr,
		    h->plugin_ids[i].len))
			return (0);
	}
	return (1);
}

/* Free a handle's memory (the thread is not running). */
static void
relog_free(struct relog *h)
{
	size_t i;

	for (i = 0; i < h->nprefixes; i++)
		free(h->prefixes[i].text);
	free(h->prefixes);
	for (i = 0; h->plugin_ids != NULL && i < RELOG_HELLO_PLUGINS_MAX;
	    i++)
		free((char *)h->plugin_ids[i].ptr);
	free(h->plugin_ids);
	free(h->socket_path);
	free(h->plugin_id);
	free(h->session_token);
	free(h->runner_id);
	shm_ring_destroy(h->shm);
	proto_ring_close(h->cons);
	if (h->wake_tx >= 0)
		close(h->wake_tx);
	if (h->wake_rx >= 0)
		close(h->wake_rx);
	if (h->win_slots != NULL)
		slot_free_n(h->win_slots, h->batch * SHIM_WINDOW);
	free(h->win_slots);
	msgpack_sbuffer_destroy(&h->out);
	free(h);
}

/* A condition variable timed on the monotonic clock. */
static void
relog_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

/* Before fork(): hold every handle so none is half-changed in the child. */
static void
relog_atfork_prepare(void)
{
	struct relog *h;

	pthread_mutex_lock(&relog_all_lock);
	LIST_FOREACH(h, &relog_all, all_entry) {
		pthread_mutex_lock(&h->pack_lock);
		pthread_mutex_lock(&h->lock);
	}
}

/* After fork(), in the parent. */
static void
relog_atfork_parent(void)
{
	struct relog *h;

	LIST_FOREACH(h, &relog_all, all_entry) {
		pthread_mutex_unlock(&h->lock);
		pthread_mutex_unlock(&h->pack_lock);
	}
	pthread_mutex_unlock(&relog_all_lock);
}

/*
 * A new wake socket pair: the ring's wake callback sends on wake_tx, and
 * wake_rx goes to relogd with the ring. Returns 0 or -1.
 */
static int
relog_wake_pair(struct relog *h)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
	    sv) != 0)
		return (-1);
	h->wake_tx = sv[0];
	h->wake_rx = sv[1];
	return (0);
}

/*
 * After fork(), in the child, the only thread: every handle gets a ring of
 * its own (the parent's stays the parent's: its records are not the
 * child's to send), new wake sockets and no connection. The flusher's
 * buffer was not being changed (pack_lock), so it is simply emptied. If a
 * ring cannot be made here, the child's records are dropped and counted.
 */
static void
relog_atfork_child(void)
{
	struct relog *h;

	relog_fork_gen++;
	shim_clock_forked();
	LIST_FOREACH(h, &relog_all, all_entry) {
		shm_ring_reset(h->shm);
		proto_ring_close(h->cons);
		h->cons = NULL;
		close(h->wake_tx);
		close(h->wake_rx);
		h->wake_tx = h->wake_rx = -1;
		relog_wake_pair(h);
		__atomic_store_n(&h->ring_mode, 0, __ATOMIC_RELAXED);
		h->flush_waiters = h->tried = 0;
		h->flusher_idle = h->flush_wanted = 0;
		flusher_reset(h);
		relog_cond_init(&h->wake);
		relog_cond_init(&h->sent_cond);
		pthread_mutex_unlock(&h->lock);
		pthread_mutex_unlock(&h->pack_lock);
	}
	pthread_mutex_unlock(&relog_all_lock);
}

/* Register the fork handlers, once per process. */
static void
relog_atfork_register(void)
{
	pthread_atfork(relog_atfork_prepare, relog_atfork_parent,
	    relog_atfork_child);
}

/* Has this process forked since the handle's flusher started? */
static inline int
relog_forked(const struct relog *h)
{
	return (__atomic_load_n(&h->fork_gen, __ATOMIC_ACQUIRE) !=
	    relog_fork_gen);
}

/*
 * The ring's wake callback, in the pushing thread, once per arming: one
 * datagram to relogd when it reads the ring, else a signal to the flusher,
 * which reads it then (sending batches). Never waits: if the flusher holds
 * its lock it is awake, or its timer reads the ring within an interval.
 */
static void
relog_wake(void *arg)
{
	struct relog *h = arg;

	if (__atomic_load_n(&h->ring_mode, __ATOMIC_RELAXED)) {
		(void)send(h->wake_tx, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		return;
	}
	if (pthread_mutex_trylock(&h->lock) != 0)
		return;
	if (h->flusher_idle) {
		h->flusher_idle = 0;
		pthread_cond_signal(&h->wake);
	}
	pthread_mutex_unlock(&h->lock);
}

/*
 * Say hello, passing the ring, from the caller's thread (flusher_greet),
 * until the monotonic ms until, holding h->lock: the new flusher waits for
 * it before it touches the connection. When relogd is up, the ring is in
 * its hands before the first record, even if we die before it answers or
 * before the flusher ever runs. When it is down, nothing is to be waited
 * for.
 */
static void
relog_greet(struct relog *h, int64_t until)
{
	if (flusher_greet(h, until) != 0)
		h->tried = 1;
}

/*
 * Wait, until the monotonic ms until at most, for relogd's answer to the
 * hello (read by the flusher): how it takes the records is known then.
 */
static void
relog_open_wait(struct relog *h, int64_t until)
{
	struct timespec ts = shim_abstime(until);

	pthread_mutex_lock(&h->lock);
	while (!h->tried && pthread_cond_timedwait(&h->sent_cond, &h->lock,
	    &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&h->lock);
}

/*
 * In a forked child, say hello and start the handle's own flusher the
 * first time it is used, and wait for the answer as relog_open does: when
 * relogd is up, the child's ring is in its hands before the child's first
 * record (a child that dies at once lost them). Returns 0 or an errno.
 */
static int
relog_after_fork(struct relog *h)
{
	int64_t until = shim_now_ms() + (int64_t)h->open_wait_ms;
	int error = 0;

	pthread_mutex_lock(&h->lock);
	if (h->fork_gen != relog_fork_gen) {
		/* The flusher waits for our lock: the hello goes first. */
		error = pthread_create(&h->thread, NULL, flusher_main, h);
		if (error == 0) {
			relog_greet(h, until);
			__atomic_store_n(&h->fork_gen, relog_fork_gen,
			    __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&h->lock);
	if (error == 0)
		relog_open_wait(h, until);
	return (error);
}

/*
 * The lanes a ring of lanes of slots slots gets by default:
 * SHIM_LANES_DEFAULT, or 1 where one CPU runs every thread (no two of them
 * push at the same time), halved while they would pass
 * SHIM_LANES_SLOTS_MAX slots in all (what relogd maps by default). More
 * lanes than CPUs still pay: threads sharing lane 0 contend whenever they
 * run on different CPUs, and swap atomic words that a thread in a lane of
 * its own stores. A lane's pages are allocated only when a thread takes
 * it. On 2 CPUs make bench's 4 producers (and the thread that opened the
 * handle) had p99s of 339 and 348 ns in 4 lanes (two producers in lane
 * 0), 152 to 177 ns in 8.
 */
static size_t
relog_default_lanes(size_t slots)
{
	size_t lanes = sysconf(_SC_NPROCESSORS_ONLN) > 1 ?
	    SHIM_LANES_DEFAULT : 1;

	while (lanes > 1 && lanes * slots > SHIM_LANES_SLOTS_MAX)
		lanes /= 2;
	return (lanes);
}

/* Open a handle, start its flusher, and give it a moment to connect. */
RELOG_API relog_t *
relog_open(const struct relog_opts *opts)
{
	struct relog_opts o;
	struct relog *h;
	char runner[64];
	size_t queue_max, interval, batch, open_wait, lanes;
	uint32_t slots;
	int64_t until;
	int error;

	memset(&o, 0, sizeof o);
	if (opts != NULL) {
		if (opts->sz == 0 || opts->sz > sizeof o) {
			errno = EINVAL;
			return (NULL);
		}
		memcpy(&o, opts, opts->sz);
	}
	if (relog_opt_num(o.queue_max, "RELOG_QUEUE_MAX",
	    SHIM_QUEUE_MAX_DEFAULT, 1u << 24, &queue_max) != 0 ||
	    relog_opt_num(o.flush_interval_ms, "RELOG_FLUSH_INTERVAL_MS",
	    SHIM_FLUSH_INTERVAL_DEFAULT, 3600 * 1000, &interval) != 0 ||
	    relog_opt_num(o.flush_batch, "RELOG_FLUSH_BATCH",
	    SHIM_FLUSH_BATCH_DEFAULT, 4096, &batch) != 0 ||
	    relog_opt_num(0, "RELOG_OPEN_WAIT_MS", SHIM_OPEN_WAIT_MS_DEFAULT,
	    10000, &open_wait) != 0) {
		errno = EINVAL;
		return (NULL);
	}
	slots = shm_ring_slots(queue_max);
	if (relog_opt_num(o.lanes, "RELOG_LANES", relog_default_lanes(slots),
	    RELOG_RING_LANES_MAX, &lanes) != 0 || (lanes & (lanes - 1)) != 0) {
		errno = EINVAL;
		return (NULL);
	}

	h = calloc(1, sizeof *h);
	if (h == NULL)
		return (NULL);
	h->fd = h->wake_tx = h->wake_rx = -1;
	h->batch = batch;
	h->interval_ms = (unsigned)interval;
	h->open_wait_ms = open_wait;
	msgpack_sbuffer_init(&h->out);
	snprintf(runner, sizeof runner, "runner-%ld", (long)getpid());
	h->socket_path = relog_opt_str(o.socket_path, "RELOG_SOCKET",
	    RELOG_SOCKET_DEFAULT);
	h->plugin_id = relog_opt_str(o.plugin_id, "RELOG_PLUGIN", NULL);
	h->session_token = relog_opt_str(o.session_token, "RELOG_TOKEN", "");
	h->runner_id = relog_opt_str(o.runner_id, "RELOG_RUNNER_ID", runner);
	h->win_slots = calloc(batch * SHIM_WINDOW, sizeof *h->win_slots);
	if (h->socket_path == NULL || h->session_token == NULL ||
	    h->runner_id == NULL || h->win_slots == NULL ||
	    relog_set_prefixes(h, o.prefixes) != 0) {
		relog_free(h);
		errno = ENOMEM;
		return (NULL);
	}
	error = shm_ring_create_lanes(&h->shm, slots, (unsigned)lanes,
	    relog_wake, h);
	if (error != 0 || relog_wake_pair(h) != 0) {
		relog_free(h);
		errno = error != 0 ? -error : EMFILE;
		return (NULL);
	}
	if (shm_ring_fd(h->shm) < 0)
		conn_say(shim_now_ms(), "relog: no memfd for the ring of runner "
		    "%s: relogd gets batches, and a crash loses what was not "
		    "sent\n", h->runner_id);
	if ((error = relog_set_plugin_ids(h, o.plugin_ids)) != 0) {
		relog_free(h);
		errno = error;
		return (NULL);
	}
	if (h->plugin_id != NULL && *h->plugin_id == '\0') {
		free(h->plugin_id);
		h->plugin_id = NULL;
	}
	if (!relog_ids_valid(h)) {
		relog_free(h);
		errno = EINVAL;
		return (NULL);
	}

	flusher_reset(h);
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->pack_lock, NULL);
	relog_cond_init(&h->wake);
	relog_cond_init(&h->sent_cond);
	pthread_once(&relog_atfork_once, relog_atfork_register);
	until = shim_now_ms() + (int64_t)open_wait;
	/*
	 * The flusher waits for h->lock, so the hello goes first; and a fork
	 * waits for relog_all_lock, so no child is made with our socket but
	 * the handle's (relog_atfork_child closes it).
	 */
	pthread_mutex_lock(&relog_all_lock);
	pthread_mutex_lock(&h->lock);
	h->fork_gen = relog_fork_gen;
	error = pthread_create(&h->thread, NULL, flusher_main, h);
	if (error == 0) {
		relog_greet(h, until);
		LIST_INSERT_HEAD(&relog_all, h, all_entry);
	}
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_unlock(&relog_all_lock);
	if (error != 0) {
		pthread_cond_destroy(&h->sent_cond);
		pthread_cond_destroy(&h->wake);
		pthread_mutex_destroy(&h->pack_lock);
		pthread_mutex_destroy(&h->lock);
		relog_free(h);
		errno = error;
		return (NULL);
	}
	relog_open_wait(h, until);
	return (h);
}

/*
 * Is this logger name (len bytes) forwarded? A name of 16 bytes or more
 * is compared with a prefix of up to 16 in two words, under masks: no
 * call, where strncmp was a tenth of an emit.
 */
static inline __attribute__((always_inline)) int
relog_wanted(const struct relog *h, const char *name, size_t len)
{
	const struct relog_prefix *p = h->prefixes, *end = p + h->nprefixes;
	uint64_t a = 0, b = 0;

	if (p == end)
		return (1);
	if (len >= 16) {
		memcpy(&a, name, 8);
		memcpy(&b, name + 8, 8);
	}
	for (; p < end; p++) {
		if (p->len > len)
			continue;
		if (len >= 16 && p->len <= 16) {
			if (((a ^ p->key[0]) & p->key[1]) == 0 &&
			    ((b ^ p->key[2]) & p->key[3]) == 0)
				return (1);
		} else if (memcmp(name, p->text, p->len) == 0)
			return (1);
	}
	return (0);
}

/*
 * Queue a record whose logger passed the filter; msg need not end in NUL.
 * The ring's copy, with no lock, is all the caller's thread pays for; a
 * record the ring could not keep is counted there (relog_dropped).
 */
static inline __attribute__((always_inline)) int
relog_push(struct relog *h, const struct relog_entry *e, const char *name,
    size_t name_len, const char *msg, size_t msg_len)
{
	struct shm_ring_record rec;
	const char *exc = e->exception_text;

	rec.timestamp_ms = e->timestamp_ms != 0 ? e->timestamp_ms :
	    shim_wall_ms();
	rec.level = e->level;
	rec.name = name;
	rec.name_len = name_len;
	rec.msg = msg;
	rec.msg_len = msg_len;
	/* Most records have none: no call for it. */
	rec.exc = exc != NULL ? exc : "";
	rec.exc_len = exc != NULL && exc[0] != '\0' ? strlen(exc) : 0;
	rec.color = e->color;
	rec.color_len = e->color != NULL ? strlen(e->color) : 0;

	if (relog_forked(h) && relog_after_fork(h) != 0)
		return (-EAGAIN);
	(void)shm_ring_push(h->shm, &rec);
	return (0);
}

/* Queue a record. */
RELOG_API int
relog_emit(relog_t *h, const struct relog_entry *entry)
{
	struct relog_entry e;
	const char *name, *msg;
	size_t name_len;

	if (h == NULL || entry == NULL || entry->sz == 0 ||
	    entry->sz > sizeof e)
		return (-EINVAL);
	/* An entry of an older, shorter layout: the rest taken as zeros. */
	if (entry->sz < sizeof e) {
		memset(&e, 0, sizeof e);
		memcpy(&e, entry, entry->sz);
		entry = &e;
	}
	name = entry->logger_name != NULL ? entry->logger_name : "";
	msg = entry->message != NULL ? entry->message : "";
	name_len = strlen(name);
	if (!relog_wanted(h, name, name_len))
		return (1);
	return (relog_push(h, entry, name, name_len, msg, strlen(msg)));
}

/* Queue a record with a printf-style message. */
RELOG_API int
relog_log(relog_t *h, int level, const char *logger_name, const char *fmt,
    ...)
{
	struct relog_entry e = { .sz = sizeof e, .level = level };
	char small[1024], *msg = small;
	va_list ap;
	size_t kept, name_len;
	int len, ret;

	if (h == NULL || fmt == NULL)
		return (-EINVAL);
	e.logger_name = logger_name != NULL ? logger_name : "";
	name_len = strlen(e.logger_name);
	if (!relog_wanted(h, e.logger_name, name_len))
		return (1);
	va_start(ap, fmt);
	len = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (len < 0)
		return (-EINVAL);
	if ((size_t)len >= sizeof small) {
		/*
		 * Rare: a long message costs one allocation, of what the ring
		 * keeps at most. Out of memory, the small buffer's text.
		 */
		kept = (size_t)len > RELOG_RING_TEXT_MAX ? RELOG_RING_TEXT_MAX :
		    (size_t)len;
		if ((msg = malloc(kept + 1)) != NULL) {
			va_start(ap, fmt);
			vsnprintf(msg, kept + 1, fmt, ap);
			va_end(ap);
		} else {
			msg = small;
			kept = sizeof small - 1;
		}
		/* Cut shorter and marked, as the ring marks what it cuts. */
		if (kept < (size_t)len) {
			kept = proto_utf8_cut(msg, kept, kept -
			    PROTO_CUT_MARK_MAX);
			kept += proto_cut_mark(msg + kept, (size_t)len - kept);
		}
		len = (int)kept;
	}
	ret = relog_push(h, &e, e.logger_name, name_len, msg, (size_t)len);
	if (msg != small)
		free(msg);
	return (ret);
}

/* Wait until everything queued before the call is delivered. */
RELOG_API int
relog_flush(relog_t *h, int timeout_ms)
{
	struct timespec until;
	uint64_t target[RELOG_RING_LANES_MAX];
	int ret = 0;

	if (h == NULL)
		return (-EINVAL);
	if (relog_forked(h) && relog_after_fork(h) != 0)
		return (-EAGAIN);
	until = shim_abstime(shim_now_ms() +
	    (timeout_ms > 0 ? timeout_ms : 0));
	shm_ring_heads(h->shm, target);
	pthread_mutex_lock(&h->lock);
	h->flush_wanted = 1;
	pthread_cond_signal(&h->wake);
	h->flush_waiters++;
	while (!shm_ring_passed(h->shm, target)) {
		if (pthread_cond_timedwait(&h->sent_cond, &h->lock,
		    &until) == ETIMEDOUT) {
			if (!shm_ring_passed(h->shm, target))
				ret = -ETIMEDOUT;
			break;
		}
	}
	h->flush_waiters--;
	pthread_mutex_unlock(&h->lock);
	return (ret);
}

/* Stop the flusher, send what is left within the timeout, free. */
RELOG_API int
relog_close(relog_t *h, int timeout_ms)
{
	int ret;

	if (h == NULL)
		return (-EINVAL);
	pthread_mutex_lock(&relog_all_lock);
	LIST_REMOVE(h, all_entry);
	pthread_mutex_unlock(&relog_all_lock);
	pthread_mutex_lock(&h->lock);
	/* Atomic: the flusher also reads these in the middle of I/O. */
	__atomic_store_n(&h->close_deadline,
	    shim_now_ms() + (timeout_ms > 0 ? timeout_ms : 0), __ATOMIC_RELEASE);
	__atomic_store_n(&h->closing, 1, __ATOMIC_RELEASE);
	h->flush_wanted = 1;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);

	/* The flusher bounds all its waits by close_deadline. */
	if (!relog_forked(h))
		pthread_join(h->thread, NULL);
	ret = h->close_lost ? -EIO : h->close_fallback ? -ETIMEDOUT : 0;
	pthread_cond_destroy(&h->sent_cond);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->pack_lock);
	pthread_mutex_destroy(&h->lock);
	relog_free(h);
	return (ret);
}

/* Records the ring lost so far (shm_ring_dropped says which kinds). */
RELOG_API uint64_t
relog_dropped(const relog_t *h)
{
	if (h == NULL)
		return (0);
	return (shm_ring_dropped(h->shm));
}
