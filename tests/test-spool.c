/*
 * The file queue (daemon/spool.c) driven directly, in a temporary folder:
 * records in order across segments, a cursor that survives a close, the
 * disk budget, and what a kill or a hand can leave in the folder (a record
 * cut short, garbage, segment files numbered with gaps or past the last,
 * a cursor past the end, FIFOs), and a full disk.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relogd.h"
#include "remote.h"
#include "tests.h"

/* A record's bytes after its length field, in most tests: 200 in all. */
#define SPOOL_BODY 196
/* A budget of 64 KiB: segments of 8 KiB, 40 such records each. */
#define SPOOL_BUDGET (64u * 1024)
#define SPOOL_PER_SEGMENT 40

static struct harness H;	/* only its temporary folder */
static char Q[400];		/* the queue's folder in it */
static struct spool S;
static int S_open;
static struct proto_buf LOG;	/* what spool.c said, NUL-terminated */
static struct rlimit FSIZE;	/* the file size limit before a test's */
static int FSIZE_set;

/* spool.c's messages, kept for the test to read. */
static void
spool_log_writer(const char *line, size_t len, void *arg)
{
	(void)arg;
	proto_buf_add(&LOG, line, len);
	proto_buf_add(&LOG, "", 1);
	LOG.len--;
}

/* Forget what spool.c said so far. */
static void
spool_log_clear(void)
{
	LOG.len = 0;
	proto_buf_add(&LOG, "", 1);
	LOG.len = 0;
}

/*
 * A full disk, as this process sees it: no file grows past bytes
 * (RLIMIT_FSIZE, and SIGXFSZ ignored as relogd ignores it), until
 * spool_disk_room. The suite may run in one process (CK_FORK=no).
 */
static void
spool_disk_full(rlim_t bytes)
{
	struct rlimit rl;

	if (!FSIZE_set)
		ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &FSIZE), 0);
	FSIZE_set = 1;
	signal(SIGXFSZ, SIG_IGN);
	rl = FSIZE;
	rl.rlim_cur = bytes;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* Room on the disk again. */
static void
spool_disk_room(void)
{
	if (!FSIZE_set)
		return;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &FSIZE), 0);
	signal(SIGXFSZ, SIG_DFL);
	FSIZE_set = 0;
}

/* Each test: a temporary folder, and relogd's messages caught. */
static void
spool_setup(void)
{
	harness_init(&H);
	snprintf(Q, sizeof Q, "%s/q", H.dir);
	memset(&LOG, 0, sizeof LOG);
	spool_log_clear();
	log_set_writer(spool_log_writer, NULL);
	S_open = 0;
}

/* Close the queue if a test left it open, and remove the folder. */
static void
spool_teardown(void)
{
	spool_disk_room();
	if (S_open)
		spool_close(&S);
	S_open = 0;
	log_set_writer(NULL, NULL);
	proto_buf_free(&LOG);
	harness_cleanup(&H);
}

/* Open the queue in Q, from its folder's fd as relogd opens them. */
static int
spool_try_open(uint64_t budget, uint32_t rec_min, uint32_t rec_max)
{
	int dirfd, ret;

	dirfd = open(H.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dirfd, 0);
	ret = spool_open(&S, dirfd, strrchr(Q, '/') + 1, Q, budget, rec_min,
	    rec_max);
	close(dirfd);
	return (ret);
}

/* Open the queue in Q; it must open. */
static void
spool_test_open(uint64_t budget, uint32_t rec_min, uint32_t rec_max)
{
	ck_assert_int_eq(spool_try_open(budget, rec_min, rec_max), 0);
	S_open = 1;
}

/* Close the queue. */
static void
spool_test_close(void)
{
	spool_close(&S);
	S_open = 0;
}

/* Record i with a body of size bytes: "rec <i>" and padding. */
static size_t
spool_record(char *buf, uint32_t i, uint32_t size)
{
	char head[32];
	int n;

	memcpy(buf, &size, 4);
	memset(buf + 4, 'x', size);
	n = snprintf(head, sizeof head, "rec %06" PRIu32 " ", i);
	memcpy(buf + 4, head, (size_t)n < size ? (size_t)n : size);
	return ((size_t)size + 4);
}

/* Append records first .. first+n-1; returns how many were dropped. */
static uint64_t
spool_append_n(uint32_t first, uint32_t n)
{
	char rec[4 + SPOOL_BODY];
	uint64_t dropped = 0;
	uint32_t i;

	for (i = first; i < first + n; i++)
		dropped += spool_append(&S, rec, spool_record(rec, i,
		    SPOOL_BODY));
	return (dropped);
}

/* Read the next record: it must be record i. */
static void
spool_expect(uint32_t i)
{
	char want[4 + SPOOL_BODY];
	const char *p;
	size_t len, wlen;

	wlen = spool_record(want, i, SPOOL_BODY);
	p = spool_peek(&S, &len);
	ck_assert_msg(p != NULL, "record %" PRIu32 " is not there", i);
	ck_assert_msg(len == wlen && memcmp(p, want, len) == 0, "record %"
	    PRIu32 " expected, read %zu bytes: %.12s", i, len,
	    len > 4 ? p + 4 : "");
	spool_consume(&S, len);
}

/* Read records first .. first+n-1, in order. */
static void
spool_expect_n(uint32_t first, uint32_t n)
{
	uint32_t i;

	for (i = first; i < first + n; i++)
		spool_expect(i);
}

/* Nothing is left to read. */
static void
spool_expect_end(void)
{
	size_t len;

	ck_assert_ptr_null(spool_peek(&S, &len));
	ck_assert_int_eq(spool_unread(&S), 0);
}

/* The path of segment seg (static: two calls may be in use at once). */
static const char *
spool_seg_path(uint64_t seg)
{
	static char paths[2][480];
	static int next;
	char *path = paths[next++ % 2];

	snprintf(path, sizeof paths[0], "%s/%016" PRIx64 ".q", Q, seg);
	return (path);
}

/* How many segment files the folder holds. */
static int
spool_seg_count(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir(Q);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += strlen(de->d_name) == 18 &&
		    strcmp(de->d_name + 16, ".q") == 0;
	closedir(d);
	return (n);
}

/* A file's size, or -1 if it is not there. */
static long long
spool_file_size(const char *path)
{
	struct stat st;

	return (stat(path, &st) == 0 ? (long long)st.st_size : -1);
}

/* Append bytes to a file, as a kill or a hand would leave them. */
static void
spool_file_append(const char *path, const void *buf, size_t len)
{
	int fd;

	fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* Write the queue's cursor by hand: segment seg, byte off. */
static void
spool_cursor_put(uint64_t seg, uint64_t off)
{
	char path[480], line[64];
	int fd, n;

	snprintf(path, sizeof path, "%s/cursor", Q);
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	n = snprintf(line, sizeof line, "%016" PRIx64 " %016" PRIx64 "\n", seg,
	    off);
	ck_assert_int_eq(write(fd, line, (size_t)n), n);
	close(fd);
}

/*
 * Records go out in the order they came, across segments and with appends
 * between reads; they stay until acked, and an ack deletes the segments
 * wholly before it and moves the cursor.
 */
START_TEST(test_spool_order)
{
	char path[480], *cursor, want[64];

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_int_eq(spool_pending(&S), 0);
	ck_assert_int_eq(spool_append_n(0, 50), 0);
	spool_expect_n(0, 30);
	ck_assert_int_eq(spool_append_n(50, 50), 0);
	ck_assert_uint_eq(S.records, 100);
	spool_flush(&S);
	/* 40 records of 200 bytes a segment (8 KiB): 40, 40 and 20. */
	ck_assert_int_eq(spool_seg_count(), 3);
	ck_assert_int_eq(spool_file_size(spool_seg_path(3)), 8 + 20 * 200);
	spool_expect_n(30, 70);
	spool_expect_end();
	ck_assert_int_eq(spool_pending(&S), 1);

	/* Not acked: read again from the first. */
	spool_rewind(&S);
	spool_expect_n(0, 100);
	spool_ack(&S, spool_tell(&S), 100);
	ck_assert_int_eq(spool_pending(&S), 0);
	ck_assert_uint_eq(S.records, 0);
	ck_assert_int_eq(spool_seg_count(), 1);
	ck_assert_int_eq(spool_file_size(spool_seg_path(3)), 8 + 20 * 200);
	snprintf(path, sizeof path, "%s/cursor", Q);
	cursor = harness_read_file(path, NULL);
	snprintf(want, sizeof want, "%016x %016x\n", 3, 8 + 20 * 200);
	ck_assert_str_eq(cursor, want);
	free(cursor);

	/* And on after the ack. */
	spool_append_n(100, 5);
	spool_expect_n(100, 5);
	spool_expect_end();
}
END_TEST

/*
 * Closed and opened again, the queue holds the records not acked, and
 * reads from the cursor: those read but not acked come again.
 */
START_TEST(test_spool_reopen)
{
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, 100);
	spool_expect_n(0, 50);
	spool_ack(&S, spool_tell(&S), 50);
	spool_expect_n(50, 20);
	spool_test_close();
	/* Record 50 is the eleventh of segment 2: segment 1 is gone. */
	ck_assert_int_eq(spool_seg_count(), 2);

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_uint_eq(S.records, 50);
	ck_assert_int_eq(spool_pending(&S), 1);
	spool_expect_n(50, 50);
	spool_expect_end();
	spool_test_close();

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_uint_eq(S.records, 50);
	spool_expect_n(50, 50);
	spool_append_n(100, 3);
	spool_expect_n(100, 3);
	spool_expect_end();
}
END_TEST

/*
 * Past the disk budget the oldest segment is deleted, and the records in
 * it not acked yet are counted as dropped: the newest stay, in order.
 */
START_TEST(test_spool_budget)
{
	uint64_t dropped, seg;
	long long bytes = 0;
	uint32_t i;

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	dropped = spool_append_n(0, 1000);
	/* Whole segments went, the budget is kept, all is counted. */
	ck_assert_uint_gt(dropped, 0);
	ck_assert_uint_eq(dropped % SPOOL_PER_SEGMENT, 0);
	ck_assert_uint_eq(S.records, 1000 - dropped);
	ck_assert_uint_le(S.bytes, SPOOL_BUDGET);
	spool_flush(&S);
	for (seg = S.head; seg <= S.tail; seg++)
		bytes += spool_file_size(spool_seg_path(seg));
	ck_assert_int_eq(bytes, (long long)S.bytes);
	ck_assert_int_eq(spool_seg_count(), (int)(S.tail - S.head + 1));
	spool_expect_n((uint32_t)dropped, 1000 - (uint32_t)dropped);
	spool_expect_end();
	spool_test_close();

	/* Records acked are not counted when their segment goes. */
	snprintf(Q, sizeof Q, "%s/q2", H.dir);
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, SPOOL_PER_SEGMENT);
	spool_expect_n(0, 15);
	spool_ack(&S, spool_tell(&S), 15);
	dropped = 0;
	for (i = SPOOL_PER_SEGMENT; dropped == 0; i++)
		dropped = spool_append_n(i, 1);
	ck_assert_uint_eq(dropped, SPOOL_PER_SEGMENT - 15);
	/* The reader was in the segment that went: it goes on after it. */
	spool_expect(SPOOL_PER_SEGMENT);
}
END_TEST

/*
 * A record cut short at the end of the last segment (relogd killed in the
 * middle of a write) is cut off when the queue is opened: the records
 * before it are all there, and those appended after follow them.
 */
START_TEST(test_spool_torn)
{
	uint32_t torn_len = 100;
	char torn[7];
	long long size;

	/* A length of 100, and 3 of those bytes. */
	memcpy(torn, &torn_len, 4);
	memcpy(torn + 4, "par", 3);

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, 10);
	spool_test_close();
	size = spool_file_size(spool_seg_path(1));
	ck_assert_int_eq(size, 8 + 10 * 200);
	spool_file_append(spool_seg_path(1), torn, sizeof torn);

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_msg(strstr(LOG.data, "0000000000000001.q: cut off 7 bytes "
	    "of a record written in part") != NULL, "%s", LOG.data);
	ck_assert_int_eq(spool_file_size(spool_seg_path(1)), size);
	ck_assert_uint_eq(S.records, 10);
	spool_append_n(10, 1);
	spool_expect_n(0, 11);
	spool_expect_end();
	spool_test_close();

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_uint_eq(S.records, 11);
	spool_expect_n(0, 11);
	spool_expect_end();
}
END_TEST

/*
 * Garbage in a segment before the last (a disk's damage) is skipped, the
 * rest of that segment with it: the records before it and the segments
 * after it are read.
 */
START_TEST(test_spool_garbage)
{
	static const uint32_t bad = 0xffffffff;
	int fd;

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, 100);
	spool_test_close();
	/* Record 50, the eleventh of segment 2: its length, made garbage. */
	fd = open(spool_seg_path(2), O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, &bad, 4, 8 + 10 * 200), 4);
	close(fd);

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_msg(strstr(LOG.data, "0000000000000002.q: garbage after "
	    "2008 bytes; the rest of it (6000 bytes) is skipped") != NULL, "%s",
	    LOG.data);
	ck_assert_uint_eq(S.records, 40 + 10 + 20);
	spool_expect_n(0, 50);
	spool_expect_n(80, 20);
	spool_expect_end();
	ck_assert_ptr_nonnull(strstr(LOG.data, "a record cannot be read; the "
	    "rest of segment 2 is skipped"));
	/* The damaged segment stays in place: it is counted, not mended. */
	ck_assert_int_eq(spool_file_size(spool_seg_path(2)),
	    8 + SPOOL_PER_SEGMENT * 200);
}
END_TEST

/*
 * Segment files numbered with a gap are renumbered in a row from the
 * first, the cursor's with them; numbered past the last a queue may count
 * to (put there by hand), from 1, gap or not. Nothing is lost, and
 * nothing read twice while the cursor names a segment that is there.
 */
START_TEST(test_spool_renumber)
{
	static const char magic[] = "RELOGQ1\n";
	uint64_t seg;

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, 160);
	spool_expect_n(0, 50);
	spool_ack(&S, spool_tell(&S), 50);
	spool_test_close();
	/* Segments 2, 3, 4 (1 was acked): made 0x12, 0x13 and 0x20. */
	ck_assert_int_eq(rename(spool_seg_path(2), spool_seg_path(0x12)), 0);
	ck_assert_int_eq(rename(spool_seg_path(3), spool_seg_path(0x13)), 0);
	ck_assert_int_eq(rename(spool_seg_path(4), spool_seg_path(0x20)), 0);
	spool_cursor_put(0x12, 8 + 10 * 200);

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_msg(strstr(LOG.data, "segment files renumbered from 18\n") !=
	    NULL, "%s", LOG.data);
	ck_assert_int_eq(spool_file_size(spool_seg_path(0x14)),
	    8 + SPOOL_PER_SEGMENT * 200);
	ck_assert_int_eq(spool_file_size(spool_seg_path(0x20)), -1);
	ck_assert_int_eq(spool_seg_count(), 3);
	ck_assert_uint_eq(S.records, 110);
	spool_expect_n(50, 110);
	spool_expect_end();
	spool_test_close();

	/* An empty segment numbered at the very end: from 1 again. */
	harness_write_file(spool_seg_path(UINT64_MAX), magic);
	spool_log_clear();
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_msg(strstr(LOG.data, "segment files renumbered from 1\n") !=
	    NULL, "%s", LOG.data);
	ck_assert_int_eq(spool_file_size(spool_seg_path(4)), 8);
	ck_assert_int_eq(spool_file_size(spool_seg_path(UINT64_MAX)), -1);
	ck_assert_int_eq(spool_seg_count(), 4);
	ck_assert_uint_eq(S.records, 110);
	spool_append_n(160, 2);
	spool_expect_n(50, 112);
	spool_expect_end();
	spool_test_close();

	/*
	 * In a row, but past the last number: from 1 again. The cursor still
	 * says segment 1, which is not there any more: its offset no longer
	 * means anything, and the first segment is read from its start.
	 */
	for (seg = 1; seg <= 4; seg++)
		ck_assert_int_eq(rename(spool_seg_path(seg),
		    spool_seg_path(SPOOL_SEGMENT_LAST + seg)), 0);
	spool_log_clear();
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_msg(strstr(LOG.data, "segment files renumbered from 1\n") !=
	    NULL, "%s", LOG.data);
	ck_assert_int_eq(spool_seg_count(), 4);
	ck_assert_int_eq(spool_file_size(spool_seg_path(4)), 8 + 2 * 200);
	ck_assert_uint_eq(S.records, 122);
	spool_expect_n(40, 122);
	spool_expect_end();
}
END_TEST

/*
 * A record's length field out of rec_min .. rec_max is not a record, its
 * bytes all there or not, nor what a kill leaves (that is a record cut
 * short): at the end of the last segment it is damage, skipped with
 * whatever follows it and said, the file kept as it is, and records are
 * appended to a new segment, where they are read.
 */
START_TEST(test_spool_bounds)
{
	char rec[4 + 100];
	const char *p;
	size_t len;

	spool_test_open(1u << 20, 16, 64);
	spool_append(&S, rec, spool_record(rec, 0, 16));
	spool_append(&S, rec, spool_record(rec, 1, 64));
	spool_test_close();
	/* A whole record one byte too long, then a good one. */
	spool_file_append(spool_seg_path(1), rec, spool_record(rec, 2, 65));
	spool_file_append(spool_seg_path(1), rec, spool_record(rec, 3, 20));

	spool_test_open(1u << 20, 16, 64);
	ck_assert_msg(strstr(LOG.data, "0000000000000001.q: garbage after 96 "
	    "bytes; the rest of it (93 bytes) is skipped") != NULL, "%s",
	    LOG.data);
	ck_assert_int_eq(spool_file_size(spool_seg_path(1)), 96 + 93);
	ck_assert_uint_eq(S.records, 2);
	spool_append(&S, rec, spool_record(rec, 5, 30));
	ck_assert_ptr_nonnull(p = spool_peek(&S, &len));
	ck_assert_uint_eq(len, 4 + 16);
	ck_assert(memcmp(p + 4, "rec 000000 ", 11) == 0);
	spool_consume(&S, len);
	ck_assert_ptr_nonnull(p = spool_peek(&S, &len));
	ck_assert_uint_eq(len, 4 + 64);
	ck_assert(memcmp(p + 4, "rec 000001 ", 11) == 0);
	spool_consume(&S, len);
	ck_assert_ptr_nonnull(p = spool_peek(&S, &len));
	ck_assert_uint_eq(len, 4 + 30);
	ck_assert(memcmp(p + 4, "rec 000005 ", 11) == 0);
	spool_consume(&S, len);
	spool_expect_end();
	spool_test_close();
	ck_assert_int_eq(spool_file_size(spool_seg_path(2)), 8 + 34);

	/* And one byte too short, at the end of the new one. */
	spool_file_append(spool_seg_path(2), rec, spool_record(rec, 4, 15));
	spool_log_clear();
	spool_test_open(1u << 20, 16, 64);
	ck_assert_msg(strstr(LOG.data, "0000000000000002.q: garbage after 42 "
	    "bytes; the rest of it (19 bytes) is skipped") != NULL, "%s",
	    LOG.data);
	ck_assert_uint_eq(S.records, 3);
	ck_assert_int_eq(spool_seg_count(), 3);
}
END_TEST

/*
 * A cursor past the end of its segment (a power cut lost the segment's
 * tail, or a hand wrote it): the queue goes on from the end, and records
 * appended after are there after a reopen, not cut off, and read.
 */
START_TEST(test_spool_cursor_past_end)
{
	long long size;

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, 10);
	spool_test_close();
	size = spool_file_size(spool_seg_path(1));
	spool_cursor_put(1, (uint64_t)size + 100);

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_msg(strstr(LOG.data, "the cursor is at byte") != NULL, "%s",
	    LOG.data);
	spool_append_n(10, 10);
	spool_test_close();
	spool_log_clear();
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_msg(strstr(LOG.data, "cut off") == NULL, "%s", LOG.data);
	ck_assert_uint_eq(S.records, 10);
	spool_expect_n(10, 10);
	spool_expect_end();
	spool_test_close();

	/* In a segment past the last: said as well. */
	spool_cursor_put(9, 8);
	spool_log_clear();
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_msg(strstr(LOG.data, "the cursor is in segment 9, past the "
	    "last") != NULL, "%s", LOG.data);
}
END_TEST

/*
 * A cursor inside a record (damaged, or written so by hand): read from
 * that record's start, said, none after it lost; the segment is not cut.
 */
START_TEST(test_spool_cursor_off_record)
{
	long long size;

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, 10);
	spool_test_close();
	size = spool_file_size(spool_seg_path(1));
	/* One byte into record 3. */
	spool_cursor_put(1, 8 + 3 * 200 + 1);

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_msg(strstr(LOG.data, "0000000000000001.q: the cursor at byte "
	    "609 is not at a record's start: read from byte 608") != NULL,
	    "%s", LOG.data);
	ck_assert_int_eq(spool_file_size(spool_seg_path(1)), size);
	ck_assert_uint_eq(S.records, 7);
	spool_append_n(10, 2);
	spool_expect_n(3, 9);
	spool_expect_end();
}
END_TEST

/*
 * Garbage after the last record acked (zeros a machine's crash left in the
 * last segment): nothing waits, records go to a new segment, and a
 * reopen finds just them.
 */
START_TEST(test_spool_garbage_at_cursor)
{
	static const char zeros[64];

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, 10);
	spool_expect_n(0, 10);
	spool_ack(&S, spool_tell(&S), 10);
	spool_test_close();
	spool_file_append(spool_seg_path(1), zeros, sizeof zeros);

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_msg(strstr(LOG.data, "0000000000000001.q: garbage after "
	    "2008 bytes; the rest of it (64 bytes) is skipped") != NULL, "%s",
	    LOG.data);
	ck_assert_uint_eq(S.records, 0);
	ck_assert_int_eq(spool_pending(&S), 0);
	spool_expect_end();
	spool_append_n(10, 3);
	spool_test_close();
	spool_log_clear();
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_uint_eq(S.records, 3);
	spool_expect_n(10, 3);
	spool_expect_end();
}
END_TEST

/*
 * Garbage after records in the last segment, the records read and acked
 * (helper-57): the queue is done, not pending for ever with its cursor at
 * the garbage, whether the reader reached the garbage before the ack came
 * or after; the damaged segment goes once acked past.
 */
START_TEST(test_spool_garbage_acked_past)
{
	static const uint32_t bad = 0xffffffff;
	struct spool_pos end;
	const char *p;
	size_t len;
	int after;

	for (after = 0; after <= 1; after++) {
		spool_test_open(SPOOL_BUDGET, 8, 4096);
		spool_append_n(0, 10);
		spool_test_close();
		spool_file_append(spool_seg_path(1), &bad, sizeof bad);

		spool_test_open(SPOOL_BUDGET, 8, 4096);
		ck_assert_uint_eq(S.records, 10);
		spool_expect_n(0, 10);
		/* A batch of the ten ends at the garbage. */
		end = spool_tell(&S);
		if (after) {
			spool_ack(&S, end, 10);
			ck_assert_ptr_null(p = spool_peek(&S, &len));
		} else {
			ck_assert_ptr_null(p = spool_peek(&S, &len));
			spool_ack(&S, end, 10);
		}
		ck_assert_int_eq(spool_pending(&S), 0);
		ck_assert_int_eq(spool_file_size(spool_seg_path(1)), -1);
		spool_append_n(10, 2);
		spool_expect_n(10, 2);
		spool_ack(&S, spool_tell(&S), 2);
		ck_assert_int_eq(spool_pending(&S), 0);
		spool_test_close();
		/* Reopened: nothing left, nothing said twice. */
		spool_log_clear();
		spool_test_open(SPOOL_BUDGET, 8, 4096);
		ck_assert_uint_eq(S.records, 0);
		spool_expect_end();
		ck_assert_int_eq(spool_pending(&S), 0);
		spool_test_close();
		harness_cleanup(&H);
		harness_init(&H);
		snprintf(Q, sizeof Q, "%s/q", H.dir);
	}
}
END_TEST

/*
 * FIFOs where segment files should be, never waited on for a writer or a
 * reader that will not come: one read later is skipped; the last, which
 * is appended to, makes the queue fail to open, and say so.
 */
START_TEST(test_spool_fifos)
{
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, 3 * SPOOL_PER_SEGMENT);
	spool_test_close();
	ck_assert_int_eq(spool_seg_count(), 3);
	ck_assert_int_eq(unlink(spool_seg_path(2)), 0);
	ck_assert_int_eq(mkfifo(spool_seg_path(2), 0600), 0);

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_expect_n(0, SPOOL_PER_SEGMENT);
	spool_expect_n(2 * SPOOL_PER_SEGMENT, SPOOL_PER_SEGMENT);
	spool_expect_end();
	spool_test_close();

	ck_assert_int_eq(unlink(spool_seg_path(3)), 0);
	ck_assert_int_eq(mkfifo(spool_seg_path(3), 0600), 0);
	ck_assert_int_ne(spool_try_open(SPOOL_BUDGET, 8, 4096), 0);
	ck_assert_msg(strstr(LOG.data, "forward queue") != NULL, "%s",
	    LOG.data);
}
END_TEST

/*
 * A queue folder that others may write to, or that is not relogd's, or a
 * symbolic link, is not opened: its records could be changed, or be put
 * elsewhere. One of relogd's own, 0700 or 0755, is.
 */
START_TEST(test_spool_not_alone)
{
	char other[512];

	char cursor[512];
	struct stat st;

	ck_assert_int_eq(mkdir(Q, 0700), 0);
	ck_assert_int_eq(chmod(Q, 0777), 0);
	ck_assert_int_ne(spool_try_open(SPOOL_BUDGET, 8, 4096), 0);
	ck_assert_msg(strstr(LOG.data, "not relogd's alone") != NULL, "%s",
	    LOG.data);
	snprintf(cursor, sizeof cursor, "%s/cursor", Q);
	ck_assert_int_ne(lstat(cursor, &st), 0);
	ck_assert_int_eq(chmod(Q, 0755), 0);
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, 3);
	spool_test_close();
	/* Another owner, where this user may give the folder away. */
	if (chown(Q, geteuid() + 1, getegid()) == 0) {
		spool_log_clear();
		ck_assert_int_ne(spool_try_open(SPOOL_BUDGET, 8, 4096), 0);
		ck_assert_msg(strstr(LOG.data, "not relogd's alone") != NULL,
		    "%s", LOG.data);
		ck_assert_int_eq(chown(Q, geteuid(), getegid()), 0);
	}
	/* relogd's alone, so only the link can make it refused. */

	snprintf(other, sizeof other, "%s/elsewhere", H.dir);
	ck_assert_int_eq(rename(Q, other), 0);
	ck_assert_int_eq(symlink(other, Q), 0);
	spool_log_clear();
	ck_assert_int_ne(spool_try_open(SPOOL_BUDGET, 8, 4096), 0);
	ck_assert_msg(strstr(LOG.data, "forward queue") != NULL, "%s",
	    LOG.data);
}
END_TEST

/*
 * A batch sent from memory and moved here (a spill) is acked at the
 * position where its records end (spool_mark). If the disk is full when
 * they are written, they are lost (counted), and that position is never
 * given to records appended after them: the batch's ack acknowledges none
 * of those, now or after a restart.
 */
START_TEST(test_spool_full_disk_mark)
{
	struct spool_pos end;

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, 10);
	spool_expect_n(0, 10);
	spool_ack(&S, spool_tell(&S), 10);
	spool_append_n(10, 5);
	end = spool_mark(&S);
	spool_skip_all(&S);
	spool_disk_full((rlim_t)spool_file_size(spool_seg_path(1)));
	spool_flush(&S);
	spool_disk_room();
	ck_assert_uint_eq(spool_take_lost(&S), 5);
	ck_assert_msg(strstr(LOG.data, "5 records lost") != NULL, "%s",
	    LOG.data);

	/* Five more, and then the collector acks the five it had. */
	spool_append_n(20, 5);
	spool_ack(&S, end, 5);
	ck_assert_int_eq(spool_pending(&S), 1);
	spool_expect_n(20, 5);
	spool_expect_end();
	/* Sent, not acked: they come again, and after a restart. */
	spool_rewind(&S);
	spool_expect_n(20, 5);
	spool_expect_end();
	spool_test_close();
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_expect_n(20, 5);
	spool_expect_end();
}
END_TEST

/*
 * A disk that fills in the middle of a write keeps the whole records it
 * took: the file is cut back to the last of them, not to where the write
 * began, and only the records after it are lost.
 */
START_TEST(test_spool_full_disk_partial)
{
	long long size;

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, 10);
	spool_flush(&S);
	size = spool_file_size(spool_seg_path(1));
	spool_append_n(10, 5);
	/* Room for a record and a half. */
	spool_disk_full((rlim_t)size + 300);
	spool_flush(&S);
	spool_disk_room();
	ck_assert_uint_eq(spool_take_lost(&S), 4);
	ck_assert_msg(strstr(LOG.data, "4 records lost") != NULL, "%s",
	    LOG.data);
	ck_assert_int_eq(spool_file_size(spool_seg_path(1)), size + 200);
	ck_assert_uint_eq(S.records, 11);
	spool_append_n(20, 2);
	spool_expect_n(0, 11);
	spool_expect_n(20, 2);
	spool_expect_end();
}
END_TEST

/*
 * A segment begun on a full disk has no room for its header: the header
 * is written with its first records, once there is room, and a queue
 * opened again on such a segment (an empty file) does the same. Records
 * appended then are read back, not taken for garbage.
 */
START_TEST(test_spool_full_disk_header)
{
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, SPOOL_PER_SEGMENT);
	spool_flush(&S);
	spool_disk_full(0);
	/* The next segment begins with these, and its header fails. */
	spool_append_n(SPOOL_PER_SEGMENT, 5);
	spool_flush(&S);
	spool_disk_room();
	ck_assert_uint_eq(spool_take_lost(&S), 5);
	ck_assert_int_eq(spool_file_size(spool_seg_path(2)), 0);

	spool_append_n(SPOOL_PER_SEGMENT + 5, 5);
	spool_flush(&S);
	ck_assert_int_eq(spool_file_size(spool_seg_path(2)), 8 + 5 * 200);
	spool_expect_n(0, SPOOL_PER_SEGMENT);
	spool_expect_n(SPOOL_PER_SEGMENT + 5, 5);
	spool_expect_end();

	/* Closed on a full disk with the header due, opened with room. */
	spool_append_n(100, SPOOL_PER_SEGMENT - 5);
	spool_flush(&S);
	spool_disk_full(0);
	spool_append_n(200, 3);
	spool_test_close();
	spool_disk_room();
	ck_assert_int_eq(spool_file_size(spool_seg_path(3)), 0);
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(300, 3);
	spool_flush(&S);
	ck_assert_int_eq(spool_file_size(spool_seg_path(3)), 8 + 3 * 200);
	spool_expect_n(0, SPOOL_PER_SEGMENT);
	spool_expect_n(SPOOL_PER_SEGMENT + 5, 5);
	spool_expect_n(100, SPOOL_PER_SEGMENT - 5);
	spool_expect_n(300, 3);
	spool_expect_end();
}
END_TEST

/*
 * Opened again on such a segment with the cursor in it (all before it
 * acked), the queue's positions are the file's: a batch's mark is where
 * its records end, and records appended after a spill are read.
 */
START_TEST(test_spool_full_disk_reopen)
{
	struct spool_pos end;

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, SPOOL_PER_SEGMENT);
	spool_flush(&S);
	spool_expect_n(0, SPOOL_PER_SEGMENT);
	spool_ack(&S, spool_tell(&S), SPOOL_PER_SEGMENT);
	spool_disk_full(0);
	spool_append_n(100, 3);
	spool_test_close();
	spool_disk_room();
	ck_assert_int_eq(spool_file_size(spool_seg_path(2)), 0);

	spool_log_clear();
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_msg(strstr(LOG.data, "cursor") == NULL, "%s", LOG.data);
	spool_append_n(200, 3);
	end = spool_mark(&S);
	spool_flush(&S);
	ck_assert_uint_eq(end.seg, 2);
	ck_assert_uint_eq(end.off, 8 + 3 * 200);
	ck_assert_int_eq(spool_file_size(spool_seg_path(2)), 8 + 3 * 200);
	spool_skip_all(&S);
	spool_append_n(300, 2);
	spool_expect_n(300, 2);
	spool_expect_end();

	/* A queue begun on a full disk, opened again with room. */
	spool_test_close();
	snprintf(Q, sizeof Q, "%s/q2", H.dir);
	spool_disk_full(0);
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_test_close();
	spool_disk_room();
	spool_log_clear();
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, 3);
	spool_expect_n(0, 3);
	spool_expect_end();
	ck_assert_msg(strstr(LOG.data, "cannot be read") == NULL, "%s",
	    LOG.data);
}
END_TEST

/*
 * A disk that stays full while records keep coming and batches keep
 * failing (each spilled, cut, then sent again): no segment file is made
 * for each, and the bytes counted are the files' own.
 */
START_TEST(test_spool_full_disk_churn)
{
	long long bytes = 0;
	uint64_t seg;
	int i;

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, 10);
	spool_flush(&S);
	spool_disk_full((rlim_t)spool_file_size(spool_seg_path(1)));
	for (i = 0; i < 50; i++) {
		spool_append_n(100 + (uint32_t)i * 5, 5);
		(void)spool_mark(&S);
		spool_skip_all(&S);
		spool_flush(&S);
		ck_assert_uint_eq(spool_take_lost(&S), 5);
		spool_rewind(&S);
	}
	spool_disk_room();
	ck_assert_int_eq(spool_seg_count(), 1);
	for (seg = S.head; seg <= S.tail; seg++)
		if (spool_file_size(spool_seg_path(seg)) > 0)
			bytes += spool_file_size(spool_seg_path(seg));
	ck_assert_int_eq(bytes, (long long)S.bytes);
	spool_append_n(1000, 2);
	spool_expect_n(0, 10);
	spool_expect_n(1000, 2);
	spool_expect_end();
}
END_TEST

/*
 * A segment whose file cannot be made (no descriptor left) keeps the
 * records appended for it: they are written when the queue closes.
 */
START_TEST(test_spool_no_fd)
{
	struct rlimit rl, old;
	int fd;

	spool_test_open(SPOOL_BUDGET, 8, 4096);
	spool_append_n(0, SPOOL_PER_SEGMENT);
	spool_flush(&S);
	fd = dup(0);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	rl = old;
	rl.rlim_cur = (rlim_t)fd;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	spool_append_n(100, 5);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_int_lt(S.wfd, 0);
	spool_test_close();
	spool_test_open(SPOOL_BUDGET, 8, 4096);
	ck_assert_uint_eq(S.records, SPOOL_PER_SEGMENT + 5);
	spool_expect_n(0, SPOOL_PER_SEGMENT);
	spool_expect_n(100, 5);
	spool_expect_end();
}
END_TEST

/* The file queue, with nothing started: a unit suite. */
Suite *
suite_spool(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("spool");

	tcase_set_tags(tc, TESTS_UNIT_TAG);
	tcase_add_checked_fixture(tc, spool_setup, spool_teardown);
	tcase_add_test(tc, test_spool_order);
	tcase_add_test(tc, test_spool_reopen);
	tcase_add_test(tc, test_spool_budget);
	tcase_add_test(tc, test_spool_torn);
	tcase_add_test(tc, test_spool_garbage);
	tcase_add_test(tc, test_spool_renumber);
	tcase_add_test(tc, test_spool_bounds);
	tcase_add_test(tc, test_spool_cursor_past_end);
	tcase_add_test(tc, test_spool_cursor_off_record);
	tcase_add_test(tc, test_spool_garbage_at_cursor);
	tcase_add_test(tc, test_spool_garbage_acked_past);
	tcase_add_test(tc, test_spool_fifos);
	tcase_add_test(tc, test_spool_not_alone);
	tcase_add_test(tc, test_spool_full_disk_mark);
	tcase_add_test(tc, test_spool_full_disk_partial);
	tcase_add_test(tc, test_spool_full_disk_header);
	tcase_add_test(tc, test_spool_full_disk_reopen);
	tcase_add_test(tc, test_spool_full_disk_churn);
	tcase_add_test(tc, test_spool_no_fd);
	suite_add_tcase(s, tc);
	return (s);
}
