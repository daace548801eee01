/*
 * Which batches relogd has written, per runner, kept where a restart finds
 * them: the last recorded seq of each runner instance, in a file mapped
 * MAP_SHARED under the state directory. A store into the map is in the page
 * cache at once, so it survives relogd being killed (not the machine losing
 * power: nothing is synced).
 *
 * Two seqs per runner: "accepted" (in memory) is the highest seq taken into
 * the sinks, against which resent batches are recognised while relogd runs;
 * "recorded" (in the file) is the highest seq whose records were all
 * written, and is what "accepted" starts from after a restart.
 *
 * And the drops a runner's batches counted that were acked before their
 * notice was written (record.c says one notice a second): "unsaid". The
 * runner forgot them once acked; a relogd after us says those it finds,
 * when that runner instance says hello again.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relogd.h"

#define STATE_MAGIC "RELOGST2"
#define STATE_SLOTS 4096
#define STATE_UID_SLOTS (STATE_SLOTS / 4)	/* the most one uid holds */
#define STATE_KEY_MAX 96	/* "<runner_id>/<instance>" and a NUL */
#define STATE_INSTANCE_MAX 24

/* The file: a header, then the slots. */
struct state_header {
	char magic[8];
	uint32_t slots;
	uint32_t slot_size;
	char pad[48];
};

struct state_slot {
	char key[STATE_KEY_MAX];	/* "" if free */
	uint64_t recorded;
	int64_t used;		/* wall clock s, for eviction */
	uint32_t uid;		/* of the runner that made it */
	uint32_t unsaid;	/* drops acked, their notice not written */
};

static struct state_header *state_map;
static struct state_slot *state_slots;
static size_t state_size;
static uint64_t state_accepted_seq[STATE_SLOTS];
static unsigned state_refs[STATE_SLOTS];
static uint8_t state_inherited[STATE_SLOTS];	/* unsaid, from before us */

/*
 * Make the state file anew, under a name of its own, and rename it over
 * the one there. Returns the fd, or -1 with errno.
 */
static int
state_replace(void)
{
	const char *tmp = "runners.state.new";
	int fd, error;

	if ((fd = relogd_create(relogd_state_dir_fd, tmp, O_RDWR)) < 0)
		return (-1);
	if (renameat(relogd_state_dir_fd, tmp, relogd_state_dir_fd,
	    "runners.state") != 0) {
		error = errno;
		unlinkat(relogd_state_dir_fd, tmp, 0);
		close(fd);
		errno = error;
		return (-1);
	}
	return (fd);
}

/*
 * Open the state file in the state folder (never through a symbolic link,
 * only a regular file), with all its blocks allocated: a full disk then
 * fails here, not as a SIGBUS on a store into the map. A file that is not
 * relogd's alone (another user's, one others may write to, or one linked
 * elsewhere: any of them could cut it short under the map, a SIGBUS too)
 * is replaced, and *foreign set. Returns the fd, or -1 with errno.
 */
static int
state_file(int *foreign)
{
	struct stat st;
	int fd, error;

	fd = proto_openat(relogd_state_dir_fd, "runners.state", O_RDWR |
	    O_CREAT, 0600, &st);
	if (fd < 0)
		return (-1);
	if (!relogd_alone(&st) || st.st_nlink != 1) {
		*foreign = 1;
		close(fd);
		if ((fd = state_replace()) < 0)
			return (-1);
		log_warn("%s/runners.state was not relogd's alone (owner, "
		    "mode or links): made anew", relogd_config.state_dir);
		st.st_size = 0;
	}
	if ((size_t)st.st_size != state_size && ftruncate(fd, 0) != 0) {
		error = errno;
		goto fail;
	}
	if ((error = posix_fallocate(fd, 0, (off_t)state_size)) != 0)
		goto fail;
	return (fd);
fail:
	close(fd);
	errno = error;
	return (-1);
}

/*
 * Map the state file under the state folder, creating it if needed. If it
 * cannot be, relogd runs without deduplication, and says so.
 */
void
state_open(const char *dir)
{
	int fd, foreign = 0;
	size_t i;

	state_size = sizeof *state_map + STATE_SLOTS * sizeof *state_slots;
	if ((fd = state_file(&foreign)) < 0) {
		log_error("%s/runners.state: %s%s: batches a runner sends "
		    "again may be written twice", dir, foreign ? "not relogd's "
		    "alone (owner, mode or links), not made anew: " : "",
		    relogd_error_text(errno));
		return;
	}
	state_map = mmap(NULL, state_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	close(fd);
	if (state_map == MAP_FAILED) {
		log_error("%s/runners.state: mmap: %s: batches a runner sends "
		    "again may be written twice", dir, strerror(errno));
		state_map = NULL;
		return;
	}
	state_slots = (struct state_slot *)(state_map + 1);
	if (memcmp(state_map->magic, STATE_MAGIC, 8) != 0 ||
	    state_map->slots != STATE_SLOTS ||
	    state_map->slot_size != sizeof *state_slots) {
		if (state_map->magic[0] != '\0')
			log_warn("%s/runners.state was not relogd's state (of "
			    "this version): starting afresh", dir);
		memset(state_map, 0, state_size);
		state_map->slots = STATE_SLOTS;
		state_map->slot_size = sizeof *state_slots;
		memcpy(state_map->magic, STATE_MAGIC, 8);
	}
	for (i = 0; i < STATE_SLOTS; i++) {
		state_slots[i].key[STATE_KEY_MAX - 1] = '\0';
		state_accepted_seq[i] = state_slots[i].recorded;
		state_inherited[i] = state_slots[i].unsaid != 0;
	}
}

/* Unmap the state file. */
void
state_close(void)
{
	if (state_map != NULL)
		munmap(state_map, state_size);
	state_map = NULL;
}

/* Is this a usable instance id: 1 to 24 of [A-Za-z0-9_-]? */
static int
state_instance_valid(struct proto_str s)
{
	size_t i;
	char c;

	if (s.ptr == NULL || s.len == 0 || s.len > STATE_INSTANCE_MAX)
		return (0);
	for (i = 0; i < s.len; i++) {
		c = s.ptr[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return (0);
	}
	return (1);
}

/*
 * The slot to reuse for a new runner instance of uid: a free one while the
 * uid holds fewer than STATE_UID_SLOTS, else the least recently used of
 * the uid's own that nobody holds. A uid never evicts another's: a flood
 * of new instance ids only costs its own runners their deduplication.
 * -1 if there is none.
 */
static int
state_victim(uid_t uid)
{
	int i, own = 0, free_slot = -1, victim = -1;

	for (i = 0; i < STATE_SLOTS; i++) {
		if (state_slots[i].key[0] == '\0') {
			if (free_slot < 0 && state_refs[i] == 0)
				free_slot = i;
			continue;
		}
		if (state_slots[i].uid != (uint32_t)uid)
			continue;
		own++;
		if (state_refs[i] == 0 && (victim < 0 ||
		    state_slots[i].used < state_slots[victim].used))
			victim = i;
	}
	return (own < STATE_UID_SLOTS && free_slot >= 0 ? free_slot : victim);
}

/*
 * The slot of a runner instance of uid (runner_id is a checked id), found
 * or made. Returns -1 when the runner sent no usable instance id, or no
 * slot is free of it: it gets no deduplication. Release it with
 * state_release.
 */
int
state_lookup(struct proto_str runner_id, struct proto_str instance, uid_t uid)
{
	char key[STATE_KEY_MAX];
	int i, found = -1;

	if (state_map == NULL || !state_instance_valid(instance))
		return (-1);
	snprintf(key, sizeof key, "%.*s/%.*s", (int)runner_id.len,
	    runner_id.ptr, (int)instance.len, instance.ptr);
	for (i = 0; i < STATE_SLOTS && found < 0; i++) {
		if (state_slots[i].uid == (uint32_t)uid &&
		    strcmp(state_slots[i].key, key) == 0)
			found = i;
	}
	if (found < 0) {
		if ((found = state_victim(uid)) < 0)
			return (-1);
		memset(&state_slots[found], 0, sizeof state_slots[found]);
		memcpy(state_slots[found].key, key, strlen(key) + 1);
		state_slots[found].uid = (uint32_t)uid;
		state_accepted_seq[found] = 0;
		state_inherited[found] = 0;
	}
	state_slots[found].used = (int64_t)time(NULL);
	state_refs[found]++;
	return (found);
}

/* A connection no longer holds this slot. */
void
state_release(int slot)
{
	if (slot >= 0 && state_refs[slot] > 0)
		state_refs[slot]--;
}

/* The highest seq taken into the sinks. */
uint64_t
state_accepted(int slot)
{
	return (state_accepted_seq[slot]);
}

/* The highest seq whose records were all written. */
uint64_t
state_recorded(int slot)
{
	return (state_slots[slot].recorded);
}

/* A batch was taken into the sinks. */
void
state_accept(int slot, uint64_t seq)
{
	if (seq > state_accepted_seq[slot])
		state_accepted_seq[slot] = seq;
}

/* A batch's records were all written: remember it across restarts. */
void
state_record(int slot, uint64_t seq)
{
	if (seq > state_slots[slot].recorded)
		state_slots[slot].recorded = seq;
	state_slots[slot].used = (int64_t)time(NULL);
}

/* Drops were acked before their notice is written: keep the count. */
void
state_unsaid_add(int slot, uint64_t n)
{
	uint64_t v = state_slots[slot].unsaid + n;

	state_slots[slot].unsaid = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* A notice of n of them is written. */
void
state_unsaid_sub(int slot, uint64_t n)
{
	state_slots[slot].unsaid = n >= state_slots[slot].unsaid ? 0 :
	    state_slots[slot].unsaid - (uint32_t)n;
}

/*
 * The unsaid drops a relogd before us left in the slot, to be said now
 * (once: still counted until their notice is written); 0 if none.
 */
uint64_t
state_unsaid_take(int slot)
{
	if (!state_inherited[slot])
		return (0);
	state_inherited[slot] = 0;
	return (state_slots[slot].unsaid);
}
