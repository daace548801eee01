/*
 * The journald sink: each record sent with sd_journal_sendv (journald's
 * native protocol), with its fields, so that `journalctl RELOG_PLUGIN=foo`
 * finds a plugin's records:
 *   MESSAGE, PRIORITY (from the level), SYSLOG_IDENTIFIER (the plugin),
 *   RELOG_PLUGIN, RELOG_LOGGER, RELOG_LEVEL, RELOG_RUNNER_PID,
 *   RELOG_TIMESTAMP (the record's own time), RELOG_EXCEPTION.
 * The call is synchronous: when it returns, journald has the record.
 */
#include <sys/uio.h>

#include <stdio.h>
#include <string.h>

#define SD_JOURNAL_SUPPRESS_LOCATION	/* relogd's source is no field */
#include <systemd/sd-journal.h>

#include "relogd.h"

#define JOURNAL_FIELDS 10

static struct outbuf journal_buf;
static int journal_failed;

/* Where the fields of one record stand in journal_buf. */
struct journal_fields {
	size_t at[JOURNAL_FIELDS];
	size_t len[JOURNAL_FIELDS];
	int n;
};

/* Append "KEY=value" to the buffer, noting where it stands. */
static void
journal_field(struct journal_fields *f, const char *key, struct proto_str v)
{
	size_t start = journal_buf.len;

	outbuf_add(&journal_buf, key, strlen(key));
	outbuf_add(&journal_buf, "=", 1);
	outbuf_add(&journal_buf, v.ptr, v.len);
	f->at[f->n] = start;
	f->len[f->n++] = journal_buf.len - start;
}

/* Send one record of a plugin to journald. Returns 0 or a negative errno. */
int
journal_send(const char *plugin_id, const struct record *r, pid_t pid)
{
	const struct proto_entry *e = &r->e;
	struct journal_fields f = { .n = 0 };
	struct iovec iov[JOURNAL_FIELDS];
	struct outbuf text = { 0 };
	char num[32];
	int i, ret;

	journal_buf.len = 0;
	journal_field(&f, "MESSAGE", e->message);
	snprintf(num, sizeof num, "%d", sink_priority(e->level));
	journal_field(&f, "PRIORITY", proto_cstr(num));
	journal_field(&f, "SYSLOG_IDENTIFIER", proto_cstr(plugin_id));
	journal_field(&f, "RELOG_PLUGIN", proto_cstr(plugin_id));
	outbuf_add(&text, r->logger_prefix.ptr, r->logger_prefix.len);
	outbuf_add(&text, e->logger_name.ptr, e->logger_name.len);
	journal_field(&f, "RELOG_LOGGER", (struct proto_str){
	    text.len != 0 ? text.data : "", text.len });
	text.len = 0;
	sink_format_level(&text, e->level);
	journal_field(&f, "RELOG_LEVEL", (struct proto_str){ text.data,
	    text.len });
	text.len = 0;
	sink_format_time(&text, e->timestamp_ms);
	journal_field(&f, "RELOG_TIMESTAMP", (struct proto_str){ text.data,
	    text.len });
	if (pid > 0) {
		snprintf(num, sizeof num, "%ld", (long)pid);
		journal_field(&f, "RELOG_RUNNER_PID", proto_cstr(num));
	}
	if (e->exception_text.len != 0)
		journal_field(&f, "RELOG_EXCEPTION", e->exception_text);
	outbuf_free(&text);
	/* The buffer may have moved while it grew: point into it now. */
	for (i = 0; i < f.n; i++) {
		iov[i].iov_base = journal_buf.data + f.at[i];
		iov[i].iov_len = f.len[i];
	}
	ret = sd_journal_sendv(iov, f.n);
	if (ret < 0 && !journal_failed) {
		journal_failed = 1;
		log_error("cannot send to journald: %s", strerror(-ret));
	} else if (ret >= 0)
		journal_failed = 0;
	return (ret);
}

/* Free the buffer (at exit). */
void
journal_free(void)
{
	outbuf_free(&journal_buf);
}
