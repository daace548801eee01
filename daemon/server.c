/*
 * The listening sockets: relogd's (bound by relogd, mode and group from the
 * config, or handed over by systemd: socket activation), and the Fluent
 * input's. Each accepted connection gets its protocol (runner.c,
 * fluent.c). On EMFILE/ENFILE accepting pauses on a timer instead of
 * spinning on a socket that stays readable; at max_connections it pauses
 * until a connection goes.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "relogd.h"

/* Connections accepted per callback, so one loop turn stays short. */
#define SERVER_ACCEPT_BATCH 64
/* Pause after running out of file descriptors. */
#define SERVER_EMFILE_PAUSE_MS 500

/* A listening socket: relogd's own protocol, or Fluent's Forward. */
struct listener {
	int fd;			/* -1: none */
	const struct client_ops *ops;	/* what its connections speak */
	char *path;		/* the file we made (unlinked at exit), or NULL */
	struct event *ev;
};

static struct listener server_listeners[2] = { { .fd = -1 }, { .fd = -1 } };
static struct event *server_pause_ev;
static int server_full;		/* at max_connections: not accepting */

/* Is some process accepting on this socket path already? */
static int
server_in_use(const struct sockaddr_un *sun)
{
	int fd, used;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return (0);
	used = connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0;
	close(fd);
	return (used);
}

/* Bind and listen on a Unix socket path. Fatal on failure. */
static int
server_bind(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	struct group *gr;
	mode_t mask;
	gid_t gid;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path)
		fatalx("socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0) {
		/* Unlink only a stale socket, never another file. */
		if (!S_ISSOCK(st.st_mode))
			fatalx("%s exists and is not a socket", path);
		if (server_in_use(&sun))
			fatalx("%s is in use by another process", path);
		if (unlink(path) != 0)
			fatal("unlink %s", path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fatal("socket");
	/* The mode is right from the start: no window with a wider one. */
	mask = umask(0777 & ~relogd_config.socket_mode);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0)
		fatal("bind %s", path);
	umask(mask);
	if (relogd_config.socket_group != NULL) {
		gr = getgrnam(relogd_config.socket_group);
		gid = gr != NULL ? gr->gr_gid :
		    (gid_t)strtoul(relogd_config.socket_group, NULL, 10);
		if (chown(path, (uid_t)-1, gid) != 0)
			fatal("chown %s to group %s", path,
			    relogd_config.socket_group);
	}
	if (listen(fd, SOMAXCONN) != 0)
		fatal("listen %s", path);
	return (fd);
}

/* Take the socket systemd passed (LISTEN_FDS), or -1 if none. */
static int
server_adopt(void)
{
	int n, fd, flags;

	n = sd_listen_fds(1);
	if (n < 0) {
		errno = -n;
		fatal("sd_listen_fds");
	}
	if (n == 0)
		return (-1);
	if (n > 1)
		fatalx("systemd passed %d sockets, expected one", n);
	fd = SD_LISTEN_FDS_START;
	if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
		fatalx("the socket systemd passed is not a listening Unix "
		    "stream socket");
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		fatal("fcntl");
	return (fd);
}

static void server_listen(int);
static void server_client_gone(void);

/* Accepting resumes after a pause. */
static void
server_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	server_listen(1);
}

/* Accept on every listener, or on none. */
static void
server_listen(int on)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (server_listeners[i].ev == NULL)
			continue;
		if (on)
			event_add(server_listeners[i].ev, NULL);
		else
			event_del(server_listeners[i].ev);
	}
}

/* New connections are waiting. */
static void
server_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct timeval pause = { 0, SERVER_EMFILE_PAUSE_MS * 1000 };
	struct listener *l = arg;
	int fd, i;

	(void)what;
	for (i = 0; i < SERVER_ACCEPT_BATCH; i++) {
		if (client_count() >= relogd_config.max_connections) {
			log_warn("%zu connections: not accepting more until "
			    "one goes", client_count());
			server_listen(0);
			server_full = 1;
			break;
		}
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			/* A peer that may not connect is closed at once. */
			client_create(fd, l->ops);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE) {
			log_warn("out of file descriptors: not accepting for "
			    "%d ms", SERVER_EMFILE_PAUSE_MS);
			server_listen(0);
			evtimer_add(server_pause_ev, &pause);
		} else if (errno != EAGAIN && errno != EWOULDBLOCK)
			log_error("accept: %s", strerror(errno));
		break;
	}
}

/* Set up one listener on an fd; bound: the path we made. */
static void
server_add(struct listener *l, int fd, const struct client_ops *ops,
    const char *bound)
{
	l->fd = fd;
	l->ops = ops;
	if (bound != NULL && (l->path = strdup(bound)) == NULL)
		fatal("strdup");
	l->ev = event_new(relogd_base, fd, EV_READ | EV_PERSIST,
	    server_accept_cb, l);
	if (l->ev == NULL)
		fatalx("out of memory");
}

/*
 * Start listening (fatal on failure): relogd's socket, from systemd or
 * bound here, and Fluent's Forward socket if one is set.
 */
void
server_start(void)
{
	int fd;

	client_init(server_client_gone);
	fd = server_adopt();
	if (fd >= 0)
		server_add(&server_listeners[0], fd, &runner_ops, NULL);
	else
		server_add(&server_listeners[0],
		    server_bind(relogd_config.socket_path), &runner_ops,
		    relogd_config.socket_path);
	if (relogd_config.fluent_socket != NULL)
		server_add(&server_listeners[1],
		    server_bind(relogd_config.fluent_socket), &fluent_ops,
		    relogd_config.fluent_socket);
	server_pause_ev = evtimer_new(relogd_base, server_resume_cb, NULL);
	if (server_pause_ev == NULL)
		fatalx("out of memory");
	server_listen(1);
}

/* A connection went: accept again if the limit held us back. */
static void
server_client_gone(void)
{
	if (server_full && server_listeners[0].fd >= 0) {
		server_full = 0;
		server_listen(1);
	}
}

/* Stop accepting and close the sockets (removing socket files we made). */
void
server_stop(void)
{
	struct listener *l;
	int i;

	if (server_pause_ev == NULL)
		return;
	for (i = 0; i < 2; i++) {
		l = &server_listeners[i];
		if (l->fd < 0)
			continue;
		event_free(l->ev);
		close(l->fd);
		if (l->path != NULL)
			unlink(l->path);
		free(l->path);
		memset(l, 0, sizeof *l);
		l->fd = -1;
	}
	event_free(server_pause_ev);
	server_pause_ev = NULL;
}
