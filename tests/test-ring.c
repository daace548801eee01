/* The shim's record ring: order, drop-oldest with counting, buffer reuse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"
#include "tests.h"

/* Push a record whose message is msg. */
static int
push(struct ring *r, const char *msg, int level)
{
	struct ring_record rec = {
		.timestamp_ms = 1000 + level,
		.level = level,
		.name = "plugin.a",
		.name_len = 8,
		.msg = msg,
		.msg_len = strlen(msg),
		.exc = "",
		.exc_len = 0,
	};

	return (ring_push(r, &rec));
}

/* Does a popped slot hold this message? */
static int
slot_is(const struct ring_slot *s, const char *msg)
{
	return (s->msg_len == strlen(msg) &&
	    memcmp(ring_slot_msg(s), msg, s->msg_len) == 0);
}

START_TEST(test_ring_fifo)
{
	struct ring r;
	struct ring_slot out[4];

	memset(out, 0, sizeof out);
	ck_assert_int_eq(ring_init(&r, 4), 0);
	ck_assert_int_eq(push(&r, "one", 10), 0);
	ck_assert_int_eq(push(&r, "two", 20), 0);
	ck_assert_int_eq(push(&r, "three", 30), 0);
	ck_assert_uint_eq(ring_pop(&r, out, 2), 2);
	ck_assert(slot_is(&out[0], "one"));
	ck_assert_int_eq(out[0].level, 10);
	ck_assert_int_eq(out[0].timestamp_ms, 1010);
	ck_assert_uint_eq(out[0].name_len, 8);
	ck_assert_int_eq(memcmp(ring_slot_name(&out[0]), "plugin.a", 8), 0);
	ck_assert(slot_is(&out[1], "two"));
	ck_assert_uint_eq(ring_pop(&r, out, 4), 1);
	ck_assert(slot_is(&out[0], "three"));
	ck_assert_uint_eq(ring_pop(&r, out, 4), 0);
	ck_assert_uint_eq(r.dropped, 0);
	ring_slots_free(out, 4);
	ring_free(&r);
}
END_TEST

START_TEST(test_ring_overflow_drops_oldest)
{
	struct ring r;
	struct ring_slot out[8];
	char msg[16];
	int i;

	memset(out, 0, sizeof out);
	ck_assert_int_eq(ring_init(&r, 3), 0);
	for (i = 0; i < 8; i++) {
		snprintf(msg, sizeof msg, "m%d", i);
		ck_assert_int_eq(push(&r, msg, i), 0);
	}
	/* 8 pushed into 3 slots: m0..m4 were overwritten. */
	ck_assert_uint_eq(r.dropped, 5);
	ck_assert_uint_eq(r.count, 3);
	ck_assert_uint_eq(ring_pop(&r, out, 8), 3);
	ck_assert(slot_is(&out[0], "m5"));
	ck_assert(slot_is(&out[1], "m6"));
	ck_assert(slot_is(&out[2], "m7"));
	ring_slots_free(out, 8);
	ring_free(&r);
}
END_TEST

START_TEST(test_ring_fields_and_color)
{
	struct ring r;
	struct ring_slot out[1];
	struct ring_record rec = {
		.level = 40,
		.name = "plugin.b.x", .name_len = 10,
		.msg = "failed", .msg_len = 6,
		.exc = "Traceback", .exc_len = 9,
		.color = "#ff0000", .color_len = 7,
	};

	memset(out, 0, sizeof out);
	ck_assert_int_eq(ring_init(&r, 2), 0);
	ck_assert_int_eq(ring_push(&r, &rec), 0);
	rec.color = NULL;
	rec.color_len = 0;
	ck_assert_uint_eq(ring_pop(&r, out, 1), 1);
	ck_assert_int_eq(memcmp(ring_slot_exc(&out[0]), "Traceback", 9), 0);
	ck_assert_uint_eq(out[0].exc_len, 9);
	ck_assert_int_eq(out[0].has_color, 1);
	ck_assert_int_eq(memcmp(ring_slot_color(&out[0]), "#ff0000", 7), 0);
	ck_assert_int_eq(ring_push(&r, &rec), 0);
	ck_assert_uint_eq(ring_pop(&r, out, 1), 1);
	ck_assert_int_eq(out[0].has_color, 0);
	ring_slots_free(out, 1);
	ring_free(&r);
}
END_TEST

/* Is p one of the n buffers in set? */
static int
in_set(char *const *set, int n, const char *p)
{
	int i;

	for (i = 0; i < n; i++) {
		if (set[i] == p)
			return (1);
	}
	return (0);
}

/* Once every slot has been used, pushing and popping allocate nothing. */
START_TEST(test_ring_reuses_buffers)
{
	struct ring r;
	struct ring_slot out[2];
	char *warm[6];
	int round, i;

	memset(out, 0, sizeof out);
	ck_assert_int_eq(ring_init(&r, 4), 0);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(push(&r, "warm up", 20), 0);
	ck_assert_uint_eq(ring_pop(&r, out, 2), 2);
	ck_assert_uint_eq(ring_pop(&r, out, 2), 2);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(push(&r, "warm up", 20), 0);
	ck_assert_uint_eq(ring_pop(&r, out, 2), 2);
	for (i = 0; i < 4; i++)
		warm[i] = r.slots[i].buf;
	warm[4] = out[0].buf;
	warm[5] = out[1].buf;
	for (i = 0; i < 6; i++)
		ck_assert_ptr_nonnull(warm[i]);
	for (round = 0; round < 100; round++) {
		ck_assert_int_eq(push(&r, "steady", 20), 0);
		ck_assert_int_eq(push(&r, "state", 20), 0);
		ck_assert_uint_eq(ring_pop(&r, out, 2), 2);
		ck_assert(slot_is(&out[0], "steady"));
		ck_assert(slot_is(&out[1], "state"));
	}
	/* The same six buffers, only passed between the ring and out. */
	for (i = 0; i < 4; i++)
		ck_assert(in_set(warm, 6, r.slots[i].buf));
	ck_assert(in_set(warm, 6, out[0].buf));
	ck_assert(in_set(warm, 6, out[1].buf));
	ring_slots_free(out, 2);
	ring_free(&r);
}
END_TEST

START_TEST(test_ring_cuts_long_text)
{
	struct ring r;
	struct ring_slot out[1];
	size_t len = RING_TEXT_MAX + 100;
	char *big = malloc(len + 1);

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', len);
	big[len] = '\0';
	memset(out, 0, sizeof out);
	ck_assert_int_eq(ring_init(&r, 1), 0);
	ck_assert_int_eq(push(&r, big, 20), 0);
	ck_assert_uint_eq(ring_pop(&r, out, 1), 1);
	ck_assert_uint_eq(out[0].msg_len, RING_TEXT_MAX);
	/* A two-byte character across the limit is left out whole. */
	memcpy(big + RING_TEXT_MAX - 1, "\xc3\xa9", 2);
	ck_assert_int_eq(push(&r, big, 20), 0);
	ck_assert_uint_eq(ring_pop(&r, out, 1), 1);
	ck_assert_uint_eq(out[0].msg_len, RING_TEXT_MAX - 1);
	ck_assert_int_eq(ring_slot_msg(&out[0])[RING_TEXT_MAX - 2], 'x');
	ring_slots_free(out, 1);
	ring_free(&r);
	free(big);
}
END_TEST

Suite *
suite_ring(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("ring");

	tcase_set_tags(tc, TESTS_UNIT_TAG);
	tcase_add_test(tc, test_ring_fifo);
	tcase_add_test(tc, test_ring_overflow_drops_oldest);
	tcase_add_test(tc, test_ring_fields_and_color);
	tcase_add_test(tc, test_ring_reuses_buffers);
	tcase_add_test(tc, test_ring_cuts_long_text);
	suite_add_tcase(s, tc);
	return (s);
}
