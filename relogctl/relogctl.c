/*
 * relogctl: talk to relogd over its socket, and read its log files.
 *
 *   relogctl [-s PATH] stats [-o text|json|prometheus] [--json]
 *   relogctl [-s PATH] tail [-f] [-n LINES] [-p PLUGIN]... [-l LEVEL] [--json]
 *   relogctl show [-p PLUGIN]... [-l LEVEL] [--since T] [--until T] ...
 *   relogctl [-s PATH] send -p PLUGIN [-l LEVEL] [-n LOGGER] [MESSAGE...]
 *   relogctl [-s PATH] exec -p PLUGIN [-n LOGGER] -- COMMAND [ARG...]
 *   relogctl [-s PATH] reopen
 *   relogctl [-s PATH] grant PLUGIN | revoke PLUGIN
 *
 * The socket: -s, else RELOG_SOCKET, else relogd's default. send and exec
 * log like any runner, through librelog; stats, tail, reopen, grant and
 * revoke are admin methods (root, relogd's uid, admin_uids); show reads
 * the files and needs no relogd. Exit status: 0, 1 failed, 2 usage,
 * 3 relogd not running, 4 permission denied; exec: the command's.
 *
 * This file is the command line: the options every command has, usage
 * and its errors, and the table of commands.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relogctl.h"

const char *ctl_socket;

/* A command: its name, what runs it, its usage and its options. */
static const struct ctl_command {
	const char *name;
	int (*run)(int, char **);
	const char *usage;
	const char *options;
} ctl_commands[] = {
	{ "stats", ctl_stats_main,
	    "stats [-o text|json|prometheus] [--json]",
	    "  -o FORMAT       text (a table), json (relogd's answer) or\n"
	    "                  prometheus (its text exposition format)\n"
	    "  --json          the same as -o json\n" },
	{ "tail", ctl_tail_main,
	    "tail [-f] [-n LINES] [-p PLUGIN]... [-l LEVEL] [--json]",
	    "  -f              follow: print new records as they come, and\n"
	    "                  reconnect if relogd restarts\n"
	    "  -n LINES        the last LINES records first (0 to 256; 10)\n"
	    "  -p PLUGIN       only this plugin's records (up to 8 times)\n"
	    "  -l LEVEL        only records at LEVEL or above\n"
	    "  --json          a line of JSON per record\n" },
	{ "show", ctl_show_main,
	    "show [-p PLUGIN]... [-l LEVEL] [--since TIME] [--until TIME]\n"
	    "       [-g REGEX] [-n N] [-o short|json|cat] [-D DIR] "
	    "[--config FILE]\n"
	    "       [--max-record BYTES] [--no-pager]",
	    "  -p PLUGIN       only this plugin's records (repeatable)\n"
	    "  -l LEVEL        only records at LEVEL or above\n"
	    "  --since TIME    records at TIME or later: 2026-11-28,\n"
	    "                  2026-11-28T05:08:39Z, \"1h ago\", today, "
	    "yesterday\n"
	    "  --until TIME    records before TIME\n"
	    "  -g REGEX        records whose message or exception text "
	    "matches\n"
	    "                  REGEX (POSIX extended)\n"
	    "  -n N            the last N records\n"
	    "  -o FORMAT       short (default), json or cat\n"
	    "  -D DIR          the log folder (default: relogd's config's)\n"
	    "  --config FILE   relogd's config (default "
	    "/etc/relogd/relogd.conf)\n"
	    "  --max-record BYTES  skip longer records (default: the "
	    "longest the\n"
	    "                  config's max_message, max_exception and\n"
	    "                  max_logger_name let relogd write)\n"
	    "  --no-pager      do not page output to a terminal\n" },
	{ "send", ctl_send_main,
	    "send -p PLUGIN [-l LEVEL] [-n LOGGER] [MESSAGE...]",
	    "  -p PLUGIN       the plugin (required)\n"
	    "  -l LEVEL        the records' level (info)\n"
	    "  -n LOGGER       the logger name (plugin.PLUGIN)\n"
	    "  MESSAGE...      one record; without it, a record per line of\n"
	    "                  standard input\n" },
	{ "exec", ctl_exec_main,
	    "exec -p PLUGIN [-n LOGGER] -- COMMAND [ARG...]",
	    "  -p PLUGIN       the plugin (required)\n"
	    "  -n LOGGER       the logger name (plugin.PLUGIN)\n"
	    "  COMMAND's standard output as INFO records, its standard "
	    "error as\n"
	    "  WARNING records; relogctl exits with its status\n" },
	{ "reopen", ctl_reopen_main, "reopen",
	    "  relogd reopens its log files, as on SIGHUP\n" },
	{ "grant", ctl_grant_main, "grant PLUGIN",
	    "  a fresh token that owns PLUGIN, printed once (relogd keeps\n"
	    "  its hash in state_dir): give it to PLUGIN's runner as\n"
	    "  RELOG_TOKEN\n" },
	{ "revoke", ctl_revoke_main, "revoke PLUGIN",
	    "  PLUGIN's grant ends; its token no longer proves it\n" },
};

#define CTL_NCOMMANDS (sizeof ctl_commands / sizeof ctl_commands[0])

/* A command by name, or NULL. */
static const struct ctl_command *
ctl_command(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < CTL_NCOMMANDS; i++) {
		if (strcmp(ctl_commands[i].name, name) == 0)
			return (&ctl_commands[i]);
	}
	return (NULL);
}

/* Print the usage of one command (NULL: of all) to f. */
static void
ctl_usage(FILE *f, const char *name)
{
	const struct ctl_command *c = ctl_command(name);
	size_t i;

	if (c != NULL) {
		fprintf(f, "usage: relogctl [-s SOCKET] %s\n", c->usage);
		return;
	}
	fputs("usage: relogctl [-s SOCKET] COMMAND [OPTION...]\n"
	    "       relogctl --help | --version\n"
	    "commands:\n", f);
	for (i = 0; i < CTL_NCOMMANDS; i++)
		fprintf(f, "  %s\n", ctl_commands[i].usage);
}

/* --help: the usage of a command (NULL: of all), on stdout. */
void
ctl_help(const char *name)
{
	const struct ctl_command *c = ctl_command(name);

	ctl_usage(stdout, name);
	if (c != NULL)
		fputs(c->options, stdout);
	else
		fputs("options:\n"
		    "  -s, --socket PATH  relogd's socket (default "
		    "RELOG_SOCKET, else " RELOG_SOCKET_DEFAULT ")\n"
		    "  -h, --help         this help; COMMAND --help: a "
		    "command's\n"
		    "  --version          relogctl's and the protocol's "
		    "versions\n"
		    "exit status: 0, 1 failed, 2 usage, 3 relogd not running, "
		    "4 denied\n", stdout);
	exit(fflush(stdout) == 0 ? CTL_OK : CTL_FAILED);
}

/* Say what failed and exit with status. */
void
ctl_fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("relogctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/* Say what is wrong with the command line, then its usage; exit 2. */
void
ctl_usage_error(const char *name, const char *fmt, ...)
{
	va_list ap;

	fputs("relogctl: ", stderr);
	if (name != NULL)
		fprintf(stderr, "%s: ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	ctl_usage(stderr, name);
	exit(CTL_USAGE);
}

/*
 * What getopt_long (with a leading ':' in its options) returned for an
 * option it did not take: an unknown one, or one without its argument.
 */
void
ctl_bad_option(const char *name, int opt, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";

	if (opt == ':')
		ctl_usage_error(name, "%s needs an argument", arg);
	if (optopt != 0)
		ctl_usage_error(name, "unknown option -%c", optopt);
	ctl_usage_error(name, "unknown option %s", arg);
}

/*
 * A level: a name (debug, info, warning, error, critical, ...) or a
 * number from 0 to 1000; else a usage error of command name.
 */
int64_t
ctl_level(const char *name, const char *s)
{
	int64_t level;

	if (proto_level_parse(proto_cstr(s), &level) != 0)
		ctl_usage_error(name, "-l %s: not a level (debug, info, "
		    "warning, error, critical, or 0 to %d)", s,
		    RELOG_LEVEL_MAX);
	return (level);
}

/* relogctl: the options before the command, then the command. */
int
main(int argc, char **argv)
{
	static const struct option top[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct ctl_command *c;
	int opt;

	opterr = 0;
	ctl_socket = getenv("RELOG_SOCKET");
	if (ctl_socket == NULL || *ctl_socket == '\0')
		ctl_socket = RELOG_SOCKET_DEFAULT;
	while ((opt = getopt_long(argc, argv, "+:s:h", top, NULL)) != -1) {
		switch (opt) {
		case 's':
			ctl_socket = optarg;
			break;
		case 'h':
			ctl_help(NULL);
			break;
		case 'V':
			printf("relogctl %s (protocol %s)\n", RELOGCTL_VERSION,
			    RELOG_PROTOCOL_VERSION);
			return (fflush(stdout) == 0 ? CTL_OK : CTL_FAILED);
		default:
			ctl_bad_option(NULL, opt, argv);
		}
	}
	if (optind >= argc)
		ctl_usage_error(NULL, "no command given");
	if ((c = ctl_command(argv[optind])) == NULL)
		ctl_usage_error(NULL, "%s: unknown command", argv[optind]);
	argc -= optind;
	argv += optind;
	optind = 0;		/* glibc: start afresh on the command's */
	signal(SIGPIPE, SIG_IGN);
	return (c->run(argc, argv));
}
