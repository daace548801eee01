/*
 * The tails' output: every record written is kept, cut small, in a ring of
 * the last RELOG_TAIL_LINES_MAX, and handed to the tails that follow (each
 * a struct tail_follower whose send callback control.c supplies). Tails
 * filter by plugin and least level here.
 */
#include <stdlib.h>
#include <string.h>

#include "relogd.h"

#define TAIL_LOGGER_MAX 128		/* of a kept record's logger name */
#define TAIL_TEXT_MAX 1024		/* of a kept record's message */

/* One of the last records written, cut to a small size. */
struct tail_recent {
	char plugin[RELOG_ID_MAX + 1];
	int64_t timestamp_ms;
	int64_t level;
	char logger[TAIL_LOGGER_MAX];
	size_t logger_len;
	char message[TAIL_TEXT_MAX];
	size_t message_len;
};

static struct tail_recent *tail_ring;
static size_t tail_next;
static size_t tail_kept;
static LIST_HEAD(, tail_follower) tail_followers =
    LIST_HEAD_INITIALIZER(tail_followers);

/* Does a tail want a record of this plugin and level? */
int
tail_wanted(const struct tail_follower *t, const char *plugin, int64_t level)
{
	size_t i;

	if (level < t->level)
		return (0);
	if (t->nplugins == 0)
		return (1);
	for (i = 0; i < t->nplugins; i++) {
		if (strcmp(t->plugins[i], plugin) == 0)
			return (1);
	}
	return (0);
}

/* Keep a record in the ring of recent ones. */
static void
tail_keep(const char *plugin, const struct record *r)
{
	struct tail_recent *k;

	if (tail_ring == NULL) {
		tail_ring = calloc(RELOG_TAIL_LINES_MAX, sizeof *tail_ring);
		if (tail_ring == NULL)
			fatal("calloc");
	}
	k = &tail_ring[tail_next];
	tail_next = (tail_next + 1) % RELOG_TAIL_LINES_MAX;
	if (tail_kept < RELOG_TAIL_LINES_MAX)
		tail_kept++;
	memcpy(k->plugin, plugin, strlen(plugin) + 1);
	k->timestamp_ms = r->e.timestamp_ms;
	k->level = r->e.level;
	k->logger_len = proto_utf8_cut(r->e.logger_name.ptr,
	    r->e.logger_name.len, sizeof k->logger);
	memcpy(k->logger, r->e.logger_name.ptr, k->logger_len);
	k->message_len = proto_utf8_cut(r->e.message.ptr, r->e.message.len,
	    sizeof k->message);
	memcpy(k->message, r->e.message.ptr, k->message_len);
}

/*
 * A record was written to a plugin: keep it, and send it to the tails
 * that follow and want it.
 */
void
tail_record(const char *plugin, const struct record *r)
{
	struct tail_follower *t;

	tail_keep(plugin, r);
	LIST_FOREACH(t, &tail_followers, entry) {
		if (tail_wanted(t, plugin, r->e.level))
			t->send(t, plugin, &r->e);
	}
}

/* Send a tail the last `lines` records it wants, oldest first. */
void
tail_replay(struct tail_follower *t, uint32_t lines)
{
	const struct tail_recent *k;
	struct proto_entry e;
	uint32_t found = 0;
	size_t i, from;

	/* Walk back to the lines-th wanted record, then send forwards. */
	for (i = 0; i < tail_kept && found < lines; i++) {
		k = &tail_ring[(tail_next + RELOG_TAIL_LINES_MAX - 1 - i) %
		    RELOG_TAIL_LINES_MAX];
		found += tail_wanted(t, k->plugin, k->level);
	}
	from = i;
	memset(&e, 0, sizeof e);
	for (i = from; i > 0; i--) {
		k = &tail_ring[(tail_next + RELOG_TAIL_LINES_MAX - i) %
		    RELOG_TAIL_LINES_MAX];
		if (!tail_wanted(t, k->plugin, k->level))
			continue;
		e.timestamp_ms = k->timestamp_ms;
		e.level = k->level;
		e.logger_name = (struct proto_str){ k->logger, k->logger_len };
		e.message = (struct proto_str){ k->message, k->message_len };
		e.exception_text = proto_cstr("");
		t->send(t, k->plugin, &e);
	}
}

/* Start or stop sending new records to a tail. */
void
tail_follow(struct tail_follower *t, int on)
{
	if (on && !t->following)
		LIST_INSERT_HEAD(&tail_followers, t, entry);
	else if (!on && t->following)
		LIST_REMOVE(t, entry);
	t->following = on;
}

/* Call fn for every follower; fn may stop the one it is given following. */
void
tail_each(void (*fn)(struct tail_follower *))
{
	struct tail_follower *t, *next;

	for (t = LIST_FIRST(&tail_followers); t != NULL; t = next) {
		next = LIST_NEXT(t, entry);
		fn(t);
	}
}

/* Free the ring (at exit; the followers are gone). */
void
tail_free(void)
{
	free(tail_ring);
	tail_ring = NULL;
	tail_kept = tail_next = 0;
}
