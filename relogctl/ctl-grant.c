/*
 * relogctl grant PLUGIN: relogd.grant, a fresh token that owns PLUGIN
 * (printed once: relogd keeps only its hash); relogctl revoke PLUGIN:
 * relogd.revoke, the grant ends. Both are admin methods.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "relogctl.h"

/* Pack {plugin} (ctl_conn_call's payload). */
static void
ctl_grant_pack(msgpack_packer *pk, void *arg)
{
	msgpack_pack_map(pk, 1);
	proto_pack_key(pk, "plugin");
	proto_pack_key(pk, arg);
}

/* Read a command's one argument, a plugin id. */
static const char *
ctl_grant_args(const char *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		if (opt == 'h')
			ctl_help(cmd);
		ctl_bad_option(cmd, opt, argv);
	}
	if (optind + 1 != argc)
		ctl_usage_error(cmd, "%s takes one plugin id", cmd);
	if (!proto_id_valid(argv[optind], strlen(argv[optind])))
		ctl_usage_error(cmd, "%s: not a plugin id", argv[optind]);
	return (argv[optind]);
}

/* relogctl grant PLUGIN: print the token on its own line. */
int
ctl_grant_main(int argc, char **argv)
{
	const char *plugin = ctl_grant_args("grant", argc, argv);
	struct proto_str token;
	struct proto_msg r;
	int fd;

	fd = ctl_conn_open();
	ctl_conn_call(fd, 2, RELOG_METHOD_GRANT, ctl_grant_pack,
	    (void *)plugin, &r);
	token = ctl_msg_str(r.env.payload, "token");
	if (token.len == 0)
		ctl_fail(CTL_FAILED, "bad reply: no token");
	printf("%.*s\n", (int)token.len, token.ptr);
	proto_msg_free(&r);
	close(fd);
	return (fflush(stdout) == 0 ? CTL_OK : CTL_FAILED);
}

/* relogctl revoke PLUGIN: say whether there was a grant to end. */
int
ctl_revoke_main(int argc, char **argv)
{
	const char *plugin = ctl_grant_args("revoke", argc, argv);
	const msgpack_object *o;
	struct proto_msg r;
	int fd;

	fd = ctl_conn_open();
	ctl_conn_call(fd, 2, RELOG_METHOD_REVOKE, ctl_grant_pack,
	    (void *)plugin, &r);
	o = proto_map_get(r.env.payload, "revoked");
	if (o == NULL || o->type != MSGPACK_OBJECT_BOOLEAN)
		ctl_fail(CTL_FAILED, "bad reply: no revoked");
	if (!o->via.boolean)
		fprintf(stderr, "relogctl: %s had no grant\n", plugin);
	proto_msg_free(&r);
	close(fd);
	return (CTL_OK);
}
