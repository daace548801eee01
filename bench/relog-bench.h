/*
 * relog-bench's parts, and what they share. bench.c is the program: its
 * modes and the run, row by row. It calls down into bench-emit.c (emit
 * latency, the machine's own row, system calls counted), bench-load.c
 * (runner processes, relogd and rsyslogd under load) and bench-report.c
 * (the table and the JSON); all of them into bench-util.c (dying cleanly,
 * counting lines, the cgroups, starting relogd, opening handles) and
 * measure.c (the TSC, mallocs counted), which ringbench.c shares.
 */
#ifndef RELOG_BENCH_H
#define RELOG_BENCH_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "harness.h"
#include "measure.h"
#include "relog.h"

#define BENCH_MSG_SIZE 100		/* bytes of message per record */
#define BENCH_EMITS 100000		/* per latency run and thread */
#define BENCH_PACED_RATE 1000000	/* records/s of a paced run, all told */
/*
 * A throughput runner's RELOG_QUEUE_MAX: a ring of 4,096 slots, 1 MiB; 64
 * of them stay closer to the caches (and the TLB) than rings of 4 MiB.
 */
#define BENCH_QUEUE 2048
#define BENCH_TIMEOUT_MS 120000		/* for any one step */
#define BENCH_DAEMON_WEIGHT 400		/* relogd.service's CPUWeight= */
/*
 * Rounds of the rows compared with each other (8 runners, 64, rsyslog's 8
 * senders), taken in turn: a shared machine's load moves all of a round
 * alike, and one slow minute moves one round, not the result.
 */
#define BENCH_ROUNDS 3

/* Results of one latency run. */
struct bench_lat {
	uint64_t p50, p99, p999, max;
	uint64_t n;
};

/*
 * System calls and mallocs per 1,000 emits, counted by strace: the wakeups
 * (a send(2) to relogd's wake socket, allowed on a lane's empty to not
 * empty edge) apart from any other call.
 */
struct bench_calls {
	double syscalls;	/* other than the wakeups */
	double wakeups;
	double mallocs;
	int available;
};

/* End-to-end throughput with some runner processes. */
struct bench_tput {
	int runners;
	uint64_t records;
	double per_second;
	uint64_t dropped;
	uint64_t arrived;
	long rss_peak_kb;
	double relogd_ns;	/* relogd's CPU time per record; 0: not known */
	double relogd_busy;	/* its CPU time over the run's, in % */
	double relogd_wait;	/* its time runnable, not running, in % */
	double runners_ns;	/* the runners' CPU time per record */
};

/* Runners that SIGKILL themselves right after emitting. */
struct bench_crash {
	int runners;
	uint64_t per_runner;
	uint64_t emitted;
	uint64_t delivered;
};

/* rsyslogd, started by the bench on its own socket and config. */
struct bench_rsyslog {
	pid_t pid;
	char dir[PATH_MAX];
	char socket[PATH_MAX + 16];
	char file[PATH_MAX + 16];
	int available;
};

/* Everything measured in one run. */
struct bench_results {
	struct bench_lat emit1, emit4, emit4_yield, emit1_full, emit4_full,
	    delivery, syslog_send, floor;
	struct bench_calls calls;
	struct bench_tput tput[3], rsyslog;	/* [1], [2], rsyslog: medians */
	struct bench_tput round8[BENCH_ROUNDS], round64[BENCH_ROUNDS],
	    round_rs[BENCH_ROUNDS];
	int rounds;
	struct bench_tput flat;		/* 64 runners, relogd in their cgroup */
	struct bench_tput fwd_down, fwd_up;	/* 8 runners, a forward sink */
	struct bench_crash crash;
	uint64_t fwd_arrived;	/* at the collector, of fwd_up */
	double fwd_per_second;	/* from start to the last arrived */
	long rss_idle_kb, rss_1000_kb, rss_1000_rings_kb;
	char cpu[128];
	int cores;
};

/* bench-util.c */
extern const char *bench_relogd_path;
extern const char *bench_out;
extern const char *bench_self;
extern char bench_cg_daemons[PATH_MAX];
extern char bench_cg_clients[PATH_MAX];
extern char bench_cg_kind[160];
__attribute__((noreturn, format(printf, 1, 2)))
void	bench_fatal(const char *, ...);
void	bench_on_signal(int);
__attribute__((format(printf, 3, 4)))
void	bench_path(char *, size_t, const char *, ...);
uint64_t bench_pct(const uint64_t *, size_t, double);
uint64_t bench_lines(const char *);
uint64_t bench_dir_lines(const char *);
uint64_t bench_await_lines(uint64_t (*)(const char *), const char *,
	    uint64_t, uint64_t, uint64_t *);
void	bench_cg_join(const char *, pid_t);
void	bench_cg_make(void);
void	bench_relogd_start(struct harness *, const char *, const char *);
void	bench_relogd_stop(struct harness *);
void	bench_message(char *, uint64_t);
relog_t	*bench_open(const char *, const char *, size_t);

/* bench-emit.c */
enum bench_pace {
	BENCH_FULL,		/* as fast as they go: the ring full */
	BENCH_PACED,		/* 1 M/s in all, spinning while they can */
	BENCH_PACED_YIELD,	/* 1 M/s in all, yielding the CPU */
};
void	bench_lat_from(struct bench_lat *, uint64_t *, size_t);
void	bench_emit_latency(struct bench_lat *, const char *, int,
	    enum bench_pace);
void	bench_floor(struct bench_lat *, uint64_t);
void	bench_count_calls(struct bench_calls *, const char *);

/* bench-load.c */
void	bench_throughput(struct bench_tput *, struct harness *, int,
	    uint64_t);
void	bench_crash(struct bench_crash *, struct harness *, int, uint64_t);
void	bench_delivery(struct bench_lat *, struct harness *);
void	bench_idle_runners(struct harness *, int, long *, long *);
void	bench_rsyslog_start(struct bench_rsyslog *);
void	bench_rsyslog_stop(struct bench_rsyslog *);
void	bench_rsyslog_latency(struct bench_lat *, struct bench_rsyslog *);
void	bench_rsyslog_throughput(struct bench_tput *,
	    struct bench_rsyslog *, int, uint64_t);

/* bench-report.c */
void	bench_cpu(char *, size_t);
void	bench_print_emit(FILE *, const struct bench_results *);
void	bench_print(FILE *, const struct bench_results *);
void	bench_json(FILE *, const struct bench_results *);

#endif
