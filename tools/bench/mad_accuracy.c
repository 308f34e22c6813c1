/*
 * mad_accuracy.c: speed and accuracy of engine/mad.c on flow-size-like data.
 *
 * Draws 1M lognormal "flow sizes" (median 1000 B, log-scale sigma 1.5,
 * fixed seed) and runs them through each preset. Exact medians and MADs
 * come from selection (quickselect, exact), in both domains: raw bytes and log1p(bytes). Each
 * preset estimates in one domain only; its median maps to the other
 * domain exactly (log1p and expm1 are monotone), its MAD does not, so
 * that cell says n/a. Errors are relative: |estimate - exact| / exact.
 *
 * Tables:
 *   1. final estimate after all 1M values, speed, flag rate at |z| 3.5
 *      (one-sided, the default; values in burn-in are not counted);
 *   2. worst error at checkpoints every 10k values after the first 10k
 *      (exact = all values seen so far), in the estimator's own domain;
 *   3. values needed after a tenfold shift (both ways) until the state
 *      stays near the exact post-shift median and MAD (two tolerances).
 *
 * Single-threaded; speed is best of 5 passes over the same array, the
 * update alone (no I/O), on whatever machine runs it.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mad.h"

#define N_VALUES   1000000
#define PASSES	   5
#define CHECK_STEP 10000
#define SHIFT_PRE  20000
#define SHIFT_POST 20000
#define SHIFT_RUNS 10

/* ------------------------------------------------------------------ */
/* Data                                                               */
/* ------------------------------------------------------------------ */

static uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double
u01(uint64_t *s)
{
	return ((double)(splitmix64(s) >> 11) + 0.5) * 0x1p-53;
}

static double
lognormal(uint64_t *s, double mu, double sigma)
{
	double u1 = u01(s), u2 = u01(s);

	return exp(mu + sigma * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

static void
swap(double *a, double *b)
{
	double t = *a;

	*a = *b;
	*b = t;
}

/* Put the k-th smallest of a[0..n) at a[k], smaller ones before it (quickselect). */
static void
select_kth(double *a, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;

	while (lo < hi) {
		double pivot = a[lo + (hi - lo) / 2];
		size_t i = lo, j = hi;

		while (i <= j) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j) {
				swap(&a[i], &a[j]);
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return;
	}
}

/* Median of a[0..n), reordering a (mean of the middle two if n is even). */
static double
median_of(double *a, size_t n)
{
	double hi, lo;

	select_kth(a, n, n / 2);
	hi = a[n / 2];
	if (n % 2)
		return hi;
	lo = a[0];
	for (size_t i = 1; i < n / 2; i++)
		lo = a[i] > lo ? a[i] : lo;
	return 0.5 * (lo + hi);
}

/* Exact median and MAD of f(a[i]), i < n; tmp holds n doubles. */
static void
exact(const double *a, size_t n, int log_domain, double *tmp, double *med, double *mad)
{
	for (size_t i = 0; i < n; i++)
		tmp[i] = log_domain ? log1p(a[i]) : a[i];
	*med = median_of(tmp, n);
	for (size_t i = 0; i < n; i++)
		tmp[i] = fabs(tmp[i] - *med);
	*mad = median_of(tmp, n);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double
rel(double est, double exact)
{
	return fabs(est - exact) / fabs(exact);
}

/* ------------------------------------------------------------------ */
/* Presets                                                            */
/* ------------------------------------------------------------------ */

struct preset {
	const char *name;
	struct mad_opts o;
};

/* Best-of-PASSES time for one pass; returns updates/s, counts flags. */
static double
run_speed(const struct preset *p, const double *xs, size_t *flagged, size_t *scored)
{
	double best = 1e30;

	for (int pass = 0; pass < PASSES; pass++) {
		struct mad e;
		struct mad_result r;
		size_t f = 0, s = 0;
		double t0;

		mad_init(&e, &p->o);
		t0 = now_s();
		for (size_t i = 0; i < N_VALUES; i++) {
			mad_update(&e, xs[i], &r);
			f += r.outlier;
			s += !r.burn_in;
		}
		best = fmin(best, now_s() - t0);
		*flagged = f;
		*scored = s;
	}
	return N_VALUES / best;
}

static void
table_final(const struct preset *ps, size_t np, const double *xs, double *tmp)
{
	double med[2], mad[2]; /* [0] raw, [1] log1p */

	exact(xs, N_VALUES, 0, tmp, &med[0], &mad[0]);
	exact(xs, N_VALUES, 1, tmp, &med[1], &mad[1]);
	printf("exact over %d values: raw median %.1f B, raw MAD %.1f B; "
	       "log1p median %.4f, log1p MAD %.4f\n\n",
	       N_VALUES, med[0], mad[0], med[1], mad[1]);
	printf("%-16s | %-6s | %10s | %7s | %15s | %12s | %14s\n", "preset", "domain", "updates/s",
	       "ns/upd", "median rel.err", "MAD rel.err", "flag rate @3.5");
	printf("-----------------+--------+------------+---------+-----------------+"
	       "--------------+---------------\n");
	for (size_t k = 0; k < np; k++) {
		const struct preset *p = &ps[k];
		struct mad e;
		struct mad_result r;
		size_t flagged, scored;
		double ups = run_speed(p, xs, &flagged, &scored);
		int own = p->o.transform == MAD_TRANSFORM_LOG1P;

		mad_init(&e, &p->o);
		for (size_t i = 0; i < N_VALUES; i++)
			mad_update(&e, xs[i], &r);
		double m_own = mad_median(&e), d_own = mad_scale(&e);
		double m_raw = mad_untransform(&e, m_own);
		double m_log = own ? m_own : log1p(m_own);

		for (int pass = 0; pass <= 1; pass++) {
			int dom = pass ? !own : own; /* the domain it learns in first */
			double m_est = dom ? m_log : m_raw;
			char mad_cell[32];

			if (dom == own)
				snprintf(mad_cell, sizeof(mad_cell), "%.4f", rel(d_own, mad[dom]));
			else
				snprintf(mad_cell, sizeof(mad_cell), "n/a");
			if (dom == own)
				printf("%-16s | %-6s | %10.3g | %7.1f | %15.4f | %12s | %14.5f\n",
				       p->name, dom ? "log1p" : "raw", ups, 1e9 / ups,
				       rel(m_est, med[dom]), mad_cell,
				       (double)flagged / (double)scored);
			else
				printf("%-16s | %-6s | %10s | %7s | %15.4f | %12s | %14s\n", "",
				       dom ? "log1p" : "raw", "", "", rel(m_est, med[dom]),
				       mad_cell, "");
		}
	}
}

static void
table_final_notes(void)
{
	printf("\nrel.err = |estimate - exact| / exact of the final estimate. Each preset learns "
	       "in\n"
	       "one domain (the row with speed); its median is mapped to the other exactly, its\n"
	       "MAD cannot be (n/a). Flag rate: one-sided z > 3.5 among values past burn-in.\n");
}

static void
table_checkpoints(const struct preset *ps, size_t np, const double *xs, double *tmp)
{
	printf("\nworst error at checkpoints every %d values after the first %d "
	       "(estimator's own domain; exact = values so far)\n\n",
	       CHECK_STEP, CHECK_STEP);
	printf("%-16s | %-6s | %14s | %11s | %22s\n", "preset", "domain", "max median err",
	       "max MAD err", "checkpoints in 5%/10%");
	printf("-----------------+--------+----------------+-------------+-----------------------"
	       "\n");
	for (size_t k = 0; k < np; k++) {
		const struct preset *p = &ps[k];
		int own = p->o.transform == MAD_TRANSFORM_LOG1P;
		struct mad e;
		struct mad_result r;
		double worst_m = 0, worst_d = 0;
		int in = 0, total = 0;

		mad_init(&e, &p->o);
		for (size_t i = 0; i < N_VALUES; i++) {
			mad_update(&e, xs[i], &r);
			if ((i + 1) % CHECK_STEP || i + 1 < CHECK_STEP)
				continue;
			double med, mad;

			exact(xs, i + 1, own, tmp, &med, &mad);
			double em = rel(mad_median(&e), med), ed = rel(mad_scale(&e), mad);

			worst_m = fmax(worst_m, em);
			worst_d = fmax(worst_d, ed);
			in += em <= 0.05 && ed <= 0.10;
			total++;
		}
		printf("%-16s | %-6s | %14.4f | %11.4f | %15d / %3d\n", p->name,
		       own ? "log1p" : "raw", worst_m, worst_d, in, total);
	}
}

/*
 * Values after the shift until the state stays near the new exact one,
 * loose[0] (m within 0.25 MAD, d within 25%) and strict[1] (m within 5%,
 * d within 10%); -1: not within SHIFT_POST values.
 */
static void
shift_settle(const struct preset *p, double factor, uint64_t seed, double *post, double *tmp,
	     long out[2])
{
	int own = p->o.transform == MAD_TRANSFORM_LOG1P;
	static double ms[SHIFT_POST], ds[SHIFT_POST];
	struct mad e;
	struct mad_result r;
	double med, mad;

	mad_init(&e, &p->o);
	for (int i = 0; i < SHIFT_PRE; i++)
		mad_update(&e, lognormal(&seed, log(1000.0), 1.5), &r);
	for (int i = 0; i < SHIFT_POST; i++) {
		post[i] = lognormal(&seed, log(1000.0 * factor), 1.5);
		mad_update(&e, post[i], &r);
		ms[i] = mad_median(&e);
		ds[i] = mad_scale(&e);
	}
	exact(post, SHIFT_POST, own, tmp, &med, &mad);
	out[0] = out[1] = 0;
	for (int i = 0; i < SHIFT_POST; i++) {
		double em = fabs(ms[i] - med), ed = fabs(ds[i] / mad - 1);

		if (!(em <= 0.25 * mad && ed <= 0.25))
			out[0] = i + 1;
		if (!(em <= 0.05 * fabs(med) && ed <= 0.10))
			out[1] = i + 1;
	}
	for (int c = 0; c < 2; c++)
		if (out[c] == SHIFT_POST)
			out[c] = -1;
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* "median / worst" of the settled runs, or "-" and the count that never settled. */
static void
settle_cell(long *t, int runs, char *buf, size_t len)
{
	long ok[SHIFT_RUNS];
	int n = 0;

	for (int i = 0; i < runs; i++)
		if (t[i] >= 0)
			ok[n++] = t[i];
	qsort(ok, (size_t)n, sizeof(*ok), cmp_long);
	if (n == 0)
		snprintf(buf, len, "never (%d/%d)", runs, runs);
	else if (n < runs)
		snprintf(buf, len, "%ld / %ld, %d never", ok[n / 2], ok[n - 1], runs - n);
	else
		snprintf(buf, len, "%ld / %ld", ok[n / 2], ok[n - 1]);
}

static void
table_shift(const struct preset *ps, size_t np, double *tmp)
{
	static double post[SHIFT_POST];

	printf("\ntenfold shift after %d values, %d seeds, own domain: values until the state\n"
	       "stays settled (median / worst of the seeds; \"never\" = not within %d values)\n"
	       "  loose:  median within 0.25 MAD, MAD within 25%% of exact post-shift values\n"
	       "  strict: median within 5%%, MAD within 10%% (the stationary targets)\n\n",
	       SHIFT_PRE, SHIFT_RUNS, SHIFT_POST);
	printf("%-16s | %-9s | %-20s | %-20s\n", "preset", "direction", "loose", "strict");
	printf("-----------------+-----------+----------------------+---------------------\n");
	for (size_t k = 0; k < np; k++) {
		for (int dir = 0; dir <= 1; dir++) {
			long t[2][SHIFT_RUNS];
			char cell[2][32];

			for (int s = 0; s < SHIFT_RUNS; s++) {
				long out[2];

				shift_settle(&ps[k], dir ? 0.1 : 10.0, 1000 + s, post, tmp, out);
				t[0][s] = out[0];
				t[1][s] = out[1];
			}
			settle_cell(t[0], SHIFT_RUNS, cell[0], sizeof(cell[0]));
			settle_cell(t[1], SHIFT_RUNS, cell[1], sizeof(cell[1]));
			printf("%-16s | %-9s | %-20s | %-20s\n", dir ? "" : ps[k].name,
			       dir ? "down x0.1" : "up x10", cell[0], cell[1]);
		}
	}
}

int
main(void)
{
	double *xs = malloc(N_VALUES * sizeof(*xs));
	double *tmp = malloc(N_VALUES * sizeof(*tmp));
	uint64_t seed = 20181001;
	struct preset ps[3];

	if (xs == NULL || tmp == NULL) {
		perror("mad_accuracy: malloc");
		return 1;
	}
	for (size_t i = 0; i < N_VALUES; i++)
		xs[i] = lognormal(&seed, log(1000.0), 1.5);
	ps[0] = (struct preset){"default", mad_opts_default()};
	ps[1] = (struct preset){"default, no log", mad_opts_default()};
	ps[1].o.transform = MAD_TRANSFORM_NONE;
	ps[2] = (struct preset){"compat", mad_opts_compat()};

	printf("mad_accuracy: %d lognormal flow sizes (median 1000 B, sigma 1.5), seed 20181001\n",
	       N_VALUES);
	table_final(ps, 3, xs, tmp);
	table_final_notes();
	table_checkpoints(ps, 3, xs, tmp);
	table_shift(ps, 3, tmp);
	free(xs);
	free(tmp);
	return 0;
}
