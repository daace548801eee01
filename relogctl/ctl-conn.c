/*
 * relogd's socket, for the commands that talk to it: connect (with a
 * clear error and its own exit status when relogd is not there), say
 * hello as a runner would, send requests, read replies.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relogctl.h"

/*
 * Say why connecting failed, with its own status: not running (3), not a
 * socket (1), denied (4), a path too long (2).
 */
static void __attribute__((noreturn))
ctl_conn_fail(int error)
{
	struct stat st;

	if (error == ENAMETOOLONG)
		ctl_fail(CTL_USAGE, "%s: socket path too long", ctl_socket);
	if (error == EACCES || error == EPERM)
		ctl_fail(CTL_DENIED, "%s: permission denied", ctl_socket);
	/* A file that is there but no socket refuses too: say which. */
	if (stat(ctl_socket, &st) == 0 && !S_ISSOCK(st.st_mode))
		ctl_fail(CTL_FAILED, "%s is not a socket", ctl_socket);
	if (error == ENOENT || error == ECONNREFUSED)
		ctl_fail(CTL_NOT_RUNNING, "relogd is not running at %s",
		    ctl_socket);
	ctl_fail(CTL_FAILED, "%s: %s", ctl_socket, strerror(error));
}

/* Send a request: the envelope, then what pack_payload packs. */
static int
ctl_conn_send(int fd, int64_t id, const char *method,
    void (*pack_payload)(msgpack_packer *, void *), void *arg)
{
	struct proto_header hd = {
		.message_type = RELOG_TYPE_REQUEST,
		.request_id = id,
		.method = proto_cstr(method),
		.plugin_id = proto_cstr(""),
		.timestamp_ms = (int64_t)time(NULL) * 1000,
		.timeout_ms = RELOG_TIMEOUT_MS_DEFAULT,
	};
	msgpack_sbuffer sb;
	int ret;

	proto_client_frame(&sb, &hd, pack_payload, arg);
	ret = proto_client_send(fd, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return (ret);
}

/* Send a request; relogd being gone ends relogctl. */
void
ctl_conn_request(int fd, int64_t id, const char *method,
    void (*pack_payload)(msgpack_packer *, void *), void *arg)
{
	if (ctl_conn_send(fd, id, method, pack_payload, arg) != 0)
		ctl_fail(CTL_FAILED, "relogd closed the connection");
}

/*
 * Read one frame (free it with proto_msg_free). Returns 0, or -1 when
 * relogd closed the connection; anything else ends relogctl.
 */
int
ctl_conn_frame(int fd, struct proto_msg *m, int timeout_ms)
{
	const char *cause;
	int ret;

	ret = proto_client_recv(fd, timeout_ms, m, &cause);
	if (ret == 0)
		return (0);
	proto_msg_free(m);
	if (ret == -ECONNRESET)
		return (-1);
	if (ret == -ETIMEDOUT)
		ctl_fail(CTL_FAILED, "relogd did not answer");
	if (ret == -EBADMSG)
		ctl_fail(CTL_FAILED, "bad reply: %s", cause);
	ctl_fail(CTL_FAILED, "read: %s", strerror(-ret));
}

/* An error reply ends relogctl: E_UNAUTHORIZED with status 4. */
void
ctl_conn_check(const struct proto_envelope *env)
{
	struct proto_str code, msg;

	if (env->error == NULL)
		return;
	code = ctl_msg_str(env->error, "code");
	msg = ctl_msg_str(env->error, "message");
	ctl_fail(proto_str_eq(code, RELOG_E_UNAUTHORIZED) ? CTL_DENIED :
	    CTL_FAILED, "relogd: %.*s (%.*s)", (int)msg.len, msg.ptr,
	    (int)code.len, code.ptr);
}

/*
 * Send a request and read its reply, which must not be an error; free it
 * with proto_msg_free.
 */
void
ctl_conn_call(int fd, int64_t id, const char *method,
    void (*pack_payload)(msgpack_packer *, void *), void *arg,
    struct proto_msg *r)
{
	ctl_conn_request(fd, id, method, pack_payload, arg);
	if (ctl_conn_frame(fd, r, CTL_TIMEOUT_MS) != 0)
		ctl_fail(CTL_FAILED, "relogd closed the connection");
	ctl_conn_check(&r->env);
}

/* Pack a hello payload (a struct proto_hello) as a runner of relogctl's. */
static void
ctl_conn_pack_hello(msgpack_packer *pk, void *arg)
{
	struct proto_hello h = *(const struct proto_hello *)arg;
	char runner[32];

	snprintf(runner, sizeof runner, "relogctl-%ld", (long)getpid());
	h.runner_id = proto_cstr(runner);
	h.sdk_version = proto_cstr("relogctl/" RELOG_PROTOCOL_VERSION);
	proto_pack_hello(pk, &h);
}

/* Pack an empty payload. */
void
ctl_conn_pack_empty(msgpack_packer *pk, void *arg)
{
	(void)arg;
	msgpack_pack_map(pk, 0);
}

/*
 * Connect and say hello with RELOG_TOKEN, as a runner of plugin if not
 * NULL. Returns 0 with *fd, or -errno if relogd is not there or closed the
 * connection before answering (it may be stopping); a refused hello ends
 * relogctl.
 */
int
ctl_conn_try_open(int *fd, const char *plugin)
{
	const char *token = getenv("RELOG_TOKEN");
	struct proto_hello hello = {
		.session_token = proto_cstr(token != NULL ? token : ""),
		.plugin_id = proto_cstr(plugin),
	};
	struct proto_msg r;

	if ((*fd = proto_client_connect(ctl_socket)) < 0)
		return (*fd);
	if (ctl_conn_send(*fd, 1, RELOG_METHOD_HELLO, ctl_conn_pack_hello,
	    &hello) != 0 ||
	    ctl_conn_frame(*fd, &r, CTL_TIMEOUT_MS) != 0) {
		close(*fd);
		return (-ECONNRESET);
	}
	ctl_conn_check(&r.env);
	proto_msg_free(&r);
	return (0);
}

/*
 * Connect and say hello, as a runner of plugin if not NULL (send, exec):
 * a clear error, and its own status, if not. A plugin that is owned, or
 * an id that is not safe, is refused at once (CTL_DENIED, or CTL_FAILED),
 * not after librelog has tried for a while.
 */
int
ctl_conn_open_as(const char *plugin)
{
	int fd, ret;

	if ((ret = ctl_conn_try_open(&fd, plugin)) == -ECONNRESET)
		ctl_fail(CTL_FAILED, "relogd closed the connection");
	if (ret != 0)
		ctl_conn_fail(-ret);
	return (fd);
}

/* Connect and say hello as no plugin's runner (ctl_conn_open_as). */
int
ctl_conn_open(void)
{
	return (ctl_conn_open_as(NULL));
}
