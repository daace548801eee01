/*
 * relogd's settings table (daemon/config.c, with daemon/uri.c) driven
 * directly: every key of every type sets its field and nothing else, bad
 * values are refused with a cause naming the section and the key, plugin
 * sections merge over [plugin.*] over [relogd], and the file's errors
 * name the file and the line.
 */
#include <sys/resource.h>

#include <fcntl.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relogd.h"
#include "tests.h"

static struct harness H;	/* only its temporary folder */
static struct config C;

/* Each test: the built-in defaults, and a temporary folder. */
static void
config_setup(void)
{
	harness_init(&H);
	config_defaults(&C);
}

/* Free the settings and remove the folder. */
static void
config_teardown(void)
{
	config_free(&C);
	harness_cleanup(&H);
}

/* Set a key; it must be taken. */
static void
config_test_set(const char *section, const char *key, const char *value)
{
	char *cause = NULL;
	int ret;

	ret = config_set(&C, section, key, value, &cause);
	ck_assert_msg(ret == 0, "[%s] %s = %s: %s", section, key, value,
	    cause != NULL ? cause : "");
}

/* Set a key; it must be refused, with the cause want. */
static void
config_test_refused(const char *section, const char *key, const char *value,
    const char *want)
{
	char *cause = NULL;

	ck_assert_msg(config_set(&C, section, key, value, &cause) == -1,
	    "[%s] %s = %s was taken", section, key, value);
	ck_assert_ptr_nonnull(cause);
	ck_assert_str_eq(cause, want);
	free(cause);
}

/* config_load_finish must refuse what is set, with the cause want. */
static void
config_test_unfinished(const char *want)
{
	char *cause = NULL;

	ck_assert_int_eq(config_load_finish(&C, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_str_eq(cause, want);
	free(cause);
}

/*
 * Set a key of [relogd]: only the size bytes at off in struct config may
 * change.
 */
static void
config_test_set_only(const char *key, const char *value, size_t off,
    size_t size)
{
	struct config before;

	memcpy(&before, &C, sizeof C);
	config_test_set("relogd", key, value);
	ck_assert_msg(memcmp(&before, &C, off) == 0 &&
	    memcmp((char *)&before + off + size, (char *)&C + off + size,
	    sizeof C - off - size) == 0, "%s set more than its field", key);
}

/* Which fields of two plugin settings differ, one bit each. */
static int
config_test_diff(const struct plugin_settings *a,
    const struct plugin_settings *b)
{
	return ((a->strict != b->strict) << 0 |
	    (a->rate.burst != b->rate.burst ||
	    a->rate.interval_s != b->rate.interval_s) << 1 |
	    (a->level != b->level) << 2 |
	    (strcmp(a->file, b->file) != 0) << 3 |
	    (a->outputs != b->outputs) << 4 |
	    (a->max_size != b->max_size) << 5 |
	    (a->keep != b->keep) << 6 |
	    (strcmp(a->remotes, b->remotes) != 0) << 7);
}

/* The section of a plugin ("*" too), or NULL. */
static const struct plugin_config *
config_test_section(const char *name)
{
	const struct plugin_config *pc;

	for (pc = C.plugins; pc != NULL; pc = pc->next) {
		if (strcmp(pc->name, name) == 0)
			return (pc);
	}
	return (NULL);
}

/* How many bits are set. */
static int
config_test_bits(uint64_t v)
{
	return (__builtin_popcountll(v));
}

/* Every string key of [relogd] sets its field, and only it. */
START_TEST(test_config_strings)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "socket", offsetof(struct config, socket_path) },
		{ "forward_socket", offsetof(struct config, fluent_socket) },
		{ "fluent_socket", offsetof(struct config, fluent_socket) },
		{ "socket_group", offsetof(struct config, socket_group) },
		{ "log_dir", offsetof(struct config, log_dir) },
		{ "state_dir", offsetof(struct config, state_dir) },
		{ "token_file", offsetof(struct config, token_file) },
		{ "forward_tls_ca", offsetof(struct config, remote_tls_ca) },
		{ "forward_tls_cert", offsetof(struct config, remote_tls_cert) },
		{ "forward_tls_key", offsetof(struct config, remote_tls_key) },
	};
	char value[64];
	size_t i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		snprintf(value, sizeof value, "/v/%s", keys[i].key);
		config_test_set_only(keys[i].key, value, keys[i].off,
		    sizeof(char *));
		ck_assert_str_eq(*(char **)((char *)&C + keys[i].off), value);
		/* Again: the old value is freed, the new one kept. */
		config_test_set_only(keys[i].key, "/w", keys[i].off,
		    sizeof(char *));
		ck_assert_str_eq(*(char **)((char *)&C + keys[i].off), "/w");
	}
}
END_TEST

/* forward_socket and fluent_socket are one setting: the last one wins. */
START_TEST(test_config_fluent_socket)
{
	config_test_set("relogd", "forward_socket", "/a");
	ck_assert_str_eq(C.fluent_socket, "/a");
	config_test_set("relogd", "fluent_socket", "/b");
	ck_assert_str_eq(C.fluent_socket, "/b");
	config_test_set("relogd", "forward_socket", "/c");
	ck_assert_str_eq(C.fluent_socket, "/c");
}
END_TEST

/*
 * Every number of [relogd] takes its least and its greatest value, and
 * refuses one past either end and what is not a number.
 */
START_TEST(test_config_sizes)
{
	static const struct {
		const char *key;
		size_t off;
		unsigned long long min, max;
	} keys[] = {
		{ "max_frame", offsetof(struct config, max_frame),
		    RELOG_FRAME_MIN, RELOG_FRAME_MAX_LIMIT },
		{ "max_entries", offsetof(struct config, max_entries), 1,
		    1000000 },
		{ "max_message", offsetof(struct config, max_message), 64,
		    RELOG_FRAME_MAX_LIMIT },
		{ "max_exception", offsetof(struct config, max_exception), 64,
		    RELOG_FRAME_MAX_LIMIT },
		{ "max_logger_name", offsetof(struct config, max_logger), 16,
		    4096 },
		{ "max_connections", offsetof(struct config, max_connections),
		    1, 1000000 },
		{ "max_plugins", offsetof(struct config, max_plugins), 1,
		    100000 },
		{ "hello_timeout", offsetof(struct config, hello_timeout_s), 1,
		    3600 },
		{ "idle_timeout", offsetof(struct config, idle_timeout_s), 0,
		    86400 * 7 },
		{ "forward_memory", offsetof(struct config, remote_memory),
		    64 * 1024, 1ull << 32 },
		{ "forward_disk", offsetof(struct config, remote_disk),
		    64 * 1024, 1ull << 40 },
		{ "forward_retry_max", offsetof(struct config,
		    remote_retry_max_s), 1, 3600 },
		{ "forward_timeout", offsetof(struct config, remote_timeout_s),
		    1, 3600 },
	};
	static const char *const bad[] = { "", "12x", "-1", "0x10", "1e3" };
	char value[64], want[128];
	size_t i, j;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		snprintf(value, sizeof value, "%llu", keys[i].min);
		config_test_set_only(keys[i].key, value, keys[i].off,
		    sizeof(size_t));
		ck_assert_uint_eq(*(size_t *)((char *)&C + keys[i].off),
		    keys[i].min);
		snprintf(value, sizeof value, "%llu", keys[i].max);
		config_test_set_only(keys[i].key, value, keys[i].off,
		    sizeof(size_t));
		ck_assert_uint_eq(*(size_t *)((char *)&C + keys[i].off),
		    keys[i].max);
		snprintf(want, sizeof want, "[relogd] %s must be a number from "
		    "%llu to %llu", keys[i].key, keys[i].min, keys[i].max);
		if (keys[i].min > 0) {
			snprintf(value, sizeof value, "%llu", keys[i].min - 1);
			config_test_refused("relogd", keys[i].key, value, want);
		}
		snprintf(value, sizeof value, "%llu", keys[i].max + 1);
		config_test_refused("relogd", keys[i].key, value, want);
		for (j = 0; j < sizeof bad / sizeof bad[0]; j++)
			config_test_refused("relogd", keys[i].key, bad[j],
			    want);
		/* Refused, the field kept what it had. */
		ck_assert_uint_eq(*(size_t *)((char *)&C + keys[i].off),
		    keys[i].max);
	}
}
END_TEST

/* The same of the numbers a plugin's section takes. */
START_TEST(test_config_plugin_sizes)
{
	static const struct {
		const char *key;
		size_t off;
		unsigned long long min, max;
	} keys[] = {
		{ "max_size", offsetof(struct plugin_settings, max_size), 0,
		    1ull << 40 },
		{ "keep", offsetof(struct plugin_settings, keep), 1, 100 },
	};
	static const char *const bad[] = { "", "12x", "-1", "0x10", "1e3" };
	struct plugin_settings set;
	char value[64], want[128];
	size_t i, j;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		snprintf(value, sizeof value, "%llu", keys[i].min);
		config_test_set("plugin.alpha", keys[i].key, value);
		config_plugin(&C, "alpha", &set);
		ck_assert_uint_eq(*(size_t *)((char *)&set + keys[i].off),
		    keys[i].min);
		snprintf(value, sizeof value, "%llu", keys[i].max);
		config_test_set("plugin.alpha", keys[i].key, value);
		config_plugin(&C, "alpha", &set);
		ck_assert_uint_eq(*(size_t *)((char *)&set + keys[i].off),
		    keys[i].max);
		snprintf(want, sizeof want, "[plugin.alpha] %s must be a "
		    "number from %llu to %llu", keys[i].key, keys[i].min,
		    keys[i].max);
		if (keys[i].min > 0) {
			snprintf(value, sizeof value, "%llu", keys[i].min - 1);
			config_test_refused("plugin.alpha", keys[i].key, value,
			    want);
		}
		snprintf(value, sizeof value, "%llu", keys[i].max + 1);
		config_test_refused("plugin.alpha", keys[i].key, value, want);
		for (j = 0; j < sizeof bad / sizeof bad[0]; j++)
			config_test_refused("plugin.alpha", keys[i].key, bad[j],
			    want);
		config_plugin(&C, "alpha", &set);
		ck_assert_uint_eq(*(size_t *)((char *)&set + keys[i].off),
		    keys[i].max);
	}
}
END_TEST

/* yes/no and their friends; nothing else, case included. */
START_TEST(test_config_bools)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	struct plugin_settings s;
	size_t i;

	for (i = 0; i < 4; i++) {
		config_test_set_only("stderr", yes[i], offsetof(struct config,
		    to_stderr), sizeof(int));
		ck_assert_int_eq(C.to_stderr, 1);
		config_test_set_only("stderr", no[i], offsetof(struct config,
		    to_stderr), sizeof(int));
		ck_assert_int_eq(C.to_stderr, 0);
		config_test_set_only("verbose", yes[i], offsetof(struct config,
		    verbose), sizeof(int));
		ck_assert_int_eq(C.verbose, 1);
		config_test_set_only("verbose", no[i], offsetof(struct config,
		    verbose), sizeof(int));
		ck_assert_int_eq(C.verbose, 0);
		config_test_set("plugin.alpha", "strict", yes[i]);
		config_plugin(&C, "alpha", &s);
		ck_assert_int_eq(s.strict, 1);
		config_test_set("plugin.alpha", "strict", no[i]);
		config_plugin(&C, "alpha", &s);
		ck_assert_int_eq(s.strict, 0);
	}
	config_test_refused("relogd", "stderr", "YES", "[relogd] stderr must "
	    "be yes or no");
	config_test_refused("relogd", "verbose", "2", "[relogd] verbose must "
	    "be yes or no");
	config_test_refused("plugin.alpha", "strict", "maybe", "[plugin.alpha] "
	    "strict must be yes or no");
}
END_TEST

/* socket_mode is octal, up to 0777. */
START_TEST(test_config_mode)
{
	static const char want[] = "[relogd] socket_mode must be an octal "
	    "mode from 0 to 0777";

	config_test_set_only("socket_mode", "640", offsetof(struct config,
	    socket_mode), sizeof(mode_t));
	ck_assert_uint_eq(C.socket_mode, 0640);
	config_test_set_only("socket_mode", "0777", offsetof(struct config,
	    socket_mode), sizeof(mode_t));
	ck_assert_uint_eq(C.socket_mode, 0777);
	config_test_refused("relogd", "socket_mode", "1000", want);
	config_test_refused("relogd", "socket_mode", "8", want);
	config_test_refused("relogd", "socket_mode", "rw", want);
}
END_TEST

/* allow_uids and admin_uids: lists of uids, replaced when set again. */
START_TEST(test_config_uids)
{
	config_test_set_only("allow_uids", "0, 1000,1001",
	    offsetof(struct config, allow_uids), sizeof(struct uid_list));
	ck_assert_uint_eq(C.allow_uids.n, 3);
	ck_assert_uint_eq(C.allow_uids.uids[0], 0);
	ck_assert_uint_eq(C.allow_uids.uids[1], 1000);
	ck_assert_uint_eq(C.allow_uids.uids[2], 1001);
	ck_assert_int_eq(config_uid_listed(&C.allow_uids, 1000), 1);
	ck_assert_int_eq(config_uid_listed(&C.allow_uids, 1), 0);
	config_test_set_only("allow_uids", "5", offsetof(struct config,
	    allow_uids), sizeof(struct uid_list));
	ck_assert_uint_eq(C.allow_uids.n, 1);
	ck_assert_int_eq(config_uid_listed(&C.allow_uids, 1000), 0);
	config_test_set_only("admin_uids", "4294967294",
	    offsetof(struct config, admin_uids), sizeof(struct uid_list));
	ck_assert_uint_eq(C.admin_uids.n, 1);
	ck_assert_uint_eq(C.admin_uids.uids[0], 4294967294u);
	/* (uid_t)-1 is no one's. */
	config_test_refused("relogd", "admin_uids", "4294967295", "[relogd] "
	    "admin_uids must be a list of uids");
	/* A plugin's uids take user names: one that is no user is named. */
	config_test_refused("plugin.alpha", "uids", "0, relog-no-such-user",
	    "[plugin.alpha] uids: relog-no-such-user is no user");
	config_test_refused("plugin.alpha", "uids", "1,2,3,4,5,6,7,8,9,10,11,"
	    "12,13,14,15,16,17", "[plugin.alpha] uids must list at most 16 "
	    "uids or user names");
	config_test_refused("relogd", "allow_uids", "1000, bob", "[relogd] "
	    "allow_uids must be a list of uids");
	config_test_refused("relogd", "allow_uids", "-1", "[relogd] "
	    "allow_uids must be a list of uids");
}
END_TEST

/* rate_limit: BURST/SECONDS or off, the default in [relogd]. */
START_TEST(test_config_rate)
{
	static const char *const bad[] = { "100", "0/10", "100/0", "100/86401",
	    "100000001/1", "x/y", "10/10/10", "off/1",
	    "1000000000000000000000000000000000000000000000000000000000000/1" };
	struct plugin_settings s;
	size_t i;

	config_test_set_only("rate_limit", "100/10", offsetof(struct config,
	    plugin_defaults.rate), sizeof(struct config_rate));
	ck_assert_uint_eq(C.plugin_defaults.rate.burst, 100);
	ck_assert_uint_eq(C.plugin_defaults.rate.interval_s, 10);
	config_test_set_only("rate_limit", "100000000/86400",
	    offsetof(struct config, plugin_defaults.rate),
	    sizeof(struct config_rate));
	ck_assert_uint_eq(C.plugin_defaults.rate.burst, 100000000);
	ck_assert_uint_eq(C.plugin_defaults.rate.interval_s, 86400);
	config_test_set_only("rate_limit", "off", offsetof(struct config,
	    plugin_defaults.rate), sizeof(struct config_rate));
	ck_assert_uint_eq(C.plugin_defaults.rate.burst, 0);
	ck_assert_uint_eq(C.plugin_defaults.rate.interval_s, 0);
	config_test_set("relogd", "rate_limit", "5/5");
	config_test_set("relogd", "rate_limit", "0");
	ck_assert_uint_eq(C.plugin_defaults.rate.burst, 0);
	config_test_set("plugin.alpha", "rate_limit", "7/3");
	config_plugin(&C, "alpha", &s);
	ck_assert_uint_eq(s.rate.burst, 7);
	ck_assert_uint_eq(s.rate.interval_s, 3);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		config_test_refused("relogd", "rate_limit", bad[i], "[relogd] "
		    "rate_limit must be BURST/SECONDS (1 to 100000000 / 1 to "
		    "86400) or off");
		config_test_refused("plugin.alpha", "rate_limit", bad[i],
		    "[plugin.alpha] rate_limit must be BURST/SECONDS (1 to "
		    "100000000 / 1 to 86400) or off");
	}
}
END_TEST

/* level: a level's name in any case, or a number up to 1000. */
START_TEST(test_config_level)
{
	static const char want[] = "[plugin.alpha] level must be DEBUG, "
	    "INFO, WARNING, ERROR, CRITICAL or a number from 0 to 1000";
	struct plugin_settings s;

	config_test_set("plugin.alpha", "level", "WARNING");
	config_plugin(&C, "alpha", &s);
	ck_assert_int_eq(s.level, 30);
	config_test_set("plugin.alpha", "level", "critical");
	config_plugin(&C, "alpha", &s);
	ck_assert_int_eq(s.level, 50);
	config_test_set("plugin.alpha", "level", "1000");
	config_plugin(&C, "alpha", &s);
	ck_assert_int_eq(s.level, 1000);
	config_test_refused("plugin.alpha", "level", "1001", want);
	config_test_refused("plugin.alpha", "level", "verbose", want);
	config_test_refused("plugin.alpha", "level", "-5", want);
	config_test_refused("plugin.alpha", "level", "", want);
	config_test_refused("relogd", "level", "INFO", "[relogd] level is an "
	    "unknown key");
}
END_TEST

/* file: a safe file name, one plugin's only. */
START_TEST(test_config_file)
{
	static const char want[] = "[plugin.alpha] file must be a file name "
	    "of [A-Za-z0-9_.-], not starting with a dot";
	struct plugin_settings s;

	config_test_set("plugin.alpha", "file", "alpha-2.log");
	config_plugin(&C, "alpha", &s);
	ck_assert_str_eq(s.file, "alpha-2.log");
	config_test_refused("plugin.alpha", "file", ".hidden", want);
	config_test_refused("plugin.alpha", "file", "a/b", want);
	config_test_refused("plugin.alpha", "file", "", want);
	config_test_refused("plugin.*", "file", "all.log", "[plugin.*] file: "
	    "plugins cannot share a file");
	config_test_refused("relogd", "file", "all.log", "[relogd] file is an "
	    "unknown key");
}
END_TEST

/*
 * sinks: a list of file, stderr, json and journald; when not set, file,
 * and stderr too with stderr = yes.
 */
START_TEST(test_config_sinks)
{
	static const char want[] = "[plugin.alpha] sinks must list file, "
	    "stderr, json or journald";
	struct plugin_settings s;

	config_plugin(&C, "beta", &s);
	ck_assert_int_eq(s.outputs, OUTPUT_FILE);
	config_test_set("relogd", "stderr", "yes");
	config_plugin(&C, "beta", &s);
	ck_assert_int_eq(s.outputs, OUTPUT_FILE | OUTPUT_STDERR);
	config_test_set("plugin.alpha", "sinks", "file, json");
	config_plugin(&C, "alpha", &s);
	ck_assert_int_eq(s.outputs, OUTPUT_FILE | OUTPUT_JSON);
	config_test_set("plugin.alpha", "sinks", "stderr journald");
	config_plugin(&C, "alpha", &s);
	ck_assert_int_eq(s.outputs, OUTPUT_STDERR | OUTPUT_JOURNALD);
	config_test_refused("plugin.alpha", "sinks", "file, syslog", want);
	config_test_refused("plugin.alpha", "sinks", "", want);
	config_test_refused("plugin.alpha", "sinks", "FILE", want);
}
END_TEST

/*
 * forward: a list of URIs ("none": none), checked when set; the default
 * in [relogd], a plugin's own in its section.
 */
START_TEST(test_config_forward)
{
	char long_list[RELOGD_REMOTE_LIST_MAX + 16];
	struct plugin_settings s;
	char *cause = NULL;

	config_test_set_only("forward", "syslog://h:514, fluent+unix:/x",
	    offsetof(struct config, plugin_defaults.remotes),
	    RELOGD_REMOTE_LIST_MAX);
	ck_assert_str_eq(C.plugin_defaults.remotes,
	    "syslog://h:514, fluent+unix:/x");
	config_test_set("plugin.alpha", "forward", "none");
	config_plugin(&C, "alpha", &s);
	ck_assert_str_eq(s.remotes, "none");
	config_plugin(&C, "beta", &s);
	ck_assert_str_eq(s.remotes, "syslog://h:514, fluent+unix:/x");
	/* uri.c's causes name the key, and the URI. */
	ck_assert_int_eq(config_set(&C, "plugin.alpha", "forward",
	    "syslog://h, http://h", &cause), -1);
	ck_assert_msg(strncmp(cause, "forward: bad URI \"http://h\" ", 28) ==
	    0, "%s", cause);
	free(cause);
	config_test_refused("relogd", "forward", "syslog://a syslog://b "
	    "syslog://c syslog://d syslog://e", "forward: at most 4 sinks");
	memset(long_list, 'a', sizeof long_list - 1);
	long_list[sizeof long_list - 1] = '\0';
	config_test_refused("relogd", "forward", long_list, "[relogd] forward "
	    "is too long");
	/* Refused, the settings stay. */
	config_plugin(&C, "alpha", &s);
	ck_assert_str_eq(s.remotes, "none");
	ck_assert_str_eq(C.plugin_defaults.remotes,
	    "syslog://h:514, fluent+unix:/x");
}
END_TEST

/*
 * A plugin key set in [plugin.alpha] lands in that field only, for alpha
 * only, and its section says it set that key and no other.
 */
START_TEST(test_config_plugin_key)
{
	static const struct {
		const char *key;
		const char *value;
		int field;	/* config_test_diff's bit */
	} keys[] = {
		{ "strict", "yes", 1 << 0 },
		{ "rate_limit", "9/9", 1 << 1 },
		{ "level", "ERROR", 1 << 2 },
		{ "file", "a.log", 1 << 3 },
		{ "sinks", "json", 1 << 4 },
		{ "max_size", "1048576", 1 << 5 },
		{ "keep", "9", 1 << 6 },
		{ "forward", "syslog://h", 1 << 7 },
	};
	struct plugin_settings defaults, alpha, beta;
	const struct plugin_config *pc;
	size_t i;

	config_plugin(&C, "alpha", &defaults);
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		config_free(&C);
		config_defaults(&C);
		config_test_set("plugin.alpha", keys[i].key, keys[i].value);
		config_plugin(&C, "alpha", &alpha);
		config_plugin(&C, "beta", &beta);
		ck_assert_msg(config_test_diff(&alpha, &defaults) ==
		    keys[i].field, "%s: fields %#x changed", keys[i].key,
		    config_test_diff(&alpha, &defaults));
		ck_assert_msg(config_test_diff(&beta, &defaults) == 0,
		    "%s: beta's fields %#x changed", keys[i].key,
		    config_test_diff(&beta, &defaults));
		ck_assert_ptr_nonnull(pc = config_test_section("alpha"));
		ck_assert_int_eq(config_test_bits(pc->has), 1);
		ck_assert_ptr_null(config_test_section("beta"));
	}
	/* Two keys: two bits. */
	config_test_set("plugin.alpha", "keep", "3");
	ck_assert_int_eq(config_test_bits(config_test_section("alpha")->has),
	    2);
}
END_TEST

/*
 * A plugin's settings: its own section, over [plugin.*], over [relogd]'s
 * defaults, whatever order the sections come in.
 */
START_TEST(test_config_merge)
{
	struct plugin_settings s;
	int order;

	for (order = 0; order < 2; order++) {
		config_free(&C);
		config_defaults(&C);
		if (order == 0) {
			config_test_set("relogd", "rate_limit", "1/1");
			config_test_set("relogd", "forward", "syslog://a");
		}
		config_test_set("plugin.alpha", "rate_limit", "3/3");
		config_test_set("plugin.alpha", "keep", "7");
		config_test_set("plugin.*", "rate_limit", "2/2");
		config_test_set("plugin.*", "level", "ERROR");
		if (order == 1) {
			config_test_set("relogd", "rate_limit", "1/1");
			config_test_set("relogd", "forward", "syslog://a");
		}
		config_plugin(&C, "alpha", &s);
		ck_assert_uint_eq(s.rate.burst, 3);
		ck_assert_int_eq(s.level, 40);
		ck_assert_uint_eq(s.keep, 7);
		ck_assert_str_eq(s.remotes, "syslog://a");
		config_plugin(&C, "beta", &s);
		ck_assert_uint_eq(s.rate.burst, 2);
		ck_assert_int_eq(s.level, 40);
		ck_assert_uint_eq(s.keep, 5);
		ck_assert_str_eq(s.remotes, "syslog://a");
	}
	/* Without [plugin.*], [relogd]'s. */
	config_free(&C);
	config_defaults(&C);
	config_test_set("relogd", "rate_limit", "1/1");
	config_test_set("plugin.alpha", "keep", "7");
	config_plugin(&C, "beta", &s);
	ck_assert_uint_eq(s.rate.burst, 1);
	ck_assert_int_eq(s.level, INT64_MIN);
	config_plugin(&C, "alpha", &s);
	ck_assert_uint_eq(s.rate.burst, 1);
	ck_assert_uint_eq(s.keep, 7);
}
END_TEST

/* Unknown keys and sections, and keys in the wrong kind of section. */
START_TEST(test_config_unknown)
{
	config_test_refused("relogd", "bogus", "1", "[relogd] bogus is an "
	    "unknown key");
	config_test_refused("nope", "socket", "/x", "[nope] is an unknown "
	    "section");
	config_test_refused("plugin.alpha", "bogus", "1", "[plugin.alpha] "
	    "bogus is an unknown key");
	config_test_refused("plugin.alpha", "socket", "/x", "[plugin.alpha] "
	    "socket is an unknown key");
	config_test_refused("plugin.*", "forward_disk", "65536", "[plugin.*] "
	    "forward_disk is an unknown key");
	config_test_refused("relogd", "strict", "yes", "[relogd] strict is an "
	    "unknown key");
	config_test_refused("plugin.a/b", "level", "INFO", "[plugin.a/b]: a/b "
	    "is not a safe plugin id");
	config_test_refused("plugin.", "level", "INFO", "[plugin.]:  is not a "
	    "safe plugin id");
	config_test_refused("plugin._runtime", "uids", "0", "[plugin._runtime] "
	    "uids: relogd's own logs are owned by no one");
	config_test_refused("plugin._unrouted", "token", "s3cret",
	    "[plugin._unrouted] token: relogd's own logs are owned by no one");
}
END_TEST

/* config_load_finish: two plugins writing one file, and files it checks. */
START_TEST(test_config_finish)
{
	struct rusage before, after;
	char path[400], want[512], *cause = NULL;

	config_test_set("plugin.a", "file", "x.log");
	config_test_set("plugin.b", "file", "y.log");
	ck_assert_int_eq(config_load_finish(&C, &cause), 0);
	config_test_set("plugin.c", "file", "x.log");
	config_test_unfinished("[plugin.c] and [plugin.a] both write x.log");
	/* A plugin's own file (x.log, x.json) is not another's to set. */
	config_free(&C);
	config_defaults(&C);
	config_test_set("plugin.a", "file", "x.json");
	config_test_set("plugin.x", "level", "INFO");
	config_test_unfinished("[plugin.x] writes x.log or x.json, which "
	    "[plugin.a] has as its file");
	ck_assert_str_eq(config_file_taken(&C, "x"), "a");
	ck_assert_ptr_null(config_file_taken(&C, "a"));
	ck_assert_ptr_null(config_file_taken(&C, "xy"));
	/* One with a file of its own writes no x.log, but x.json still. */
	config_test_set("plugin.x", "file", "x-own.log");
	ck_assert_str_eq(config_file_taken(&C, "x"), "a");
	config_test_unfinished("[plugin.x] writes x.json (its JSON output's "
	    "file), which [plugin.a] has as its file");
	config_test_set("plugin.a", "file", "x.log");
	ck_assert_ptr_null(config_file_taken(&C, "x"));
	ck_assert_int_eq(config_load_finish(&C, &cause), 0);
	/* Nor is a plugin's own x.json its file. */
	config_test_set("plugin.x", "file", "x.json");
	config_test_unfinished("[plugin.x] file = x.json: its JSON output's "
	    "file");
	config_test_set("plugin.x", "file", "x-own.log");
	/* Nor is relogd's own log anyone's file. */
	config_test_set("plugin.y", "file", "_runtime.log");
	config_test_unfinished("[plugin.y] file = _runtime.log: relogd's own "
	    "log");

	config_free(&C);
	config_defaults(&C);
	snprintf(path, sizeof path, "%s/no-such-ca.pem", H.dir);
	config_test_set("relogd", "forward_tls_ca", path);
	ck_assert_int_eq(config_load_finish(&C, &cause), -1);
	ck_assert_msg(strstr(cause, "[relogd] forward_tls_ca ") == cause &&
	    strstr(cause, ": No such file or directory") != NULL, "%s", cause);
	free(cause);

	config_free(&C);
	config_defaults(&C);
	snprintf(path, sizeof path, "%s/token", H.dir);
	harness_write_file(path, "s3cret\nsecond line\n");
	config_test_set("relogd", "token_file", path);
	ck_assert_int_eq(config_load_finish(&C, &cause), 0);
	ck_assert_str_eq(C.token, "s3cret");
	ck_assert_uint_eq(C.token_len, 6);
	/* Only the first 4 KiB are read: /dev/zero used to fill memory. */
	getrusage(RUSAGE_SELF, &before);
	config_test_set("relogd", "token_file", "/dev/zero");
	config_test_unfinished("[relogd] token_file /dev/zero: no token in "
	    "it");
	getrusage(RUSAGE_SELF, &after);
	ck_assert_int_lt(after.ru_maxrss - before.ru_maxrss, 1024);
	config_test_set("relogd", "token_file", path);
	config_test_set("relogd", "socket_group", "no-such-group-here");
	config_test_unfinished("[relogd] socket_group no-such-group-here: no "
	    "such group");

	/* A plugin's token file: its section named. */
	config_free(&C);
	config_defaults(&C);
	snprintf(path, sizeof path, "%s/no-such-token", H.dir);
	config_test_set("plugin.own", "token_file", path);
	snprintf(want, sizeof want, "[plugin.own] token_file %s: No such file "
	    "or directory", path);
	config_test_unfinished(want);
}
END_TEST

/* config_load: keys from the file; an error names the file and line. */
START_TEST(test_config_load)
{
	static const char text[] = "[relogd]\nbad1\nbad2\nmax_frame = 6"
	    "00000\0junk\n[elsewhere]\nx = 1\ny = 2\n[relogd]\nmax_frame = 5\n";
	char path[400], want[3072], longer[256], id[61], *cause = NULL;
	int fd, i;

	snprintf(path, sizeof path, "%s/relogd.conf", H.dir);
	harness_write_file(path, "; a comment\n[relogd]\nlog_dir = /l\n"
	    "[plugin.alpha]\nkeep = 3\n");
	ck_assert_int_eq(config_load(&C, path, &cause), 0);
	ck_assert_str_eq(C.log_dir, "/l");
	ck_assert_uint_eq(config_test_section("alpha")->set.keep, 3);

	harness_write_file(path, "[relogd]\nlog_dir = /l\n\n"
	    "max_frame = 5\n");
	ck_assert_int_eq(config_load(&C, path, &cause), -1);
	snprintf(want, sizeof want, "%s:4: [relogd] max_frame must be a "
	    "number from %u to %u", path, RELOG_FRAME_MIN,
	    RELOG_FRAME_MAX_LIMIT);
	ck_assert_str_eq(cause, want);
	free(cause);

	harness_write_file(path, "[relogd]\nthis is not a key\n");
	ck_assert_int_eq(config_load(&C, path, &cause), -1);
	snprintf(want, sizeof want, "%s:2: syntax error", path);
	ck_assert_str_eq(cause, want);
	free(cause);

	/*
	 * Every error is said, in the file's order, each with its line: a
	 * section's that are not one once, the lines after a line that
	 * could not be parsed as they are.
	 */
	harness_write_file(path, "[relogd]\nmax_frame = 5\nnot a key\n"
	    "[plugin.a b]\nlevel = info\nkeep = 3\n[plugin.ok]\n"
	    "level = loud\n[broken\nkeep = x\nkeep = 2\n");
	ck_assert_int_eq(config_load(&C, path, &cause), -1);
	snprintf(want, sizeof want, "%s:2: [relogd] max_frame must be a "
	    "number from %u to %u\n"
	    "%s:3: syntax error\n"
	    "%s:4: [plugin.a b]: a b is not a safe plugin id\n"
	    "%s:8: [plugin.ok] level must be DEBUG, INFO, WARNING, ERROR, "
	    "CRITICAL or a number from 0 to 1000\n"
	    "%s:9: syntax error\n"
	    "%s:10: [plugin.ok] keep must be a number from 1 to 100",
	    path, RELOG_FRAME_MIN, RELOG_FRAME_MAX_LIMIT, path, path, path,
	    path, path);
	ck_assert_str_eq(cause, want);
	free(cause);

	/*
	 * Lines that cannot be parsed, one after another, each said; a NUL
	 * byte is one; an unknown section once for its keys.
	 */
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, sizeof text - 1),
	    (ssize_t)sizeof text - 1);
	close(fd);
	ck_assert_int_eq(config_load(&C, path, &cause), -1);
	snprintf(want, sizeof want, "%s:2: syntax error\n%s:3: syntax error\n"
	    "%s:4: a NUL byte in the line\n"
	    "%s:6: [elsewhere] is an unknown section\n"
	    "%s:9: [relogd] max_frame must be a number from %u to %u", path,
	    path, path, path, path, RELOG_FRAME_MIN, RELOG_FRAME_MAX_LIMIT);
	ck_assert_str_eq(cause, want);
	free(cause);

	/* The first 20 errors by line are said, then how many more. */
	snprintf(want, sizeof want, "[relogd]\nnot a key\n");
	for (i = 0; i < 21; i++)
		strcat(want, "max_frame = 5\n");
	harness_write_file(path, want);
	ck_assert_int_eq(config_load(&C, path, &cause), -1);
	ck_assert_uint_eq(harness_count(cause, "\n"), 20);
	snprintf(want, sizeof want, "%s:2: syntax error\n", path);
	ck_assert_msg(strncmp(cause, want, strlen(want)) == 0, "%s", cause);
	snprintf(want, sizeof want, "%s:21: [relogd] max_frame ", path);
	ck_assert_ptr_nonnull(strstr(cause, want));
	snprintf(want, sizeof want, "%s: more errors, not said (2 at least)",
	    path);
	ck_assert_ptr_nonnull(strstr(cause, want));
	free(cause);

	/* A section after a UTF-8 byte order mark is read. */
	harness_write_file(path, "\xEF\xBB\xBF[plugin.a b]\n");
	ck_assert_int_eq(config_load(&C, path, &cause), -1);
	snprintf(want, sizeof want, "%s:1: [plugin.a b]: a b is not a safe "
	    "plugin id", path);
	ck_assert_str_eq(cause, want);
	free(cause);

	/* A plugin id longer than libinih keeps of a section name. */
	memset(id, 'x', sizeof id - 1);
	id[sizeof id - 1] = '\0';
	snprintf(want, sizeof want, "[plugin.%s]\nkeep = 4\n", id);
	harness_write_file(path, want);
	ck_assert_int_eq(config_load(&C, path, &cause), 0);
	ck_assert_uint_eq(config_test_section(id)->set.keep, 4);

	harness_write_file(path, "[relogd]\nlog_dir = /l\n[elsewhere]\n"
	    "x = 1\n");
	ck_assert_int_eq(config_load(&C, path, &cause), -1);
	snprintf(want, sizeof want, "%s:4: [elsewhere] is an unknown section",
	    path);
	ck_assert_str_eq(cause, want);
	free(cause);

	/*
	 * A line longer than libinih reads whole is refused: the end of this
	 * comment used to set max_connections_per_uid. 198 bytes are read.
	 */
	memset(longer, 'a', sizeof longer);
	memcpy(longer, "[relogd]\n; ", 11);
	memcpy(longer + 11 + 197, "max_connections_per_uid = 7\n", 29);
	harness_write_file(path, longer);
	ck_assert_int_eq(config_load(&C, path, &cause), -1);
	snprintf(want, sizeof want, "%s:2: a line longer than 198 bytes",
	    path);
	ck_assert_str_eq(cause, want);
	free(cause);
	memcpy(longer + 11 + 196, "\nmax_connections_per_uid = 7\n", 30);
	harness_write_file(path, longer);
	ck_assert_int_eq(config_load(&C, path, &cause), 0);
	ck_assert_uint_eq(C.max_connections_per_uid, 7);

	snprintf(path, sizeof path, "%s/missing.conf", H.dir);
	ck_assert_int_eq(config_load(&C, path, &cause), -1);
	snprintf(want, sizeof want, "%s: No such file or directory", path);
	ck_assert_str_eq(cause, want);
	free(cause);
}
END_TEST

/* The settings table, with nothing started: a unit suite. */
Suite *
suite_config(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_set_tags(tc, TESTS_UNIT_TAG);
	tcase_add_checked_fixture(tc, config_setup, config_teardown);
	tcase_add_test(tc, test_config_strings);
	tcase_add_test(tc, test_config_fluent_socket);
	tcase_add_test(tc, test_config_sizes);
	tcase_add_test(tc, test_config_plugin_sizes);
	tcase_add_test(tc, test_config_bools);
	tcase_add_test(tc, test_config_mode);
	tcase_add_test(tc, test_config_uids);
	tcase_add_test(tc, test_config_rate);
	tcase_add_test(tc, test_config_level);
	tcase_add_test(tc, test_config_file);
	tcase_add_test(tc, test_config_sinks);
	tcase_add_test(tc, test_config_forward);
	tcase_add_test(tc, test_config_plugin_key);
	tcase_add_test(tc, test_config_merge);
	tcase_add_test(tc, test_config_unknown);
	tcase_add_test(tc, test_config_finish);
	tcase_add_test(tc, test_config_load);
	suite_add_tcase(s, tc);
	return (s);
}
