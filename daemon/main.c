/*
 * relogd: accept plugin runners on a Unix socket and replay their log
 * records into per-plugin loggers. Runs in the foreground, systemd style.
 * This file is the process: options, signals, and the order in which the
 * layers start and stop.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "relogd.h"

/* The config file and the flags, read again at SIGHUP. */
static const char *main_config_path;
static struct { const char *key, *value; } main_flags[16];
static size_t main_nflags;

/* Print usage to f. */
static void
main_usage(FILE *f)
{
	fprintf(f,
	    "usage: relogd [--socket PATH] [--forward-socket PATH]\n"
	    "              [--log-dir DIR] [--state-dir DIR]\n"
	    "              [--config FILE] [--max-frame BYTES]\n"
	    "              [--rate-limit BURST/SECONDS|off] [--stderr] [-v]\n"
	    "       relogd --check-config [--config FILE]\n"
	    "  --socket PATH      listen here (default %s)\n"
	    "  --forward-socket P also take Fluent's Forward protocol here\n"
	    "  --log-dir DIR      write DIR/<plugin>.log (default %s)\n"
	    "  --state-dir DIR    keep which batches were written here\n"
	    "                     (default %s)\n"
	    "  --config FILE      read settings from an INI file first\n"
	    "                     (default %s, if it is there)\n"
	    "  --max-frame BYTES  largest frame accepted (default %u, %u to "
	    "%u)\n"
	    "  --rate-limit R     records per plugin and window, e.g.\n"
	    "                     10000/30 (the default), or off\n"
	    "  --check-config     check the settings, print errors, exit\n"
	    "  --stderr           also write every record to stderr with a\n"
	    "                     <N> priority prefix, for journald\n"
	    "  -v, --verbose      log debug messages\n"
	    "  --version          print the version\n",
	    RELOG_SOCKET_DEFAULT, RELOGD_LOG_DIR_DEFAULT,
	    RELOGD_STATE_DIR_DEFAULT, RELOGD_CONFIG_DEFAULT,
	    RELOG_FRAME_MAX_DEFAULT, RELOG_FRAME_MIN, RELOG_FRAME_MAX_LIMIT);
}

/* Make a directory and its parents (mode 0755). Returns 0 or -1. */
static int
main_mkdirs(const char *path)
{
	char *copy, *p;
	int ret = 0;

	copy = strdup(path);
	if (copy == NULL)
		return (-1);
	for (p = strchr(copy + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(copy, 0755) != 0 && errno != EEXIST)
			ret = -1;
		*p = '/';
	}
	if (mkdir(copy, 0755) != 0 && errno != EEXIST)
		ret = -1;
	free(copy);
	return (ret);
}

/* SIGTERM or SIGINT: stop accepting, replay what was received, exit. */
static void
main_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	sd_notify(0, "STOPPING=1");
	log_info("stopping on signal %d", (int)sig);
	server_stop();
	metrics_stop();
	client_drain_all();
	event_base_loopbreak(relogd_base);
}

/* Say each line of a cause (a settings file's errors come one a line). */
static void
main_say_lines(const char *prefix, const char *cause)
{
	const char *p = cause != NULL ? cause : "bad settings", *nl;

	for (;;) {
		nl = strchr(p, '\n');
		log_error("%s%.*s", prefix, nl != NULL ? (int)(nl - p) :
		    (int)strlen(p), p);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

/*
 * Read the settings: defaults, the file, the flags. Returns 0, or -1 with
 * an allocated *cause.
 */
static int
main_read_config(struct config *c, char **cause)
{
	size_t i;

	*cause = NULL;
	config_defaults(c);
	/* The default file is read if it is there; a --config one must be. */
	if (main_config_path != NULL &&
	    config_load(c, main_config_path, cause) != 0)
		return (-1);
	if (main_config_path == NULL &&
	    access(RELOGD_CONFIG_DEFAULT, F_OK) == 0 &&
	    config_load(c, RELOGD_CONFIG_DEFAULT, cause) != 0)
		return (-1);
	for (i = 0; i < main_nflags; i++) {
		if (config_set(c, "relogd", main_flags[i].key,
		    main_flags[i].value, cause) != 0)
			return (-1);
	}
	return (config_load_finish(c, cause));
}

/* Keep a setting that only a restart may change (NULL: not set). */
static void
main_keep(char **fresh, char **now, const char *what)
{
	if ((*fresh == NULL) != (*now == NULL) ||
	    (*fresh != NULL && strcmp(*fresh, *now) != 0))
		log_warn("%s changes at the next start, not now", what);
	free(*fresh);
	*fresh = *now;
	*now = NULL;
}

/*
 * SIGHUP: read the config file again (a bad one is refused and the old
 * settings kept) and reopen the log files (after logrotate).
 */
static void
main_hup_cb(evutil_socket_t sig, short what, void *arg)
{
	struct config fresh;
	char *cause;

	(void)sig;
	(void)what;
	(void)arg;
	if (main_read_config(&fresh, &cause) != 0) {
		main_say_lines("configuration not reloaded, the old one "
		    "stays: ", cause);
		free(cause);
		config_free(&fresh);
	} else {
		main_keep(&fresh.socket_path, &relogd_config.socket_path,
		    "socket");
		main_keep(&fresh.fluent_socket,
		    &relogd_config.fluent_socket, "forward_socket");
		main_keep(&fresh.log_dir, &relogd_config.log_dir, "log_dir");
		main_keep(&fresh.state_dir, &relogd_config.state_dir,
		    "state_dir");
		main_keep(&fresh.metrics_listen,
		    &relogd_config.metrics_listen, "metrics_listen");
		fresh.max_frame = relogd_config.max_frame;
		config_free(&relogd_config);
		relogd_config = fresh;
		log_open(relogd_config.verbose);
		plugin_reconfigure_all();
		route_config();
		control_config();
		remote_start_all(0);
		log_info("configuration reloaded");
	}
	plugin_reopen_all();
	log_info("log files reopened");
}

/*
 * Use as many file descriptors as we may: every runner is a connection, and
 * every plugin a file.
 */
static void
main_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * The event loop. Precise timers (a timerfd, not epoll_wait's whole
 * milliseconds): a ring that fills fast is read on ticks well under a
 * millisecond apart (ring.c), not by waking relogd from the emitting
 * thread.
 */
static void
main_base(void)
{
	struct event_config *cfg = event_config_new();

	if (cfg == NULL ||
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) != 0 ||
	    (relogd_base = event_base_new_with_config(cfg)) == NULL)
		fatalx("cannot create the event loop");
	event_config_free(cfg);
}

/* Read the options into main_flags; returns -1 to exit with *status. */
static int
main_options(int argc, char **argv, int *check_only, int *status)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "forward-socket", required_argument, NULL, 'F' },
		{ "fluent-socket", required_argument, NULL, 'F' },
		{ "log-dir", required_argument, NULL, 'd' },
		{ "state-dir", required_argument, NULL, 't' },
		{ "config", required_argument, NULL, 'c' },
		{ "max-frame", required_argument, NULL, 'm' },
		{ "rate-limit", required_argument, NULL, 'r' },
		{ "stderr", no_argument, NULL, 'e' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	/* Flags are config keys of [relogd], set after the file. */
	static const struct { int opt; const char *key; } keys[] = {
		{ 's', "socket" }, { 'F', "forward_socket" },
		{ 'd', "log_dir" }, { 't', "state_dir" },
		{ 'm', "max_frame" }, { 'r', "rate_limit" },
		{ 'e', "stderr" }, { 'v', "verbose" },
	};
	size_t i;
	int opt;

	while ((opt = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			if (keys[i].opt == opt)
				break;
		}
		if (i < sizeof keys / sizeof keys[0]) {
			if (main_nflags == sizeof main_flags /
			    sizeof main_flags[0])
				fatalx("too many options");
			main_flags[main_nflags].key = keys[i].key;
			main_flags[main_nflags++].value = optarg != NULL ?
			    optarg : "yes";
			continue;
		}
		*status = 0;
		switch (opt) {
		case 'c': main_config_path = optarg; continue;
		case 'C': *check_only = 1; continue;
		case 'V':
			printf("relogd %s (protocol %s)\n", RELOGD_VERSION,
			    RELOG_PROTOCOL_VERSION);
			return (-1);
		case 'h':
			main_usage(stdout);
			return (-1);
		}
		*status = 2;
		main_usage(stderr);
		return (-1);
	}
	if (optind != argc) {
		*status = 2;
		main_usage(stderr);
		return (-1);
	}
	return (0);
}

/* Make the folders relogd writes to, or fail. */
static void
main_folders(void)
{
	if (main_mkdirs(relogd_config.log_dir) != 0)
		fatal("cannot create log directory %s", relogd_config.log_dir);
	if (access(relogd_config.log_dir, W_OK) != 0)
		fatal("cannot write to log directory %s",
		    relogd_config.log_dir);
	if (main_mkdirs(relogd_config.state_dir) != 0)
		fatal("cannot create state directory %s",
		    relogd_config.state_dir);
	/* Every file in them is opened relative to these. */
	relogd_log_dir_fd = open(relogd_config.log_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	relogd_state_dir_fd = open(relogd_config.state_dir, O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC);
	if (relogd_log_dir_fd < 0 || relogd_state_dir_fd < 0)
		fatal("cannot open %s", relogd_log_dir_fd < 0 ?
		    relogd_config.log_dir : relogd_config.state_dir);
}

/* SIGTERM, SIGINT and SIGHUP, through the event loop. */
static struct event *main_signals[3];

/* Watch the signals; or stop, and ignore them from now on (at exit). */
static void
main_watch_signals(int on)
{
	static const int sigs[3] = { SIGTERM, SIGINT, SIGHUP };
	int i;

	for (i = 0; i < 3; i++) {
		if (on) {
			main_signals[i] = evsignal_new(relogd_base, sigs[i],
			    sigs[i] == SIGHUP ? main_hup_cb : main_stop_cb,
			    NULL);
			if (main_signals[i] == NULL)
				fatalx("cannot set up signals");
			evsignal_add(main_signals[i], NULL);
			continue;
		}
		/* Only the remotes' events are left to run; signals wait. */
		evsignal_del(main_signals[i]);
		signal(sigs[i], SIG_IGN);
	}
}

/*
 * After the loop: write what was received, record what was written, give
 * the remotes their time, then free every layer, top down.
 */
static void
main_shutdown(void)
{
	int i;

	metrics_stop();
	plugin_drain_all();
	client_free_all();
	ack_free_all();
	main_watch_signals(0);
	remote_drain_all();
	remote_free_all();
	plugin_free_all();
	route_free();
	owner_free();
	tail_free();
	journal_free();
	fluent_free();
	state_close();
	log_info("stopped");
	sink_stderr_close();
	for (i = 0; i < 3; i++)
		event_free(main_signals[i]);
	event_base_free(relogd_base);
	relogd_base = NULL;
	config_free(&relogd_config);
}

/* relogd: read the settings, start the layers, run, stop. */
int
main(int argc, char **argv)
{
	int check_only = 0, status = 0;
	char *cause = NULL;

	if (main_options(argc, argv, &check_only, &status) != 0)
		return (status);
	if (main_read_config(&relogd_config, &cause) != 0) {
		main_say_lines("", cause);
		exit(1);
	}
	if (check_only) {
		printf("%s: ok\n", main_config_path != NULL ?
		    main_config_path : access(RELOGD_CONFIG_DEFAULT, F_OK) == 0 ?
		    RELOGD_CONFIG_DEFAULT : "defaults");
		config_free(&relogd_config);
		return (0);
	}
	log_open(relogd_config.verbose);
	main_raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	/* A file size limit (LimitFSIZE=) fails writes, as a full disk does. */
	signal(SIGXFSZ, SIG_IGN);
	main_folders();
	state_open(relogd_config.state_dir);
	owner_load();

	main_base();
	/* A file that writes again may settle acks. */
	sink_set_progress(ack_progress);
	/* relogd's own messages go through it from now on: never blocking. */
	sink_stderr();
	main_watch_signals(1);
	/* Before the socket: a port that cannot be bound leaves nothing. */
	metrics_start();
	server_start();
	remote_init();
	remote_start_all(1);
	route_config();
	relogd_started = time(NULL);
	log_info("relogd %s listening on %s, logging to %s",
	    RELOGD_VERSION, relogd_config.socket_path, relogd_config.log_dir);
	sd_notify(0, "READY=1");

	event_base_dispatch(relogd_base);
	main_shutdown();
	return (0);
}
