/*
 * The shared record ring, producer side (the protocol: PROTOCOL.md, "Shared
 * ring"). A thread pushes into a lane of its own (lanes 1 on) while one is
 * free, else into lane 0, which every such thread shares. In lane 0 a push
 * takes positions with one fetch_add on head, claims each slot by a CAS of
 * its seq to WRITING, writes the record in atomic words, then commits the
 * later slots and the first slot last. It never waits: a slot still held
 * by a writer a lap behind is poisoned (that writer leaves it a skip) and
 * the record is given up and counted. In a lane of its own, no other
 * writer races it: head and the seqs are stored, not swapped, but where
 * relogd may be taking an unread record (a CAS decides who counts it) and
 * for the first slot's commit (seq_cst, for the wakeup).
 */
#include <sys/mman.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "relog-ring.h"
#include "shm-ring-int.h"

/*
 * How often a CAS on one seq may fail before a push gives the slot up. Each
 * failure is another side's progress, so this only bounds a push against a
 * consumer that would keep changing a seq under it.
 */
#define SHM_RING_TRIES 64

/* Words of the bitmap of slots a push holds. */
#define SHM_RING_OWNED_WORDS ((RELOG_RING_RECORD_SLOTS_MAX + 63) / 64)

/*
 * A thread's token: its thread id, and above it a number no other thread
 * of this process had, so that a thread whose id is an ended thread's is
 * not taken for it. 0 until its first choice of a lane; made anew in a
 * forked child, whose thread id is another.
 */
static _Thread_local uint64_t shm_token
    __attribute__((tls_model("initial-exec")));
static _Atomic uint32_t shm_tokens;

/*
 * The ring a thread last pushed into and its lane there, as serial << 4 |
 * lane (0: none), so that a push need not look the lane up
 * (shm_ring_lane). One word: a signal handler finds it whole.
 */
static _Thread_local uint64_t shm_last
    __attribute__((tls_model("initial-exec")));
/*
 * Set while the thread looks its lane up or pushes into its own lane: a
 * signal handler that pushes meanwhile (a crash handler's last record,
 * say) would be a second writer there, or change the lookup under it, so
 * its push goes into lane 0, without a lookup.
 */
static _Thread_local volatile sig_atomic_t shm_in_own
    __attribute__((tls_model("initial-exec")));

#if defined(__x86_64__)
/*
 * noipa: GCC 12 drops the prefetches of a target("prfchw") function inlined
 * into one without it, and the call of one that is not, which it finds has
 * no effect. clang (the fuzzers' seeds) knows only noinline.
 */
#ifdef __clang__
#define SHM_RING_NOIPA noinline
#else
#define SHM_RING_NOIPA noipa
#endif

/* Ask for three lines in the exclusive state, ahead of writes (PREFETCHW). */
__attribute__((target("prfchw"), SHM_RING_NOIPA)) static void
shm_ring_prefetch_lines(const char *p)
{
	__builtin_prefetch(p, 1, 3);
	__builtin_prefetch(p + 64, 1, 3);
	__builtin_prefetch(p + 128, 1, 3);
}
#else
/* Ask for three lines ahead of writes. */
static void
shm_ring_prefetch_lines(const char *p)
{
	__builtin_prefetch(p, 1, 3);
	__builtin_prefetch(p + 64, 1, 3);
	__builtin_prefetch(p + 128, 1, 3);
}
#endif

/*
 * After a push, ask for the first three lines of a slot SHM_RING_AHEAD
 * positions on (a 152-byte record's), for a push to come. relogd has read
 * them since they were last written, so the claim's CAS would wait for
 * them, and the commit's for the stores to them; fetched now they come
 * while the caller goes on. A read prefetch would not do: the CAS would
 * still have to take the line from relogd's cache. The next position's
 * own slot is too near: a push takes about 60 ns, the lines longer to
 * come. Measured (make bench's emit rows, 3 alternated runs, 2-core AMD
 * EPYC VM), p50 / p99.9 from one thread: the next position 90 / 2,595 to
 * 2,785 ns; 8 on 60 to 70 / 531 to 581 ns (16 and 32 on: the same).
 */
#define SHM_RING_AHEAD 8

static void
shm_ring_prefetch(const struct shm_ring *r, const struct shm_lane *l,
    uint64_t pos)
{
	if (r->prefetchw)
		shm_ring_prefetch_lines((const char *)&l->slots[pos & r->mask]);
}

/*
 * Claim the slot of position pos for a writer (first: its record starts
 * there). Returns 1 when claimed. Returns 0 when it cannot be had without
 * waiting: a newer claim has it (this writer was lapped), or a writer a lap
 * behind still holds it (then it is poisoned: that writer will leave it a
 * skip for pos, so the consumer need not wait for pos). An unread record
 * it destroys is counted before the CAS: a runner killed between the two
 * counts it twice, never not at all (and a failed CAS takes it back).
 */
static int
shm_ring_claim(struct shm_ring *r, struct shm_lane *l, uint64_t pos,
    unsigned first)
{
	_Atomic uint64_t *seq = &l->slots[pos & r->mask].seq;
	_Atomic uint64_t *n = &l->hdr->overwritten;
	uint64_t v = atomic_load_explicit(seq, memory_order_relaxed);
	unsigned state;
	int tries;

	for (tries = 0; tries < SHM_RING_TRIES; tries++) {
		if (relog_ring_seq_cmp(v, pos) >= 0)
			return (0);
		state = relog_ring_seq_state(v);
		if (state == RELOG_RING_WRITING ||
		    state == RELOG_RING_WRITING_FIRST ||
		    state == RELOG_RING_POISONED) {
			if (atomic_compare_exchange_weak_explicit(seq, &v,
			    relog_ring_seq(pos, RELOG_RING_POISONED),
			    memory_order_acq_rel, memory_order_relaxed))
				return (0);
			continue;
		}
		/* Who moves a record out of COMMITTED_FIRST counts. */
		if (state == RELOG_RING_COMMITTED_FIRST)
			atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(seq, &v,
		    relog_ring_seq(pos, RELOG_RING_WRITING | first),
		    memory_order_acq_rel, memory_order_relaxed))
			return (1);
		if (state == RELOG_RING_COMMITTED_FIRST)
			atomic_fetch_sub_explicit(n, 1, memory_order_relaxed);
	}
	return (0);
}

/*
 * Move a claimed slot from WRITING (or WRITING_FIRST) to state. Returns 0,
 * or -1 if it was poisoned meanwhile: the slot is then left a skip for the
 * position it was given up for.
 */
static int
shm_ring_commit(struct shm_ring *r, struct shm_lane *l, uint64_t pos,
    unsigned from, unsigned state, memory_order order)
{
	_Atomic uint64_t *seq = &l->slots[pos & r->mask].seq;
	uint64_t v = relog_ring_seq(pos, from);
	int tries;

	if (atomic_compare_exchange_strong_explicit(seq, &v,
	    relog_ring_seq(pos, state), order, memory_order_relaxed))
		return (0);
	for (tries = 0; tries < SHM_RING_TRIES &&
	    relog_ring_seq_state(v) == RELOG_RING_POISONED; tries++) {
		if (atomic_compare_exchange_weak_explicit(seq, &v,
		    (v & ~(uint64_t)RELOG_RING_STATE_MASK) | RELOG_RING_SKIP,
		    memory_order_release, memory_order_relaxed))
			break;
	}
	return (-1);
}

/* A word loaded from memory, its first k (1 to 7) bytes dropped. */
static inline uint64_t
shm_ring_drop_front(uint64_t w, size_t k)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return (w << (8 * k));
#else
	return (w >> (8 * k));
#endif
}

/*
 * The last n (1 to 7) bytes of a text as a word, zero-padded, in memory
 * order. Built in registers: a memcpy of n bytes into a word on the stack,
 * then loaded whole, stalls (no store forwarding) and was most of a push.
 */
static inline uint64_t
shm_ring_tail_word(const char *src, size_t n)
{
	uint64_t w = 0;
	uint32_t v4;
	uint16_t v2;
	size_t o = 0;

	if (n & 4) {
		memcpy(&v4, src, 4);
		w = relog_ring_place(v4, 0, 4);
		o = 4;
	}
	if (n & 2) {
		memcpy(&v2, src + o, 2);
		w |= relog_ring_place(v2, o, 2);
		o += 2;
	}
	if (n & 1)
		w |= relog_ring_place((unsigned char)src[o], o, 1);
	return (w);
}

/*
 * Write len bytes of src, zero-padded to whole words, at byte off (a
 * multiple of 8) of the record whose first slot is at pos. Returns the
 * offset after them.
 */
static inline __attribute__((always_inline)) uint64_t
shm_ring_put(struct shm_ring *r, struct shm_lane *l, uint64_t pos,
    uint64_t off, const char *src, size_t len)
{
	struct relog_ring_slot *s;
	size_t n, i, j, words;
	uint64_t w;

	while (len > 0) {
		s = &l->slots[(pos + off / RELOG_RING_PAYLOAD) & r->mask];
		i = (off % RELOG_RING_PAYLOAD) / 8;
		n = (RELOG_RING_SLOT_WORDS - i) * 8;
		if (n > len)
			n = len;
		words = n / 8;
		for (j = 0; j < words; j++, src += 8) {
			memcpy(&w, src, 8);
			atomic_store_explicit(&s->word[i + j], w,
			    memory_order_relaxed);
		}
		if (n % 8 != 0) {
			atomic_store_explicit(&s->word[i + words],
			    shm_ring_tail_word(src, n % 8),
			    memory_order_relaxed);
			src += n % 8;
		}
		off += relog_ring_pad(n);
		len -= n;
	}
	return (off);
}

/*
 * A message or an exception text past RELOG_RING_TEXT_MAX, cut: at a UTF-8
 * boundary short enough for the mark " [truncated N bytes]" to follow, as
 * relogd marks a text it cuts (max_message), so that a record cut here
 * says so. The kept text's whole words are put from the text, its last
 * bytes and the mark from tail.
 */
struct shm_ring_long {
	size_t words;			/* bytes put from the text */
	size_t tail_len;
	char tail[8 + PROTO_CUT_MARK_MAX];
};

/* Cut a long text (shm_ring_long); returns its length in the record. */
static __attribute__((noinline, cold)) uint32_t
shm_ring_long(struct shm_ring_long *m, const char *text, size_t len)
{
	size_t keep = proto_utf8_cut(text, len, RELOG_RING_TEXT_MAX -
	    PROTO_CUT_MARK_MAX);

	m->words = keep & ~(size_t)7;
	m->tail_len = keep - m->words;
	memcpy(m->tail, text + m->words, m->tail_len);
	m->tail_len += proto_cut_mark(m->tail + m->tail_len, len - keep);
	return ((uint32_t)(m->words + m->tail_len));
}

/*
 * Put a record's texts, of which the message (long_texts & 1) or the
 * exception text (long_texts & 2) was cut (shm_ring_long), from the header
 * on.
 */
static __attribute__((noinline, cold)) void
shm_ring_put_long(struct shm_ring *r, struct shm_lane *l, uint64_t pos,
    const char *const *texts, const size_t *lens,
    const struct shm_ring_long *m, unsigned long_texts)
{
	uint64_t off = RELOG_RING_RECORD_HEADER;
	unsigned i;

	for (i = 0; i < 4; i++) {
		if ((i == 1 || i == 2) && (long_texts & 1u << (i - 1)) != 0) {
			off = shm_ring_put(r, l, pos, off, texts[i],
			    m[i - 1].words);
			off = shm_ring_put(r, l, pos, off, m[i - 1].tail,
			    m[i - 1].tail_len);
		} else
			off = shm_ring_put(r, l, pos, off, texts[i], lens[i]);
	}
}

/* A text's length cut as librelog cuts it (the call only when too long). */
static inline size_t
shm_ring_cut(const char *text, size_t len, size_t max)
{
	return (len <= max ? len : proto_utf8_cut(text, len, max));
}

/*
 * After a push: wake the consumer if it is armed for a position the ring
 * has reached. fenced: the caller's last store to a seq was seq_cst (or it
 * fenced), and so are these loads: either this sees the consumer's arming
 * or the consumer, checking after it armed, sees that store. Else (the
 * consumer rechecks) its third look, a while later, sees it (PROTOCOL.md,
 * "Wakeup").
 */
static inline void
shm_ring_wake(struct shm_ring *r, struct shm_lane *l, uint64_t end,
    bool fenced)
{
	struct relog_ring_header *hdr = l->hdr;
	uint64_t w, head;

	/* Orders as constants: a variable one is taken as seq_cst. */
	w = fenced ? atomic_load_explicit(&hdr->wake_at, memory_order_seq_cst) :
	    atomic_load_explicit(&hdr->wake_at, memory_order_relaxed);
	if (w == RELOG_RING_DISARMED)
		return;
	if ((int64_t)(end - w) < 0) {
		head = fenced ? atomic_load_explicit(&hdr->head,
		    memory_order_seq_cst) : atomic_load_explicit(&hdr->head,
		    memory_order_relaxed);
		if ((int64_t)(head - w) < 0)
			return;
	}
	if (atomic_compare_exchange_strong_explicit(&hdr->wake_at, &w,
	    RELOG_RING_DISARMED, memory_order_relaxed, memory_order_relaxed) &&
	    r->wake != NULL)
		r->wake(r->wake_arg);
}

/* The calling thread's token (see shm_token); tid: its thread id. */
static uint64_t
shm_ring_token(pid_t tid)
{
	if (shm_token == 0 || (pid_t)(uint32_t)shm_token != tid)
		shm_token = (uint64_t)(atomic_fetch_add_explicit(&shm_tokens,
		    1, memory_order_relaxed) + 1) << 32 | (uint32_t)tid;
	return (shm_token);
}

/* Has the thread of this token ended? tok, tid: the caller's. */
static bool
shm_ring_token_gone(uint64_t token, uint64_t tok, pid_t tid)
{
	pid_t t = (pid_t)(uint32_t)token;

	if (t == tid)
		return (token != tok);
	return (syscall(SYS_tgkill, getpid(), t, 0) != 0 && errno == ESRCH);
}

/* The index of tok in a table of n tokens, or -1. */
static int
shm_ring_find(_Atomic uint64_t *table, unsigned n, uint64_t tok)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (atomic_load_explicit(&table[i],
		    memory_order_acquire) == tok)
			return ((int)i);
	}
	return (-1);
}

/*
 * Put tok into a table of n tokens: into a free entry (0), else, if steal,
 * one of a thread that has ended. Returns its index, or -1 (the table is
 * full). tid: the caller's thread id.
 */
static int
shm_ring_take(_Atomic uint64_t *table, unsigned n, bool steal, uint64_t tok,
    pid_t tid)
{
	uint64_t o;
	unsigned i, pass;

	for (pass = 0; pass < (steal ? 2u : 1u); pass++) {
		for (i = 0; i < n; i++) {
			o = atomic_load_explicit(&table[i],
			    memory_order_relaxed);
			if ((o == 0 || (pass == 1 &&
			    shm_ring_token_gone(o, tok, tid))) &&
			    atomic_compare_exchange_strong_explicit(&table[i],
			    &o, tok, memory_order_acquire,
			    memory_order_relaxed))
				return ((int)i);
		}
	}
	return (-1);
}

/*
 * A thread's lane in r, chosen at its first push (and found again after
 * its cache moved to another ring): its own if it has one; lane 0 if it
 * was sent there; else a free lane (1 on), or one whose thread has ended;
 * else lane 0. Once a thread has pushed into a lane of a ring, it pushes
 * into no other lane of that ring (two lanes' records of one ms are
 * merged in either order): lanes, once taken, are never free again, only
 * taken over from an ended thread, and a thread sent to lane 0 is kept in
 * r->shared (with that full, no lane is taken over). The system calls
 * (gettid; tgkill, when every lane is taken) are made once a thread and
 * ring, and are async-signal-safe, as the rest is.
 *
 * A lane taken over: its last writer has ended, and its stores before
 * were seen by the kernel that ended it; the acquire CAS orders this
 * thread's loads of the lane after tgkill said so. tgkill still finds a
 * thread a moment after pthread_join returned for it: a thread started
 * then, with every lane taken, goes to lane 0 and stays (slower, not
 * wrong).
 */
static unsigned
shm_ring_choose(struct shm_ring *r)
{
	_Atomic uint64_t *lanes = r->owner + 1;
	unsigned n = r->lane_count - 1;
	uint64_t tok;
	pid_t tid;
	int i, saved = errno;

	if (n == 0)
		return (0);
	tid = gettid();
	tok = shm_ring_token(tid);
	i = shm_ring_find(lanes, n, tok);
	if (i < 0 && shm_ring_find(r->shared, SHM_RING_SHARED_MAX, tok) < 0) {
		i = shm_ring_take(lanes, n, !atomic_load_explicit(&r->no_steal,
		    memory_order_relaxed), tok, tid);
		/* No lane: lane 0, kept so (or no lane is taken over). */
		if (i < 0 && shm_ring_take(r->shared, SHM_RING_SHARED_MAX,
		    true, tok, tid) < 0)
			atomic_store_explicit(&r->no_steal, true,
			    memory_order_relaxed);
	}
	errno = saved;
	return (i < 0 ? 0 : (unsigned)i + 1);
}

/*
 * The calling thread's lane in r (the caller has set shm_in_own), and
 * whether it is its own (own: no other thread pushes into it).
 */
static inline struct shm_lane *
shm_ring_lane(struct shm_ring *r, bool *own)
{
	uint64_t last = shm_last;
	unsigned n;

	if (last >> 4 == r->serial) {
		n = (unsigned)(last & 15);
	} else {
		n = shm_ring_choose(r);
		shm_last = r->serial << 4 | n;
	}
	*own = n != 0;
	return (&r->lane[n]);
}

/*
 * The calling thread's own lane in r, made and known since its last push
 * into r; else NULL (shm_ring_lane and shm_ring_populate find it). The
 * caller has set shm_in_own.
 */
static inline struct shm_lane *
shm_ring_lane_known(struct shm_ring *r)
{
	uint64_t last = shm_last;
	struct shm_lane *l = &r->lane[last & 15];

	if (last >> 4 != r->serial || (last & 15) == 0 ||
	    atomic_load_explicit(&l->ready, memory_order_acquire) != 1)
		return (NULL);
	return (l);
}

/*
 * Does a record with no color fit one slot? Its texts need no cut: each
 * is shorter than a slot, so far under RELOG_RING_TEXT_MAX.
 */
static inline bool
shm_ring_fits_one(const struct shm_ring_record *rec)
{
	return (rec->name_len < RELOG_RING_PAYLOAD &&
	    rec->msg_len < RELOG_RING_PAYLOAD &&
	    rec->exc_len < RELOG_RING_PAYLOAD &&
	    RELOG_RING_RECORD_HEADER + relog_ring_pad(rec->name_len) +
	    relog_ring_pad(rec->msg_len) + relog_ring_pad(rec->exc_len) <=
	    RELOG_RING_PAYLOAD);
}

/*
 * Claim the slot of position pos in a lane of the caller's own: as
 * shm_ring_claim, but a slot no one else may change is stored, not
 * swapped. relogd may take an unread record (COMMITTED_FIRST) at any time,
 * and who moves it counts it, so that one is swapped. A slot an older
 * writer of the lane still holds (WRITING, or POISONED) is one whose
 * writer ended mid-push (the lane was taken over): no one will finish it,
 * so it is claimed as a skip would be, not poisoned lap after lap. A seq
 * at pos or newer (the runner's own scribbles) is left to shm_ring_claim,
 * which gives the record up.
 */
static inline int
shm_ring_claim_own(struct shm_ring *r, struct shm_lane *l, uint64_t pos,
    unsigned first)
{
	_Atomic uint64_t *seq = &l->slots[pos & r->mask].seq;
	_Atomic uint64_t *n = &l->hdr->overwritten;
	uint64_t v = atomic_load_explicit(seq, memory_order_relaxed);
	uint64_t to = relog_ring_seq(pos, RELOG_RING_WRITING | first), lost;
	int tries;

	for (tries = 0; tries < SHM_RING_TRIES &&
	    relog_ring_seq_cmp(v, pos) < 0; tries++) {
		if (relog_ring_seq_state(v) != RELOG_RING_COMMITTED_FIRST) {
			atomic_store_explicit(seq, to, memory_order_relaxed);
			return (1);
		}
		/*
		 * Its only writer: overwritten is stored, not added to; and
		 * before the CAS, as in shm_ring_claim.
		 */
		lost = atomic_load_explicit(n, memory_order_relaxed);
		atomic_store_explicit(n, lost + 1, memory_order_relaxed);
		if (atomic_compare_exchange_strong_explicit(seq, &v, to,
		    memory_order_acq_rel, memory_order_relaxed))
			return (1);
		atomic_store_explicit(n, lost, memory_order_relaxed);
		/* Taken meanwhile (or given up): v says what it is now. */
	}
	return (shm_ring_claim(r, l, pos, first));
}

/*
 * Put len bytes of src into a slot's words from word i; returns the next
 * word. shm_ring_put for a record in one slot: with shm_ring_put (its
 * slot and offset worked out from off for each text), make bench's emit
 * from one thread at 1 M/s took 40 to 41 ns at the median, against 35
 * with this (as it was then).
 */
static inline size_t
shm_ring_put_one(_Atomic uint64_t *word, size_t i, const char *src,
    size_t len)
{
	size_t n = len / 8, r = len % 8, j;
	uint64_t w;

#pragma GCC unroll 4
	for (j = 0; j < n; j++) {
		memcpy(&w, src + 8 * j, 8);
		atomic_store_explicit(&word[i + j], w, memory_order_relaxed);
	}
	if (r == 0)
		return (i + n);
	/*
	 * The last r bytes: of a text of 8 or more, its last 8, the 8 - r
	 * already stored shifted out (one load, no branch on each bit of r).
	 */
	if (n > 0) {
		memcpy(&w, src + len - 8, 8);
		w = shm_ring_drop_front(w, 8 - r);
	} else
		w = shm_ring_tail_word(src, r);
	atomic_store_explicit(&word[i + n], w, memory_order_relaxed);
	return (i + n + 1);
}

/*
 * The common push: a record of one slot into the caller's own lane. As
 * shm_ring_push's own-lane path, without its loops over slots; and where
 * the consumer looks again after arming (rechecked), its commit is a
 * release store, not seq_cst: no store-load fence, whose wait for the
 * record's stores to leave the store buffer was a fifth of an emit
 * (bench/README.md, the emit rows).
 */
static inline __attribute__((always_inline)) int
shm_ring_push_one(struct shm_ring *r, struct shm_lane *l,
    const struct relog_ring_record *h, const struct shm_ring_record *rec)
{
	struct relog_ring_header *hdr = l->hdr;
	_Atomic uint64_t *word;
	uint64_t words[4], p;
	size_t i;

	p = atomic_load_explicit(&hdr->head, memory_order_relaxed);
	atomic_store_explicit(&hdr->head, p + 1, memory_order_relaxed);
	if (!shm_ring_claim_own(r, l, p, RELOG_RING_FIRST)) {
		atomic_fetch_add_explicit(&hdr->abandoned, 1,
		    memory_order_relaxed);
		atomic_thread_fence(memory_order_seq_cst);
		shm_ring_wake(r, l, p + 1, true);
		shm_ring_prefetch(r, l, p + 1 + SHM_RING_AHEAD);
		return (-EAGAIN);
	}
	atomic_thread_fence(memory_order_release);
	word = l->slots[p & r->mask].word;
	relog_ring_header_words(h, words);
	atomic_store_explicit(&word[0], words[0], memory_order_relaxed);
	atomic_store_explicit(&word[1], words[1], memory_order_relaxed);
	atomic_store_explicit(&word[2], words[2], memory_order_relaxed);
	atomic_store_explicit(&word[3], words[3], memory_order_relaxed);
	i = shm_ring_put_one(word, 4, rec->name, h->name_len);
	i = shm_ring_put_one(word, i, rec->msg, h->msg_len);
	i = shm_ring_put_one(word, i, rec->exc, h->exc_len);
	(void)shm_ring_put_one(word, i, rec->color, h->color_len);
	/* Orders as constants: a variable one is taken as seq_cst. */
	if (atomic_load_explicit(&r->rechecked, memory_order_relaxed)) {
		atomic_store_explicit(&l->slots[p & r->mask].seq,
		    relog_ring_seq(p, RELOG_RING_COMMITTED_FIRST),
		    memory_order_release);
		/*
		 * The compiler may not hoist the load of wake_at above the
		 * commit: the CPU may (the third look covers that), but a
		 * thread preempted between the two would then commit after
		 * relogd's third look, and an idle ring never be read.
		 */
		atomic_signal_fence(memory_order_seq_cst);
		shm_ring_wake(r, l, p + 1, false);
	} else {
		atomic_store_explicit(&l->slots[p & r->mask].seq,
		    relog_ring_seq(p, RELOG_RING_COMMITTED_FIRST),
		    memory_order_seq_cst);
		shm_ring_wake(r, l, p + 1, true);
	}
	shm_ring_prefetch(r, l, p + 1 + SHM_RING_AHEAD);
	return (0);
}

/*
 * Copy a record in. Texts are cut to RELOG_RING_TEXT_MAX bytes, the color
 * to RELOG_RING_COLOR_MAX (at a UTF-8 boundary); a message or exception
 * text cut is marked (shm_ring_long). Never waits, allocates or
 * calls the system, but for the wake callback. Returns 0; -EAGAIN if the
 * record was given up (a writer a lap behind was still in its way); -ENXIO
 * if there is no ring (a reset failed), or lane 0, not made yet, could not
 * be made. Either loss is counted.
 */
static __attribute__((noinline)) int
shm_ring_push_any(struct shm_ring *r, const struct shm_ring_record *rec)
{
	struct relog_ring_header *hdr;
	struct shm_lane *l;
	struct relog_ring_record h;
	uint64_t owned[SHM_RING_OWNED_WORDS], words[4], p, k, i, off;
	struct shm_ring_long longs[2];
	unsigned first, long_texts = 0;
	int broken = 0, ret;
	bool own;

	if (r->base == NULL) {
		atomic_fetch_add_explicit(&r->unmapped, 1,
		    memory_order_relaxed);
		return (-ENXIO);
	}
	memset(&h, 0, sizeof h);
	h.timestamp_ms = rec->timestamp_ms;
	h.level = rec->level;
	h.name_len = (uint32_t)shm_ring_cut(rec->name, rec->name_len,
	    RELOG_RING_TEXT_MAX);
	if (rec->msg_len <= RELOG_RING_TEXT_MAX)
		h.msg_len = (uint32_t)rec->msg_len;
	else {
		h.msg_len = shm_ring_long(&longs[0], rec->msg, rec->msg_len);
		long_texts |= 1;
	}
	if (rec->exc_len <= RELOG_RING_TEXT_MAX)
		h.exc_len = (uint32_t)rec->exc_len;
	else {
		h.exc_len = shm_ring_long(&longs[1], rec->exc, rec->exc_len);
		long_texts |= 2;
	}
	if (rec->color != NULL) {
		h.color_len = (uint16_t)shm_ring_cut(rec->color,
		    rec->color_len, RELOG_RING_COLOR_MAX);
		h.flags = RELOG_RING_RECORD_COLOR;
	}
	h.size = (uint32_t)(RELOG_RING_RECORD_HEADER +
	    relog_ring_pad(h.name_len) + relog_ring_pad(h.msg_len) +
	    relog_ring_pad(h.exc_len) + relog_ring_pad(h.color_len));
	k = relog_ring_record_slots(h.size);

	if (shm_in_own) {
		/* A handler, its thread in a lookup or its own lane's push. */
		l = &r->lane[0];
		own = false;
	} else {
		/* From here: a handler's push meanwhile goes into lane 0. */
		shm_in_own = 1;
		atomic_signal_fence(memory_order_seq_cst);
		l = shm_ring_lane(r, &own);
		if (own && atomic_load_explicit(&l->ready,
		    memory_order_acquire) != 1)
			own = (l = shm_ring_populate(r, l)) != &r->lane[0];
		if (!own) {
			atomic_signal_fence(memory_order_seq_cst);
			shm_in_own = 0;
		}
	}
	/* Lane 0 is made when a thread first needs it; else the push is lost. */
	if (!own && atomic_load_explicit(&l->ready, memory_order_acquire) !=
	    1 && shm_ring_make(r, l) != 0) {
		atomic_fetch_add_explicit(&r->unmapped, 1,
		    memory_order_relaxed);
		return (-ENXIO);
	}
	if (own && k == 1) {
		ret = shm_ring_push_one(r, l, &h, rec);
		atomic_signal_fence(memory_order_seq_cst);
		shm_in_own = 0;
		return (ret);
	}
	hdr = l->hdr;
	if (own) {
		p = atomic_load_explicit(&hdr->head, memory_order_relaxed);
		atomic_store_explicit(&hdr->head, p + k, memory_order_relaxed);
	} else
		p = atomic_fetch_add_explicit(&hdr->head, k,
		    memory_order_seq_cst);
	owned[0] = 0;
	if (k > 64)
		memset(owned, 0, (size_t)((k + 63) / 64) * sizeof owned[0]);
	for (i = 0; i < k; i++) {
		first = i == 0 ? RELOG_RING_FIRST : 0;
		if (own ? shm_ring_claim_own(r, l, p + i, first) :
		    shm_ring_claim(r, l, p + i, first))
			owned[i / 64] |= (uint64_t)1 << (i % 64);
		else
			broken = 1;
	}
	/* Seqlock writer: the claims are seen before any word written. */
	atomic_thread_fence(memory_order_release);

	if (!broken) {
		const char *texts[4] = { rec->name, rec->msg, rec->exc,
		    rec->color };
		size_t lens[4] = { h.name_len, h.msg_len, h.exc_len,
		    h.color_len };

		relog_ring_header_words(&h, words);
		for (i = 0; i < 4; i++)
			atomic_store_explicit(&l->slots[p & r->mask].word[i],
			    words[i], memory_order_relaxed);
		if (long_texts != 0)
			shm_ring_put_long(r, l, p, texts, lens, longs,
			    long_texts);
		else {
			for (i = 0, off = RELOG_RING_RECORD_HEADER; i < 4; i++)
				off = shm_ring_put(r, l, p, off, texts[i],
				    lens[i]);
		}
	}

	/*
	 * The later slots first: a committed first slot means all of it. In
	 * a lane of its own, no one poisons a slot we hold.
	 */
	if (own && !broken) {
		for (i = k - 1; i > 0; i--)
			atomic_store_explicit(&l->slots[(p + i) & r->mask].seq,
			    relog_ring_seq(p + i, RELOG_RING_COMMITTED),
			    memory_order_release);
		atomic_store_explicit(&l->slots[p & r->mask].seq,
		    relog_ring_seq(p, RELOG_RING_COMMITTED_FIRST),
		    memory_order_seq_cst);
	} else {
		for (i = k - 1; i > 0; i--) {
			if ((owned[i / 64] & (uint64_t)1 << (i % 64)) != 0 &&
			    shm_ring_commit(r, l, p + i, RELOG_RING_WRITING,
			    broken ? RELOG_RING_SKIP : RELOG_RING_COMMITTED,
			    memory_order_release) != 0)
				broken = 1;
		}
		if ((owned[0] & 1) != 0 && shm_ring_commit(r, l, p,
		    RELOG_RING_WRITING_FIRST, broken ? RELOG_RING_SKIP :
		    RELOG_RING_COMMITTED_FIRST, memory_order_seq_cst) != 0)
			broken = 1;
	}
	if (own) {
		atomic_signal_fence(memory_order_seq_cst);
		shm_in_own = 0;
	}
	if (broken) {
		atomic_fetch_add_explicit(&hdr->abandoned, 1,
		    memory_order_relaxed);
		/* What made the consumer's position ready may be a poison. */
		atomic_thread_fence(memory_order_seq_cst);
	}
	shm_ring_wake(r, l, p + k, true);
	shm_ring_prefetch(r, l, p + k + SHM_RING_AHEAD);
	return (broken ? -EAGAIN : 0);
}

/*
 * Copy a record in (shm_ring_push_any). The common record first, without
 * the general path's frame: one slot, no color, from a thread whose own
 * lane is made and known.
 */
int
shm_ring_push(struct shm_ring *r, const struct shm_ring_record *rec)
{
	struct relog_ring_record h;
	struct shm_lane *l;
	int ret;

	if (r->base == NULL || rec->color != NULL || shm_in_own ||
	    !shm_ring_fits_one(rec))
		return (shm_ring_push_any(r, rec));
	shm_in_own = 1;
	atomic_signal_fence(memory_order_seq_cst);
	if ((l = shm_ring_lane_known(r)) == NULL) {
		atomic_signal_fence(memory_order_seq_cst);
		shm_in_own = 0;
		return (shm_ring_push_any(r, rec));
	}
	h = (struct relog_ring_record){
		.timestamp_ms = rec->timestamp_ms,
		.size = (uint32_t)(RELOG_RING_RECORD_HEADER +
		    relog_ring_pad(rec->name_len) +
		    relog_ring_pad(rec->msg_len) +
		    relog_ring_pad(rec->exc_len)),
		.level = rec->level,
		.name_len = (uint32_t)rec->name_len,
		.msg_len = (uint32_t)rec->msg_len,
		.exc_len = (uint32_t)rec->exc_len,
	};
	ret = shm_ring_push_one(r, l, &h, rec);
	atomic_signal_fence(memory_order_seq_cst);
	shm_in_own = 0;
	return (ret);
}
