/*
 * The journald sink: each record sent to journald's native socket, with its
 * fields, so that `journalctl RELOG_PLUGIN=foo` finds a plugin's records:
 *   MESSAGE, PRIORITY (from the level), SYSLOG_IDENTIFIER (the plugin),
 *   RELOG_PLUGIN, RELOG_LOGGER, RELOG_LEVEL, RELOG_RUNNER_PID,
 *   RELOG_TIMESTAMP (the record's own time), RELOG_EXCEPTION.
 *
 * Texts go with their control bytes escaped, as in every output.
 * The datagram is sent without blocking: a journald that falls behind
 * loses records (relogd says so once) but never stalls relogd.
 * Only a record too large for one datagram goes through libsystemd's
 * sd_journal_sendv, which passes it in a memfd.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION	/* relogd's source is no field */
#include <systemd/sd-journal.h>

#include "relogd.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define JOURNAL_FIELDS 10

/* A record's fields. */
struct journal_fields {
	const char *key[JOURNAL_FIELDS];
	struct proto_str value[JOURNAL_FIELDS];
	int n;
};

static struct proto_buf journal_buf;
/* Fields made for each record, kept to be reused. */
static struct proto_buf journal_logger, journal_when, journal_message;
static struct proto_buf journal_exception;
static int journal_fd = -1;
static int journal_failed;

/* Add a field. */
static void
journal_field(struct journal_fields *f, const char *key, struct proto_str v)
{
	f->key[f->n] = key;
	f->value[f->n++] = v;
}

/*
 * Encode the fields in journald's native protocol: KEY=value lines, and a
 * value with a newline as KEY, its 64-bit little-endian length, the bytes.
 */
static void
journal_encode(const struct journal_fields *f)
{
	unsigned char le[8];
	uint64_t len;
	int i, k;

	journal_buf.len = 0;
	for (i = 0; i < f->n; i++) {
		proto_buf_add(&journal_buf, f->key[i], strlen(f->key[i]));
		if (memchr(f->value[i].ptr, '\n', f->value[i].len) == NULL)
			proto_buf_add(&journal_buf, "=", 1);
		else {
			proto_buf_add(&journal_buf, "\n", 1);
			len = f->value[i].len;
			for (k = 0; k < 8; k++)
				le[k] = (unsigned char)(len >> (8 * k));
			proto_buf_add(&journal_buf, le, sizeof le);
		}
		proto_buf_add(&journal_buf, f->value[i].ptr, f->value[i].len);
		proto_buf_add(&journal_buf, "\n", 1);
	}
}

/* Send a record too large for a datagram through libsystemd (a memfd). */
static int
journal_send_large(const struct journal_fields *f)
{
	struct iovec iov[JOURNAL_FIELDS];
	size_t at[JOURNAL_FIELDS];
	int i;

	journal_buf.len = 0;
	for (i = 0; i < f->n; i++) {
		at[i] = journal_buf.len;
		proto_buf_add(&journal_buf, f->key[i], strlen(f->key[i]));
		proto_buf_add(&journal_buf, "=", 1);
		proto_buf_add(&journal_buf, f->value[i].ptr, f->value[i].len);
	}
	for (i = 0; i < f->n; i++) {
		iov[i].iov_base = journal_buf.data + at[i];
		iov[i].iov_len = (i + 1 < f->n ? at[i + 1] : journal_buf.len) -
		    at[i];
	}
	return (sd_journal_sendv(iov, f->n));
}

/* Send the encoded datagram, without waiting. Returns 0 or -errno. */
static int
journal_send_now(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (journal_fd < 0) {
		journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0);
		if (journal_fd < 0)
			return (-errno);
	}
	memcpy(sun.sun_path, JOURNAL_SOCKET, sizeof JOURNAL_SOCKET);
	if (sendto(journal_fd, journal_buf.data, journal_buf.len,
	    MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sun,
	    sizeof sun) < 0)
		return (-errno);
	return (0);
}

/*
 * Send one record of a plugin to journald; if it cannot, say so once.
 * Returns 0, or -1 if the record is lost.
 */
int
journal_send(const char *plugin_id, const struct record *r, pid_t pid)
{
	const struct proto_entry *e = &r->e;
	struct journal_fields f = { .n = 0 };
	char prio[8], pidstr[24], other[PROTO_LEVEL_NAME_MAX];
	const char *level = proto_level_name(e->level, other);
	int ret;

	journal_message.len = journal_exception.len = 0;
	proto_escape(&journal_message, e->message, 0);
	journal_field(&f, "MESSAGE", (struct proto_str){
	    journal_message.data != NULL ? journal_message.data : "",
	    journal_message.len });
	snprintf(prio, sizeof prio, "%d", proto_level_priority(e->level));
	journal_field(&f, "PRIORITY", proto_cstr(prio));
	journal_field(&f, "SYSLOG_IDENTIFIER", proto_cstr(plugin_id));
	journal_field(&f, "RELOG_PLUGIN", proto_cstr(plugin_id));
	journal_logger.len = journal_when.len = 0;
	proto_buf_add(&journal_logger, r->logger_prefix.ptr,
	    r->logger_prefix.len);
	proto_escape(&journal_logger, e->logger_name, 1);
	journal_field(&f, "RELOG_LOGGER", (struct proto_str){
	    journal_logger.len != 0 ? journal_logger.data : "",
	    journal_logger.len });
	journal_field(&f, "RELOG_LEVEL", proto_cstr(level));
	proto_format_time(&journal_when, e->timestamp_ms);
	journal_field(&f, "RELOG_TIMESTAMP", (struct proto_str){
	    journal_when.data, journal_when.len });
	if (pid > 0) {
		snprintf(pidstr, sizeof pidstr, "%ld", (long)pid);
		journal_field(&f, "RELOG_RUNNER_PID", proto_cstr(pidstr));
	}
	if (e->exception_text.len != 0) {
		proto_escape(&journal_exception, e->exception_text, 0);
		journal_field(&f, "RELOG_EXCEPTION", (struct proto_str){
		    journal_exception.data, journal_exception.len });
	}

	journal_encode(&f);
	ret = journal_send_now();
	if (ret == -EMSGSIZE || ret == -ENOBUFS)
		ret = journal_send_large(&f);
	if (ret < 0 && !journal_failed) {
		journal_failed = 1;
		log_error("journald did not take a record (%s): records are "
		    "lost while it does not (counted in stats)",
		    strerror(-ret));
	} else if (ret >= 0)
		journal_failed = 0;
	return (ret < 0 ? -1 : 0);
}

/* Close the socket and free the buffer (at exit). */
void
journal_free(void)
{
	if (journal_fd >= 0)
		close(journal_fd);
	journal_fd = -1;
	proto_buf_free(&journal_buf);
	proto_buf_free(&journal_logger);
	proto_buf_free(&journal_when);
	proto_buf_free(&journal_message);
	proto_buf_free(&journal_exception);
}
