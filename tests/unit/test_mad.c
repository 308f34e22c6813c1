/*
 * test_mad.c: the streaming median/MAD estimator against exact answers.
 *
 * Exact medians and MADs come from sorting every value seen so far
 * (brute force). Random series use a fixed-seed splitmix64 and
 * Box-Muller, never rand(), so every run sees the same numbers. Unless a
 * test says otherwise, accuracy is measured in the estimator's own
 * (transformed) domain: for the default preset that is log1p(x).
 * The compat preset is checked bit for bit against a literal
 * re-implementation of Dragonfly MLE's example-outlier.lua rule.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mad.h"

/* ------------------------------------------------------------------ */
/* Helpers: PRNG, exact statistics, checks                            */
/* ------------------------------------------------------------------ */

struct rng {
	uint64_t s;
};

static uint64_t
rng_next(struct rng *g)
{
	uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1): never 0, so log() is safe. */
static double
rng_u01(struct rng *g)
{
	return ((double)(rng_next(g) >> 11) + 0.5) * 0x1p-53;
}

static double
rng_gauss(struct rng *g)
{
	double u1 = rng_u01(g), u2 = rng_u01(g);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Flow-size-like: median e^mu bytes, log-scale sigma. */
static double
rng_lognormal(struct rng *g, double mu, double sigma)
{
	return exp(mu + sigma * rng_gauss(g));
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of a[0..n), sorting a in place (mean of the middle two if n is even). */
static double
median_inplace(double *a, size_t n)
{
	qsort(a, n, sizeof(*a), cmp_double);
	return n % 2 ? a[n / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2]);
}

struct exact {
	double median;
	double mad;
};

/* Exact median and MAD of a[0..n) (a is not modified). */
static struct exact
exact_stats(const double *a, size_t n)
{
	double *t = malloc(n * sizeof(*t));
	struct exact e;

	assert_non_null(t);
	memcpy(t, a, n * sizeof(*t));
	e.median = median_inplace(t, n);
	for (size_t i = 0; i < n; i++)
		t[i] = fabs(a[i] - e.median);
	e.mad = median_inplace(t, n);
	free(t);
	return e;
}

static void
check_rel(const char *what, double est, double exact, double tol, size_t n)
{
	double rel = fabs(est - exact) / fabs(exact);

	if (!(rel <= tol))
		fail_msg("%s after %zu values: estimate %.6g, exact %.6g, rel. error %.4f > %.4f",
			 what, n, est, exact, rel, tol);
}

static struct mad
new_mad(const struct mad_opts *o)
{
	struct mad e;

	assert_int_equal(mad_init(&e, o), 0);
	return e;
}

/* ------------------------------------------------------------------ */
/* Options and input validation                                       */
/* ------------------------------------------------------------------ */

static void
test_opts(void **state)
{
	(void)state;
	struct mad e;
	struct mad_opts o = mad_opts_default();

	struct mad f;
	struct mad_result r1, r2;

	assert_int_equal(o.transform, MAD_TRANSFORM_LOG1P);
	assert_int_equal(o.step, MAD_STEP_RELATIVE);
	assert_true(o.threshold == 3.5 && o.burn_in == 1000);
	assert_false(o.two_sided);
	assert_false(o.compat);
	/* NULL means the defaults */
	assert_int_equal(mad_init(&e, NULL), 0);
	assert_int_equal(mad_init(&f, &o), 0);
	for (int i = 0; i < 3000; i++) {
		mad_update(&e, 1000.0 + (i * 7919) % 1000, &r1);
		mad_update(&f, 1000.0 + (i * 7919) % 1000, &r2);
		assert_true(r1.median == r2.median && r1.mad == r2.mad && r1.score == r2.score);
	}
	o.eta = 0;
	assert_int_equal(mad_init(&e, &o), -EINVAL);
	o.eta = NAN;
	assert_int_equal(mad_init(&e, &o), -EINVAL);
	o.eta = 0.2; /* relative steps above 0.1 d are refused */
	assert_int_equal(mad_init(&e, &o), -EINVAL);
	o.step = MAD_STEP_ABSOLUTE;
	assert_int_equal(mad_init(&e, &o), 0);
	o = mad_opts_default();
	o.eta_min = -1;
	assert_int_equal(mad_init(&e, &o), -EINVAL);
	o = mad_opts_default();
	o.threshold = NAN;
	assert_int_equal(mad_init(&e, &o), -EINVAL);
	o = mad_opts_default();
	o.transform = (enum mad_transform)7;
	assert_int_equal(mad_init(&e, &o), -EINVAL);
	o = mad_opts_compat();
	assert_int_equal(mad_init(&e, &o), 0);
	assert_true(isnan(mad_median(&e)));
}

/* Non-finite (transformed) input is refused and leaves the state alone. */
static void
test_bad_input(void **state)
{
	(void)state;
	struct mad e = new_mad(NULL);
	struct mad_state before, after;
	struct mad_result r;
	const double bad[] = {NAN, INFINITY, -INFINITY, -1.0, -2.0};

	for (int i = 0; i < 100; i++)
		assert_int_equal(mad_update(&e, 1000 + i, &r), 0);
	mad_state_export(&e, &before);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mad_update(&e, bad[i], &r), -EINVAL);
		assert_false(r.outlier);
	}
	mad_state_export(&e, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	/* without the transform only NaN and infinities are refused */
	struct mad_opts o = mad_opts_default();

	o.transform = MAD_TRANSFORM_NONE;
	e = new_mad(&o);
	assert_int_equal(mad_update(&e, -2.0, &r), 0);
	assert_int_equal(mad_update(&e, INFINITY, &r), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Shapes of series                                                   */
/* ------------------------------------------------------------------ */

/* Stationary uniform, raw domain, relative and absolute steps. */
static void
run_uniform(const struct mad_opts *o)
{
	enum { N = 100000 };
	static double xs[N];
	struct rng g = {42};
	struct mad e = new_mad(o);
	struct mad_result r;

	for (size_t i = 0; i < N; i++) {
		xs[i] = 1000.0 * rng_u01(&g);
		assert_int_equal(mad_update(&e, xs[i], &r), 0);
		size_t n = i + 1;
		if (n == 2000 || n == 10000 || n == 50000 || n == N) {
			struct exact x = exact_stats(xs, n);
			check_rel("uniform median", mad_median(&e), x.median, 0.05, n);
			check_rel("uniform MAD", mad_scale(&e), x.mad, 0.10, n);
		}
	}
}

static void
test_uniform(void **state)
{
	(void)state;
	struct mad_opts o = mad_opts_default();

	o.transform = MAD_TRANSFORM_NONE;
	run_uniform(&o);
	o.step = MAD_STEP_ABSOLUTE;
	o.eta = 0.25; /* raw units: 0.1% of the MAD */
	run_uniform(&o);
}

/* Constant series: d stays exactly 0 and nothing divides by it. */
static void
test_constant(void **state)
{
	(void)state;
	struct mad_opts o = mad_opts_default();
	struct mad e;
	struct mad_state s;
	struct mad_result r;

	for (int two = 0; two <= 1; two++) {
		o.two_sided = two;
		e = new_mad(&o);
		for (int i = 0; i < 5000; i++) {
			assert_int_equal(mad_update(&e, 42.0, &r), 0);
			assert_true(r.score == 0 && r.zscore == 0 && !r.outlier);
		}
		assert_true(mad_median(&e) == log1p(42.0));
		assert_true(mad_scale(&e) == 0);
		/* any other value: capped score, flagged on its side */
		mad_state_export(&e, &s);
		assert_int_equal(mad_update(&e, 43.0, &r), 0);
		assert_true(r.mad == 0 && r.score == MAD_SCORE_MAX && r.zscore == MAD_SCORE_MAX);
		assert_true(r.outlier);
		assert_int_equal(mad_state_import(&e, &s), 0); /* 43 moved d off 0 */
		assert_int_equal(mad_update(&e, 41.0, &r), 0);
		assert_true(r.mad == 0);
		assert_true(r.zscore == -MAD_SCORE_MAX);
		assert_true(r.score == (two ? MAD_SCORE_MAX : 0));
		assert_true(r.outlier == (bool)two);
	}
}

/* Absolute steps larger than the spread must not push d below 0. */
static void
test_scale_nonnegative(void **state)
{
	(void)state;
	struct mad_opts o = mad_opts_default();
	struct mad e;
	struct mad_result r;
	struct rng g = {9};

	o.transform = MAD_TRANSFORM_NONE;
	o.step = MAD_STEP_ABSOLUTE;
	o.eta = 1.0;
	e = new_mad(&o);
	for (int i = 0; i < 10000; i++) {
		/* the second value seeds d = 0.2, below one step */
		bool up = i == 1 || (i > 1 && rng_u01(&g) < 0.3);

		assert_int_equal(mad_update(&e, up ? 100.2 : 100.0, &r), 0);
		assert_true(mad_scale(&e) >= 0);
		assert_true(isfinite(r.score) && isfinite(r.zscore));
	}
}

/*
 * Alternating series. Two values: any point between them is a sample
 * median, so m must lie between them, d between the two deviations from
 * m, and nothing is flagged. Three values cycling: median and MAD are
 * unique and compared with brute force.
 */
static void
test_alternating(void **state)
{
	(void)state;
	enum { N = 30000 };
	static double xs[N];
	const double cycle[3] = {100.0, 10000.0, 1000.0};
	const double lo = log1p(100.0), hi = log1p(10000.0);
	struct mad e = new_mad(NULL);
	struct mad_result r;
	int flagged = 0;

	for (int i = 0; i < N; i++) {
		assert_int_equal(mad_update(&e, i % 2 ? 10000.0 : 100.0, &r), 0);
		flagged += r.outlier;
		assert_true(isfinite(r.score) && isfinite(r.zscore));
	}
	double m = mad_median(&e), d = mad_scale(&e);
	double dlo = fmin(m - lo, hi - m), dhi = fmax(m - lo, hi - m);

	print_message("# two values: m %.4f in [%.4f, %.4f], d %.4f in [%.4f, %.4f]\n", m, lo, hi,
		      d, dlo, dhi);
	assert_true(m >= lo && m <= hi);
	assert_true(d >= dlo * 0.95 && d <= dhi * 1.05);
	assert_int_equal(flagged, 0);

	e = new_mad(NULL);
	for (int i = 0; i < N; i++) {
		assert_int_equal(mad_update(&e, cycle[i % 3], &r), 0);
		xs[i] = r.value;
		flagged += r.outlier;
	}
	struct exact x = exact_stats(xs, N);
	check_rel("3-cycle median", mad_median(&e), x.median, 0.05, N);
	check_rel("3-cycle MAD", mad_scale(&e), x.mad, 0.10, N);
	assert_int_equal(flagged, 0);
}

/*
 * Rare huge values (1% at 1e9 over ~1000 bytes): each is flagged, and it
 * moves the median exactly as far as a value just above the median would.
 */
static void
test_spiky(void **state)
{
	(void)state;
	enum { N = 50000 };
	static double xs[N];
	struct rng g = {7};
	struct mad e = new_mad(NULL), twin;
	struct mad_result r;
	int spikes = 0, flagged = 0;

	for (size_t i = 0; i < N; i++) {
		bool spike = i % 97 == 96;

		twin = e;
		xs[i] = spike ? 1e9 : 900.0 + 200.0 * rng_u01(&g);
		assert_int_equal(mad_update(&e, xs[i], &r), 0);
		xs[i] = log1p(xs[i]);
		if (!spike || r.burn_in)
			continue;
		spikes++;
		flagged += r.outlier;
		assert_int_equal(mad_update(&twin, expm1(r.median + 1e-3), &r), 0);
		assert_true(mad_median(&e) == mad_median(&twin));
	}
	assert_int_equal(flagged, spikes);
	struct exact x = exact_stats(xs, N);
	check_rel("spiky median", mad_median(&e), x.median, 0.05, N);
	check_rel("spiky MAD", mad_scale(&e), x.mad, 0.10, N);
}

/*
 * Tenfold shift of lognormal sizes, both ways. Settled: from that value
 * on, within LOOSE: m within a quarter MAD and d within 25% of the exact
 * post-shift median and MAD; STRICT: the stationary targets, m within 5%
 * and d within 10% (log1p domain).
 */
struct settle {
	size_t loose, strict;
};

static struct settle
shift_settle(double factor, uint64_t seed)
{
	enum { PRE = 20000, POST = 5000 };
	static double post[POST], ms[POST], ds[POST];
	struct rng g = {seed};
	struct mad e = new_mad(NULL);
	struct mad_result r;
	double mu = log(1000.0), sigma = 1.0;
	struct settle st = {0, 0};

	for (int i = 0; i < PRE; i++)
		assert_int_equal(mad_update(&e, rng_lognormal(&g, mu, sigma), &r), 0);
	for (int i = 0; i < POST; i++) {
		double x = rng_lognormal(&g, mu + log(factor), sigma);

		post[i] = log1p(x);
		assert_int_equal(mad_update(&e, x, &r), 0);
		ms[i] = mad_median(&e);
		ds[i] = mad_scale(&e);
	}
	struct exact x = exact_stats(post, POST);
	for (size_t i = 0; i < POST; i++) {
		double em = fabs(ms[i] - x.median), ed = fabs(ds[i] / x.mad - 1);

		if (!(em <= 0.25 * x.mad && ed <= 0.25))
			st.loose = i + 1;
		if (!(em <= 0.05 * x.median && ed <= 0.10))
			st.strict = i + 1;
	}
	return st;
}

static void
test_shift(void **state)
{
	(void)state;

	for (uint64_t seed = 1; seed <= 5; seed++) {
		struct settle up = shift_settle(10.0, seed), down = shift_settle(0.1, seed);

		print_message("# tenfold shift, seed %llu: settled after %zu/%zu (up), "
			      "%zu/%zu (down) (loose/strict)\n",
			      (unsigned long long)seed, up.loose, up.strict, down.loose,
			      down.strict);
		assert_true(up.loose <= 1500 && down.loose <= 1500);
		assert_true(up.strict <= 2500 && down.strict <= 2500);
	}
}

/*
 * Stationary lognormal flow sizes (median 1000 B, sigma 1.5). In the
 * log1p domain: median within 5% and MAD within 10% of exact at every
 * checkpoint after burn-in; fewer than 0.5% flagged at 3.5.
 */
static void
test_lognormal(void **state)
{
	(void)state;
	enum { N = 200000 };
	static double xs[N];
	static const size_t checks[] = {1000, 2000, 5000, 10000, 20000, 50000, 100000, N};

	for (int two = 0; two <= 1; two++) {
		for (uint64_t seed = 11; seed <= 13; seed++) {
			struct rng g = {seed};
			struct mad_opts o = mad_opts_default();
			struct mad e;
			struct mad_result r;
			size_t scored = 0, flagged = 0, c = 0;

			o.two_sided = two;
			e = new_mad(&o);
			for (size_t i = 0; i < N; i++) {
				double x = rng_lognormal(&g, log(1000.0), 1.5);

				xs[i] = log1p(x);
				assert_int_equal(mad_update(&e, x, &r), 0);
				assert_true(r.value == xs[i]);
				scored += !r.burn_in;
				flagged += r.outlier;
				if (i + 1 != checks[c])
					continue;
				struct exact ex = exact_stats(xs, i + 1);
				check_rel("lognormal median (log1p)", mad_median(&e), ex.median,
					  0.05, i + 1);
				check_rel("lognormal MAD (log1p)", mad_scale(&e), ex.mad, 0.10,
					  i + 1);
				c++;
			}
			double rate = (double)flagged / (double)scored;

			print_message("# lognormal seed %llu %s: flag rate %.5f\n",
				      (unsigned long long)seed, two ? "two-sided" : "one-sided",
				      rate);
			assert_true(rate < 0.005);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Scoring rules                                                      */
/* ------------------------------------------------------------------ */

static void
test_sidedness(void **state)
{
	(void)state;
	struct mad_opts o = mad_opts_default();
	struct mad one, two;
	struct mad_result r1, r2;
	struct rng g = {3};

	o.transform = MAD_TRANSFORM_NONE;
	one = new_mad(&o);
	o.two_sided = true;
	two = new_mad(&o);
	for (int i = 0; i < 5000; i++) {
		double x = 100.0 + 10.0 * rng_gauss(&g);

		mad_update(&one, x, &r1);
		mad_update(&two, x, &r2);
	}
	/* far below: signed z in both, flagged only two-sided */
	mad_update(&one, 0.0, &r1);
	mad_update(&two, 0.0, &r2);
	assert_true(r1.zscore < -3.5 && r2.zscore < -3.5);
	assert_true(r1.score == 0 && r2.score > 5);
	assert_false(r1.outlier);
	assert_true(r2.outlier);
	/* far above: flagged in both, same score */
	mad_update(&one, 200.0, &r1);
	mad_update(&two, 200.0, &r2);
	assert_true(r1.outlier && r2.outlier);
	assert_true(r1.score > 5 && r1.zscore > 3.5);
	assert_true(fabs(r1.zscore - MAD_Z_FACTOR * (r1.value - r1.median) / r1.mad) < 1e-12);
	assert_true(fabs(r1.score - r1.deviation / r1.mad) < 1e-12);
}

static void
test_burn_in(void **state)
{
	(void)state;
	struct mad_opts o = mad_opts_default();
	struct mad e;
	struct mad_result r;

	o.burn_in = 50;
	e = new_mad(&o);
	for (int i = 0; i < 60; i++) {
		/* every 10th value is huge: an outlier, once scored */
		double x = i % 10 == 9 ? 1e9 : 1000.0 + i;

		assert_int_equal(mad_update(&e, x, &r), 0);
		assert_true(r.burn_in == (i < 50));
		assert_int_equal(r.n, i + 1);
		if (r.burn_in)
			assert_true(r.score == 0 && r.zscore == 0 && !r.outlier);
		else if (x == 1e9)
			assert_true(r.outlier);
	}
	/* burn-in 0 still cannot score before a median and a MAD exist */
	o.burn_in = 0;
	e = new_mad(&o);
	mad_update(&e, 1000.0, &r);
	assert_true(r.burn_in);
	mad_update(&e, 2000.0, &r);
	assert_true(r.burn_in);
	mad_update(&e, 1500.0, &r);
	assert_false(r.burn_in);
}

/* ------------------------------------------------------------------ */
/* Persistence                                                        */
/* ------------------------------------------------------------------ */

/* Field by field: the padding of struct mad_result is not compared. */
static bool
same_result(const struct mad_result *a, const struct mad_result *b)
{
	return !memcmp(&a->value, &b->value, 6 * sizeof(double)) && a->n == b->n &&
	       a->outlier == b->outlier && a->burn_in == b->burn_in;
}

static void
test_state_roundtrip(void **state)
{
	(void)state;
	struct mad a = new_mad(NULL), b = new_mad(NULL);
	struct mad_state s;
	struct mad_result ra, rb;
	struct rng g = {5};

	for (int i = 0; i < 10000; i++)
		mad_update(&a, rng_lognormal(&g, 7.0, 1.0), &ra);
	mad_state_export(&a, &s);
	assert_int_equal(s.version, MAD_STATE_VERSION);
	assert_int_equal(mad_state_import(&b, &s), 0);
	for (int i = 0; i < 10000; i++) {
		double x = rng_lognormal(&g, 7.0, 1.0);

		mad_update(&a, x, &ra);
		mad_update(&b, x, &rb);
		assert_true(same_result(&ra, &rb));
	}
	/* another kind, version or an impossible state is refused, b unchanged */
	struct mad_opts o = mad_opts_default();
	struct mad c;

	o.transform = MAD_TRANSFORM_NONE;
	c = new_mad(&o);
	assert_int_equal(mad_state_import(&c, &s), -EINVAL);
	assert_int_equal(mad_count(&c), 0);
	s.version++;
	assert_int_equal(mad_state_import(&b, &s), -EINVAL);
	s.version--;
	s.d = -1;
	assert_int_equal(mad_state_import(&b, &s), -EINVAL);
	s.d = NAN;
	assert_int_equal(mad_state_import(&b, &s), -EINVAL);
	assert_int_equal(mad_count(&b), 20000);
}

/* ------------------------------------------------------------------ */
/* Compat: Dragonfly MLE example-outlier.lua, re-implemented literally */
/* ------------------------------------------------------------------ */

/* One Redis hash {median, learning_rate, count} of the Lua analyzer. */
struct df_hash {
	double median;
	double learning_rate;
	double count;
};

/* update_median(): returns the median before the update. */
static double
df_update_median(struct df_hash *h, double value)
{
	double old_median = h->median;

	if (value != h->median) {
		if (h->median != h->median)
			h->median = value;
		else
			h->median = h->median +
				    (h->median < value ? h->learning_rate : -h->learning_rate);
		h->count = h->count + 1;
	}
	return old_median;
}

struct df_report {
	double n, median, median_deviation, deviation, multiple;
};

static double
df_minus_one(double a)
{
	return (a != a || a == INFINITY || a == -INFINITY) ? -1 : a;
}

/* loop() for a TCP/UDP flow of total_bytes bytes. */
static struct df_report
df_flow(struct df_hash *med, struct df_hash *dev, double total_bytes)
{
	double last_median = df_update_median(med, total_bytes);
	double abs_deviation = fabs(last_median - total_bytes);
	double last_median_deviation = df_update_median(dev, abs_deviation);
	double multiple = abs_deviation / last_median_deviation;

	return (struct df_report){
		.n = med->count,
		.median = df_minus_one(last_median),
		.median_deviation = df_minus_one(last_median_deviation),
		.deviation = df_minus_one(abs_deviation),
		.multiple = df_minus_one(multiple),
	};
}

static void
check_same(const struct df_report *want, const struct mad_result *got, size_t i)
{
	if ((double)got->n != want->n || memcmp(&got->median, &want->median, 8) ||
	    memcmp(&got->mad, &want->median_deviation, 8) ||
	    memcmp(&got->deviation, &want->deviation, 8) || memcmp(&got->score, &want->multiple, 8))
		fail_msg("flow %zu: want n %.17g m %.17g md %.17g dev %.17g mult %.17g, "
			 "got n %llu m %.17g md %.17g dev %.17g mult %.17g",
			 i, want->n, want->median, want->median_deviation, want->deviation,
			 want->multiple, (unsigned long long)got->n, got->median, got->mad,
			 got->deviation, got->score);
}

static void
test_compat_exact(void **state)
{
	(void)state;
	struct df_hash med = {NAN, 0.05, 0}, dev = {NAN, 0.05, 0};
	struct mad_opts o = mad_opts_compat();
	struct mad e = new_mad(&o), f = new_mad(&o);
	struct mad_state s;
	struct mad_result r;
	struct rng g = {2018};
	size_t median_repeats = 0, dev_repeats = 0;

	for (size_t i = 0; i < 100000; i++) {
		double x, u = rng_u01(&g);

		if (i < 5)
			x = 1000; /* the first value, then repeats of it */
		else if (u < 0.6)
			x = round(rng_lognormal(&g, log(1000.0), 1.5));
		else if (u < 0.8)
			x = med.median; /* x == median: no update, no count */
		else if (u < 0.9)
			x = 0;
		else
			x = med.median + dev.median; /* deviation lands on its median */
		median_repeats += x == med.median;
		dev_repeats += fabs(med.median - x) == dev.median;
		struct df_report want = df_flow(&med, &dev, x);

		assert_int_equal(mad_update(&e, x, &r), 0);
		check_same(&want, &r, i);
		if (i == 50000) {
			/* a restored state continues identically */
			mad_state_export(&e, &s);
			assert_int_equal(mad_state_import(&f, &s), 0);
			e = f;
		}
	}
	print_message("# compat: %zu median repeats, %zu deviation repeats\n", median_repeats,
		      dev_repeats);
	assert_true(median_repeats > 1000 && dev_repeats > 1000);
}

/* The first flows and the -1 reporting of NaN and infinities, by hand. */
static void
test_compat_minus_one(void **state)
{
	(void)state;
	struct mad_opts o = mad_opts_compat();
	struct mad e = new_mad(&o);
	struct mad_result r;

	/* median NaN: everything but n is NaN, so -1 */
	mad_update(&e, 100, &r);
	assert_true(r.n == 1 && r.median == -1 && r.mad == -1 && r.deviation == -1 &&
		    r.score == -1);
	assert_true(r.zscore == 0 && !r.outlier);
	/* the deviation state saw NaN, which never equals: it is still NaN */
	mad_update(&e, 100, &r);
	assert_true(r.n == 1 && r.median == 100 && r.mad == -1 && r.deviation == 0 &&
		    r.score == -1);
	/* d == 0 and deviation 0: 0/0 */
	mad_update(&e, 100, &r);
	assert_true(r.n == 1 && r.median == 100 && r.mad == 0 && r.deviation == 0 && r.score == -1);
	/* d == 0 and deviation 50: infinite */
	mad_update(&e, 150, &r);
	assert_true(r.n == 2 && r.median == 100 && r.mad == 0 && r.deviation == 50 &&
		    r.score == -1);
	assert_true(r.zscore == 0 && !r.outlier);
	/* now finite: the step is 0.05 in bytes */
	mad_update(&e, 150, &r);
	assert_true(r.n == 3 && r.median == 100 + 0.05 && r.mad == 0.05);
	assert_true(r.deviation == fabs((100 + 0.05) - 150));
	assert_true(r.score == r.deviation / 0.05);
	assert_true(r.outlier); /* z = 0.6745 * 999 */
	/* an infinite flow size: deviation and multiple -1, median and MAD still finite */
	mad_update(&e, INFINITY, &r);
	assert_true(r.n == 4 && r.median == (100 + 0.05) + 0.05 && r.mad == 0.05 + 0.05);
	assert_true(r.deviation == -1 && r.score == -1 && r.zscore == 0 && !r.outlier);
	/* and both states took one ordinary step toward it */
	mad_update(&e, 150, &r);
	assert_true(r.median == ((100 + 0.05) + 0.05) + 0.05 && r.mad == (0.05 + 0.05) + 0.05);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opts),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_constant),
		cmocka_unit_test(test_scale_nonnegative),
		cmocka_unit_test(test_alternating),
		cmocka_unit_test(test_spiky),
		cmocka_unit_test(test_shift),
		cmocka_unit_test(test_lognormal),
		cmocka_unit_test(test_sidedness),
		cmocka_unit_test(test_burn_in),
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_compat_exact),
		cmocka_unit_test(test_compat_minus_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
