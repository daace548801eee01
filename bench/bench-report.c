/*
 * relog-bench's output: the table (bench/README.md reads it) and the same
 * figures as JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "relog-bench.h"

/* The processor's name, from /proc/cpuinfo. */
void
bench_cpu(char *out, size_t len)
{
	char line[256], *p;
	FILE *f = fopen("/proc/cpuinfo", "re");

	snprintf(out, len, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "model name", 10) == 0 &&
		    (p = strchr(line, ':')) != NULL) {
			snprintf(out, len, "%s", p + 2);
			out[strcspn(out, "\n")] = '\0';
			break;
		}
	}
	fclose(f);
}

/* A ratio, or 0 when it has no meaning. */
static double
bench_ratio(double a, double b)
{
	return (b > 0 ? a / b : 0);
}

/* The median of a[i] / b[i] over n rounds: ratios within each round. */
static double
bench_round_ratio(const struct bench_tput *a, const struct bench_tput *b,
    int n)
{
	double v[BENCH_ROUNDS], x;
	int i, j;

	for (i = 0; i < n; i++) {
		x = bench_ratio(a[i].per_second, b[i].per_second);
		for (j = i; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
	return (n > 0 ? v[n / 2] : 0);
}

/*
 * Print a row of the rounds: each round's a records/s, or, with b, a's
 * over b's, with so many decimals.
 */
static void
bench_print_round_row(FILE *f, const char *label, int decimals,
    const struct bench_tput *a, const struct bench_tput *b, int n)
{
	int i;

	fprintf(f, "%-44s", label);
	for (i = 0; i < n; i++)
		fprintf(f, " %10.*f", decimals, b != NULL ? bench_ratio(
		    a[i].per_second, b[i].per_second) : a[i].per_second);
	fprintf(f, "\n");
}

/* Print the rounds: each row's records/s, then the ratios, round by round. */
static void
bench_print_rounds(FILE *f, const struct bench_results *r)
{
	int i, rs = r->rsyslog.records != 0;

	fprintf(f, "\n%-44s", "rounds, taken in turn (above: the median)");
	for (i = 0; i < r->rounds; i++)
		fprintf(f, " %10d", i + 1);
	fprintf(f, "\n");
	bench_print_round_row(f, "  relog,  8 runners, records/s", 0,
	    r->round8, NULL, r->rounds);
	bench_print_round_row(f, "  relog, 64 runners, records/s", 0,
	    r->round64, NULL, r->rounds);
	if (rs)
		bench_print_round_row(f, "  rsyslog, 8 senders, records/s",
		    0, r->round_rs, NULL, r->rounds);
	bench_print_round_row(f, "  64 runners / 8 runners", 2,
	    r->round64, r->round8, r->rounds);
	if (rs)
		bench_print_round_row(f, "  relog, 8 runners / rsyslog",
		    1, r->round8, r->round_rs, r->rounds);
}

/* Print the crash row: what the runners that SIGKILLed themselves lost. */
static void
bench_print_crash(FILE *f, const struct bench_crash *c)
{
	char label[64];

	fprintf(f, "\n%-44s %10s %10s %10s\n", "runners SIGKILLed right after "
	    "emitting", "emitted", "delivered", "ratio");
	snprintf(label, sizeof label, "  relog, %d runners x %llu, ring holds "
	    "them", c->runners, (unsigned long long)c->per_runner);
	fprintf(f, "%-44s %10llu %10llu %10.2f\n", label,
	    (unsigned long long)c->emitted, (unsigned long long)c->delivered,
	    bench_ratio((double)c->delivered, (double)c->emitted));
}

/* A latency row: p50, p99 and p99.9 in ns. */
static void
bench_print_lat(FILE *f, const char *label, const struct bench_lat *l)
{
	fprintf(f, "  %-42s %10llu %10llu %10llu\n", label,
	    (unsigned long long)l->p50, (unsigned long long)l->p99,
	    (unsigned long long)l->p999);
}

/* The emit latency rows, and the header above them. */
void
bench_print_emit(FILE *f, const struct bench_results *r)
{
	fprintf(f, "relog benchmark on %s, %d cores\n\n", r->cpu, r->cores);
	fprintf(f, "%-44s %10s %10s %10s\n", "emit latency (ns)", "p50", "p99",
	    "p99.9");
	bench_print_lat(f, "relog_emit, 1 producer, 1 M/s", &r->emit1);
	bench_print_lat(f, "relog_emit, 4 producers, 1 M/s in all",
	    &r->emit4);
	bench_print_lat(f, "  the same, yielding the CPU between emits",
	    &r->emit4_yield);
	bench_print_lat(f, "relog_emit, 1 producer, ring full", &r->emit1_full);
	bench_print_lat(f, "relog_emit, 4 producers, ring full",
	    &r->emit4_full);
	bench_print_lat(f, "the machine: a loop as long, no relog", &r->floor);
	if (r->syslog_send.n != 0)
		bench_print_lat(f, "rsyslog: send(2) to imuxsock, 1 sender",
		    &r->syslog_send);
	if (r->calls.available)
		fprintf(f, "%-44s %10.2f\n%-44s %10.2f\n%-44s %10.2f\n",
		    "  system calls per 1,000 emits, but wakeups",
		    r->calls.syscalls,
		    "  wakeups of relogd (sendto) per 1,000 emits",
		    r->calls.wakeups,
		    "  mallocs per 1,000 emits", r->calls.mallocs);
}

/* A throughput row of relog's. */
static void
bench_print_tput(FILE *f, const char *label, const struct bench_tput *t)
{
	fprintf(f, "  %-42s %10.0f %10llu %10llu %10.0f %6.0f %6.0f %10.0f\n",
	    label, t->per_second, (unsigned long long)t->dropped,
	    (unsigned long long)t->arrived, t->relogd_ns, t->relogd_busy,
	    t->relogd_wait, t->runners_ns);
}

/* Print the table. */
void
bench_print(FILE *f, const struct bench_results *r)
{
	const struct bench_tput *t;
	char label[64];
	int i;

	bench_print_emit(f, r);
	fprintf(f, "\ndaemons and runners scheduled in: %s\n", bench_cg_kind);
	fprintf(f, "%-44s %10s %10s %10s %10s %6s %6s %10s\n",
	    "end to end, ~100-byte records", "records/s", "dropped", "arrived",
	    "relogd ns", "busy%", "wait%", "runners ns");
	for (i = 0; i < 3; i++) {
		t = &r->tput[i];
		snprintf(label, sizeof label, "relog, %2d runner%s", t->runners,
		    t->runners == 1 ? "" : "s");
		bench_print_tput(f, label, t);
	}
	if (r->flat.records != 0)
		bench_print_tput(f, "relog, 64 runners, relogd in their cgroup",
		    &r->flat);
	bench_print_tput(f, "relog, 8 runners, forward sink down", &r->fwd_down);
	bench_print_tput(f, "relog, 8 runners, forward sink up", &r->fwd_up);
	fprintf(f, "    forwarded to the collector (a relogd)%*s %10.0f %10llu "
	    "%10llu\n", 3, "", r->fwd_per_second, (unsigned long long)
	    (r->fwd_up.records - r->fwd_arrived),
	    (unsigned long long)r->fwd_arrived);
	if (r->rsyslog.records != 0)
		fprintf(f, "  rsyslog, %d senders%*s %10.0f %10llu %10llu\n",
		    r->rsyslog.runners, 24, "", r->rsyslog.per_second,
		    (unsigned long long)(r->rsyslog.records -
		    r->rsyslog.arrived), (unsigned long long)r->rsyslog.arrived);
	bench_print_rounds(f, r);
	bench_print_crash(f, &r->crash);
	fprintf(f, "\n%-44s %10s %10s\n", "delivery latency, emit to file (ms)",
	    "p50", "p99");
	fprintf(f, "%-44s %10.1f %10.1f\n", "  relog, 40 records/s",
	    (double)r->delivery.p50 / 1e6, (double)r->delivery.p99 / 1e6);
	fprintf(f, "\n%-44s %10s\n", "relogd memory (RSS)", "MiB");
	fprintf(f, "%-44s %10.1f\n", "  idle", (double)r->rss_idle_kb / 1024);
	fprintf(f, "%-44s %10.1f\n", "  1,000 idle ring runners, relogd's own",
	    (double)r->rss_1000_kb / 1024);
	fprintf(f, "%-44s %10.1f\n", "    and their rings' pages it touched",
	    (double)r->rss_1000_rings_kb / 1024);
	fprintf(f, "%-44s %10.1f\n", "  peak, 64 runners, ring pages too",
	    (double)r->tput[2].rss_peak_kb / 1024);
	fprintf(f, "\n%-44s %10s\n", "with a forward sink / without", "ratio");
	fprintf(f, "%-44s %10.2f\n", "  throughput, 8 runners, sink down",
	    bench_ratio(r->fwd_down.per_second, r->tput[1].per_second));
	fprintf(f, "%-44s %10.2f\n", "  throughput, 8 runners, sink up",
	    bench_ratio(r->fwd_up.per_second, r->tput[1].per_second));
	fprintf(f, "\n%-44s %10s\n", "64 runners / 8 runners, median round",
	    "ratio");
	fprintf(f, "%-44s %10.2f\n", "  throughput", bench_round_ratio(
	    r->round64, r->round8, r->rounds));
	if (r->rsyslog.records != 0) {
		fprintf(f, "\n%-44s %10s\n", "relog / rsyslog, median round",
		    "ratio");
		fprintf(f, "%-44s %10.1f\n", "  throughput, 8 runners vs 8 "
		    "senders", bench_round_ratio(r->round8,
		    r->round_rs, r->rounds));
		fprintf(f, "%-44s %10.1f\n", "  rsyslog send p50 / relog emit p50",
		    bench_ratio((double)r->syslog_send.p50,
		    (double)r->emit1.p50));
	}
}

/* Print one latency as JSON. */
static void
bench_json_lat(FILE *f, const char *name, const struct bench_lat *l,
    const char *end)
{
	fprintf(f, "  \"%s\": {\"p50_ns\": %llu, \"p99_ns\": %llu, "
	    "\"p999_ns\": %llu, \"max_ns\": %llu, \"samples\": %llu}%s\n", name,
	    (unsigned long long)l->p50, (unsigned long long)l->p99,
	    (unsigned long long)l->p999, (unsigned long long)l->max,
	    (unsigned long long)l->n, end);
}

/* Print one throughput as JSON. */
static void
bench_json_tput(FILE *f, const struct bench_tput *t, const char *end)
{
	fprintf(f, "    {\"runners\": %d, \"records\": %llu, "
	    "\"records_per_s\": %.0f, \"dropped\": %llu, \"arrived\": %llu, "
	    "\"relogd_cpu_ns_per_record\": %.0f, \"relogd_busy_pct\": %.1f, "
	    "\"relogd_wait_pct\": %.1f, \"runners_cpu_ns_per_record\": %.0f, "
	    "\"rss_peak_kib\": %ld}%s\n",
	    t->runners, (unsigned long long)t->records, t->per_second,
	    (unsigned long long)t->dropped, (unsigned long long)t->arrived,
	    t->relogd_ns, t->relogd_busy, t->relogd_wait, t->runners_ns,
	    t->rss_peak_kb, end);
}

/* Print n rounds' throughputs as JSON. */
static void
bench_json_rounds(FILE *f, const struct bench_tput *t, int n)
{
	int i;

	for (i = 0; i < n; i++)
		bench_json_tput(f, &t[i], i + 1 < n ? "," : "");
}

/* Write the results as JSON. */
void
bench_json(FILE *f, const struct bench_results *r)
{
	fprintf(f, "{\n  \"machine\": {\"cpu\": \"%s\", \"cores\": %d, "
	    "\"cgroups\": \"%s\"},\n", r->cpu, r->cores, bench_cg_kind);
	bench_json_lat(f, "emit_1_producer", &r->emit1, ",");
	bench_json_lat(f, "emit_4_producers", &r->emit4, ",");
	bench_json_lat(f, "emit_4_producers_yielding", &r->emit4_yield, ",");
	bench_json_lat(f, "emit_1_producer_ring_full", &r->emit1_full, ",");
	bench_json_lat(f, "emit_4_producers_ring_full", &r->emit4_full, ",");
	bench_json_lat(f, "floor_loop", &r->floor, ",");
	bench_json_lat(f, "delivery", &r->delivery, ",");
	bench_json_lat(f, "rsyslog_send", &r->syslog_send, ",");
	fprintf(f, "  \"syscalls_per_1000_emits\": %.2f,\n"
	    "  \"wakeups_per_1000_emits\": %.2f,\n"
	    "  \"mallocs_per_1000_emits\": %.2f,\n", r->calls.syscalls,
	    r->calls.wakeups, r->calls.mallocs);
	fprintf(f, "  \"throughput\": [\n");
	bench_json_tput(f, &r->tput[0], ",");
	bench_json_tput(f, &r->tput[1], ",");
	bench_json_tput(f, &r->tput[2], "");
	fprintf(f, "  ],\n  \"throughput_64_relogd_in_runners_cgroup\":\n");
	bench_json_tput(f, &r->flat, ",");
	fprintf(f, "  \"forward_throughput\": {\"sink_down\":\n");
	bench_json_tput(f, &r->fwd_down, ",");
	fprintf(f, "  \"sink_up\":\n");
	bench_json_tput(f, &r->fwd_up, ",");
	fprintf(f, "  \"sink_up_arrived\": %llu, \"sink_up_forwarded_per_s\": "
	    "%.0f},\n", (unsigned long long)r->fwd_arrived, r->fwd_per_second);
	fprintf(f, "  \"rsyslog_throughput\": [\n");
	bench_json_tput(f, &r->rsyslog, "");
	fprintf(f, "  ],\n  \"rounds\": {\"relog_8\": [\n");
	bench_json_rounds(f, r->round8, r->rounds);
	fprintf(f, "  ], \"relog_64\": [\n");
	bench_json_rounds(f, r->round64, r->rounds);
	fprintf(f, "  ], \"rsyslog_8\": [\n");
	bench_json_rounds(f, r->round_rs, r->rsyslog.records != 0 ?
	    r->rounds : 0);
	fprintf(f, "  ]},\n  \"crash\": {\"runners\": %d, \"per_runner\": %llu, "
	    "\"emitted\": %llu, \"delivered\": %llu, "
	    "\"delivered_over_emitted\": %.4f},\n", r->crash.runners,
	    (unsigned long long)r->crash.per_runner,
	    (unsigned long long)r->crash.emitted,
	    (unsigned long long)r->crash.delivered, bench_ratio((double)
	    r->crash.delivered, (double)r->crash.emitted));
	fprintf(f, "  \"rss_kib\": {\"idle\": %ld, \"idle_1000_runners\": "
	    "%ld, \"idle_1000_rings_shared\": %ld, \"peak_64_runners\": %ld},"
	    "\n", r->rss_idle_kb, r->rss_1000_kb, r->rss_1000_rings_kb,
	    r->tput[2].rss_peak_kb);
	fprintf(f, "  \"ratios\": {\"throughput_relog_over_rsyslog\": %.2f, "
	    "\"throughput_64_over_8\": %.2f, "
	    "\"send_latency_rsyslog_over_relog\": %.2f}\n}\n",
	    bench_round_ratio(r->round8, r->round_rs, r->rounds),
	    bench_round_ratio(r->round64, r->round8, r->rounds),
	    bench_ratio((double)r->syslog_send.p50, (double)r->emit1.p50));
}
