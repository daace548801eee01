/*
 * A blocking client of relogd's socket, for relogctl and the tests: connect,
 * send a frame, read one back and decode its envelope. Errors are returned
 * (negative errno), never fatal: the caller says what they mean.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto-clock.h"
#include "proto.h"

/* Connect to a Unix socket. Returns the fd, or -errno. */
int
proto_client_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, error;

	if (strlen(path) >= sizeof sun.sun_path)
		return (-ENAMETOOLONG);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return (-errno);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		error = errno;
		close(fd);
		return (-error);
	}
	return (fd);
}

/*
 * Build a whole frame into sb (initialised here; the caller destroys it):
 * the envelope, the payload pack_payload packs, and "error": nil.
 */
void
proto_client_frame(msgpack_sbuffer *sb, const struct proto_header *hd,
    void (*pack_payload)(msgpack_packer *, void *), void *arg)
{
	msgpack_packer pk;
	size_t start;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	start = proto_frame_begin(sb);
	proto_pack_header(&pk, hd);
	pack_payload(&pk, arg);
	proto_pack_no_error(&pk);
	proto_frame_end(sb, start, RELOG_FRAME_MAX_LIMIT);
}

/* Send all of buf. Returns 0, or -errno (-EPIPE: the peer is gone). */
int
proto_client_send(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return (n < 0 ? -errno : -EPIPE);
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/*
 * Read exactly len bytes by the deadline (-1: none). Returns 0, -ETIMEDOUT,
 * -ECONNRESET at end of file, or -errno.
 */
static int
proto_client_read(int fd, char *buf, size_t len, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int64_t left;
	ssize_t n;

	while (len > 0) {
		left = deadline < 0 ? -1 :
		    deadline - proto_clock_ns(CLOCK_MONOTONIC) / 1000000;
		if (deadline >= 0 && left <= 0)
			return (-ETIMEDOUT);
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return (-ETIMEDOUT);
		n = read(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return (-errno);
		if (n == 0)
			return (-ECONNRESET);
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/*
 * Read one frame within timeout_ms (-1: no limit), check it as relogd
 * checks its peers' (proto_scan) and decode its envelope into m (free it
 * with proto_msg_free). Returns 0, -ETIMEDOUT, -ECONNRESET when the peer
 * closed, -EBADMSG with a static *cause, or -errno.
 */
int
proto_client_recv(int fd, int timeout_ms, struct proto_msg *m,
    const char **cause)
{
	int64_t deadline = timeout_ms < 0 ? -1 :
	    proto_clock_ns(CLOCK_MONOTONIC) / 1000000 + timeout_ms;
	unsigned char head[RELOG_FRAME_HEADER_SIZE];
	size_t off = 0;
	int ret;

	memset(m, 0, sizeof *m);
	msgpack_unpacked_init(&m->u);
	*cause = "relogd closed the connection";
	if ((ret = proto_client_read(fd, (char *)head, sizeof head,
	    deadline)) != 0)
		return (ret);
	m->len = proto_frame_length(head);
	*cause = "a frame over 16 MiB";
	if (m->len > RELOG_FRAME_MAX_LIMIT)
		return (-EBADMSG);
	if ((m->body = malloc(m->len != 0 ? m->len : 1)) == NULL)
		return (-ENOMEM);
	*cause = "relogd closed the connection";
	if ((ret = proto_client_read(fd, m->body, m->len, deadline)) != 0)
		return (ret == -ETIMEDOUT ? ret : -ECONNRESET);
	if (proto_scan(m->body, m->len, cause) != 0)
		return (-EBADMSG);
	*cause = "undecodable msgpack";
	if (msgpack_unpack_next(&m->u, m->body, m->len, &off) !=
	    MSGPACK_UNPACK_SUCCESS)
		return (-EBADMSG);
	if (proto_decode_envelope(&m->u.data, &m->env, cause) != 0)
		return (-EBADMSG);
	return (0);
}

/* Free what proto_client_recv read. */
void
proto_msg_free(struct proto_msg *m)
{
	msgpack_unpacked_destroy(&m->u);
	free(m->body);
	m->body = NULL;
}
