/* relog's Check test suites and what they share besides the harness. */
#ifndef RELOG_TESTS_H
#define RELOG_TESTS_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <check.h>
#include <msgpack.h>

#include "harness.h"
#include "proto.h"

/* Suites, one per module (main.c runs them all). */
Suite  *suite_ring(void);
Suite  *suite_codec(void);
Suite  *suite_shim(void);
Suite  *suite_daemon(void);
Suite  *suite_limits(void);
Suite  *suite_ctl(void);
Suite  *suite_remote(void);

/* wire.c: a raw protocol client. */
void	wire_begin(struct proto_header *, const char *, int64_t, const char *);
void	wire_send(int, const struct proto_header *,
	    void (*)(msgpack_packer *, void *), void *, size_t);
void	wire_send_frame(int, const char *, size_t);
void	wire_batch_seq(int, const char *, const char *, int, uint64_t,
	    uint64_t, size_t);
void	wire_batch(int, const char *, int, size_t);
void	wire_hello_as(int, const char *, const char *, const char *, size_t);
void	wire_hello(int, const char *, const char *, size_t);
const char *wire_reply(int, int, int *);
int	wire_open(const struct harness *, const char *);

#endif
