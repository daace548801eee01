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

#define STATE_MAGIC "RELOGST1"
#define STATE_SLOTS 4096
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
};

static struct state_header *state_map;
static struct state_slot *state_slots;
static size_t state_size;
static uint64_t state_accepted_seq[STATE_SLOTS];
static unsigned state_refs[STATE_SLOTS];

/* Map the state file under dir, creating it if needed. Fatal on failure. */
void
state_open(const char *dir)
{
	struct stat st;
	char *path;
	int fd, fresh;
	size_t i;

	if (asprintf(&path, "%s/runners.state", dir) < 0)
		fatal("asprintf");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		fatal("cannot open %s", path);
	if (fstat(fd, &st) != 0)
		fatal("fstat %s", path);
	state_size = sizeof *state_map + STATE_SLOTS * sizeof *state_slots;
	fresh = (size_t)st.st_size != state_size;
	if (fresh && ftruncate(fd, 0) != 0)
		fatal("ftruncate %s", path);
	if (fresh && ftruncate(fd, (off_t)state_size) != 0)
		fatal("ftruncate %s", path);
	state_map = mmap(NULL, state_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	if (state_map == MAP_FAILED)
		fatal("mmap %s", path);
	close(fd);
	state_slots = (struct state_slot *)(state_map + 1);
	if (memcmp(state_map->magic, STATE_MAGIC, 8) != 0 ||
	    state_map->slots != STATE_SLOTS ||
	    state_map->slot_size != sizeof *state_slots) {
		if (!fresh)
			log_warn("%s was not relogd's state: starting afresh",
			    path);
		memset(state_map, 0, state_size);
		state_map->slots = STATE_SLOTS;
		state_map->slot_size = sizeof *state_slots;
		memcpy(state_map->magic, STATE_MAGIC, 8);
	}
	for (i = 0; i < STATE_SLOTS; i++) {
		state_slots[i].key[STATE_KEY_MAX - 1] = '\0';
		state_accepted_seq[i] = state_slots[i].recorded;
	}
	free(path);
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
 * The slot of a runner instance (runner_id is a checked id), found or made
 * (evicting the least recently used slot nobody holds). Returns -1 when the
 * runner sent no usable instance id: it gets no deduplication. Release it
 * with state_release.
 */
int
state_lookup(struct proto_str runner_id, struct proto_str instance)
{
	char key[STATE_KEY_MAX];
	int i, found = -1, victim = -1;

	if (!state_instance_valid(instance))
		return (-1);
	snprintf(key, sizeof key, "%.*s/%.*s", (int)runner_id.len,
	    runner_id.ptr, (int)instance.len, instance.ptr);
	for (i = 0; i < STATE_SLOTS && found < 0; i++) {
		if (strcmp(state_slots[i].key, key) == 0)
			found = i;
		else if (state_refs[i] == 0 && (victim < 0 ||
		    state_slots[i].used < state_slots[victim].used))
			victim = i;
	}
	if (found < 0) {
		if (victim < 0)
			return (-1);	/* every slot is held */
		found = victim;
		memset(&state_slots[found], 0, sizeof state_slots[found]);
		memcpy(state_slots[found].key, key, strlen(key) + 1);
		state_accepted_seq[found] = 0;
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
