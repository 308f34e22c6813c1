/*
 * mad.c: streaming median and MAD by stochastic averaging.
 *
 * What: per value x (after the transform), score x against the median m
 * and median absolute deviation d learned so far, then learn from it:
 * d steps toward |x - m| (the deviation from the previous m), then m
 * steps toward x. A step moves by a fixed amount in the direction of the
 * sign, never by the size of the error, which is what makes the median
 * robust: a 1 GB flow pulls m exactly as hard as a 1 kB one (Byron Ellis,
 * Real-Time Analytics, 2014; Dragonfly MLE's example-outlier.lua).
 *
 * Step size. Dragonfly's fixed 0.05 (bytes) cannot serve both a 200-byte
 * DNS population and a 10 MB backup population: a tenfold shift from
 * 1 kB takes it 180 000 flows, from 1 MB 180 million. Here the default
 * step is relative to the current scale, eta * d, so behaviour is the
 * same in any units. A sign-SA estimate trades noise for speed through
 * its step: eta = 0.001 keeps the MAD within ~2.5% rms of exact (log1p
 * of lognormal sizes) but alone needs ~2000 values to follow a tenfold
 * shift. So the step is boosted while the estimate visibly lags: u is an
 * exponential mean (weight 1/64) of the signs that moved m. At rest the
 * signs look like coin tosses and |u| stays near its sd of 0.09; after a
 * shift they agree and |u| -> 1. The step is
 *	eta * d * (1 + 96 max(0, u^2 - 0.04)),
 * with a dead zone |u| < 0.2 so that ordinary runs of signs are not
 * amplified into excursions (without it the MAD's rms error grows by a
 * fifth), up to 93x while chasing, and never above 0.1 d. v does the
 * same for d. With log1p a tenfold shift is then followed in ~500 values
 * (median within a quarter MAD and MAD within 25%; worst seen ~1600),
 * while stationary accuracy stays what eta alone gives. The step never
 * goes below eta_min, so d can leave 0 after a constant stretch. The
 * constants were tuned by simulation (lognormal sizes, sigma 0.5 to 2);
 * tools/bench/mad_accuracy.c shows what they give.
 *
 * Burn-in. With a fixed step the first value would anchor m for
 * hundreds of values. The first value sets m, the second's deviation
 * sets d, and then the step is Robbins-Monro's K d / (n + 1) (K = 1.5,
 * decreasing like a running average) for as long as that is larger than
 * the steady step: n < K / eta - 1 = 1499 values with the defaults. Such
 * a decreasing gain gives an estimate close to the sample median of what
 * was seen so far instead of the first value. The reporting burn-in
 * (default 1000 values) only silences scores and flags; it does not
 * change learning. In absolute mode the Robbins-Monro phase ends when
 * K d / (n + 1) < eta and there is no trend boost.
 *
 * Scores use the state before the update, as Dragonfly does: a value is
 * not allowed to pull the median toward itself before being judged.
 * Units: everything inside is transformed; mad_untransform() maps a
 * median back. The MAD has no raw-domain meaning under log1p (it is a
 * ratio: d = 0.7 means "typically within a factor of e^0.7 = 2").
 *
 * Compat mode is Dragonfly's rule, literally, on two states {median,
 * count}: update(x) returns the previous median; if x != median (IEEE:
 * NaN never equals) median becomes x when NaN, else moves by +-eta, and
 * count grows. NaN or infinite reports become -1 (the Lua tests only
 * x ~= x and x == math.huge, so it would pass -inf through; flow sizes
 * never produce it). Dragonfly keeps its state in Redis through
 * lua_tolstring ("%.14g"), which rounds the median to 14 significant
 * digits between updates; this module keeps full doubles (the issue's
 * rule), so it can differ from a live Dragonfly in the last digits and,
 * rarely, when a rounded median lands exactly on an integer x.
 *
 * Not here: I/O, allocation, locking, time decay (a stream that stops
 * keeps its state), and any per-key table of estimators.
 */
#include "mad.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define mad_unlikely(x) __builtin_expect(!!(x), 0)

#define MAD_RM_GAIN	 1.5	  /* K of the Robbins-Monro burn-in step */
#define MAD_TREND_WEIGHT 0.015625 /* 1/64: memory of u and v, in values */
#define MAD_TREND_DEAD	 0.04	  /* trend^2 below this (|trend| < 0.2) is noise */
#define MAD_TREND_GAIN	 96.0	  /* step multiplier: 1 + gain (trend^2 - dead)+ */
#define MAD_STEP_MAX	 0.1	  /* relative: the largest step, as a fraction of d */
#define MAD_KIND_COMPAT	 0x100u	  /* struct mad_state kind: transform | this */

/* ------------------------------------------------------------------ */
/* Options                                                            */
/* ------------------------------------------------------------------ */

struct mad_opts
mad_opts_default(void)
{
	return (struct mad_opts){
		.transform = MAD_TRANSFORM_LOG1P,
		.step = MAD_STEP_RELATIVE,
		.eta = 0.001,
		.eta_min = 1e-6,
		.burn_in = 1000,
		.threshold = 3.5,
		.two_sided = false,
		.compat = false,
	};
}

struct mad_opts
mad_opts_compat(void)
{
	return (struct mad_opts){
		.transform = MAD_TRANSFORM_NONE,
		.step = MAD_STEP_ABSOLUTE,
		.eta = 0.05,
		.eta_min = 0,
		.burn_in = 0,
		.threshold = 3.5,
		.two_sided = false,
		.compat = true,
	};
}

static bool
mad_opts_valid(const struct mad_opts *o)
{
	if (o->transform != MAD_TRANSFORM_NONE && o->transform != MAD_TRANSFORM_LOG1P)
		return false;
	if (o->step != MAD_STEP_ABSOLUTE && o->step != MAD_STEP_RELATIVE)
		return false;
	if (!isfinite(o->eta) || o->eta <= 0)
		return false;
	if (o->step == MAD_STEP_RELATIVE && !o->compat && o->eta > MAD_STEP_MAX)
		return false;
	if (!isfinite(o->eta_min) || o->eta_min < 0)
		return false;
	return !isnan(o->threshold);
}

int
mad_init(struct mad *e, const struct mad_opts *o)
{
	struct mad_opts def = mad_opts_default();

	if (o == NULL)
		o = &def;
	if (!mad_opts_valid(o))
		return -EINVAL;
	memset(e, 0, sizeof(*e));
	e->o = *o;
	if (o->compat) {
		e->m = NAN;
		e->d = NAN;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                            */
/* ------------------------------------------------------------------ */

static inline double
mad_transform(const struct mad_opts *o, double x)
{
	return o->transform == MAD_TRANSFORM_LOG1P ? log1p(x) : x;
}

double
mad_untransform(const struct mad *e, double v)
{
	return e->o.transform == MAD_TRANSFORM_LOG1P ? expm1(v) : v;
}

/* fmax()/fmin() are libm calls at -O2 (NaN rules); our operands are never NaN. */
static inline double
mad_max(double a, double b)
{
	return a > b ? a : b;
}

static inline double
mad_min(double a, double b)
{
	return a < b ? a : b;
}

static inline double
mad_sign(double a)
{
	return (double)((a > 0) - (a < 0));
}

static inline double
mad_clamp_score(double s)
{
	return mad_max(-MAD_SCORE_MAX, mad_min(MAD_SCORE_MAX, s));
}

static inline bool
mad_is_outlier(const struct mad_opts *o, double z)
{
	return (o->two_sided ? fabs(z) : z) > o->threshold;
}

/*
 * The step for an estimate of scale d after n values: Robbins-Monro while
 * that is the larger, then the steady step, boosted while the trend says
 * the estimate lags, and never more than MAD_STEP_MAX * d (no overshoot
 * past 0 or ringing, whatever eta is).
 */
static inline double
mad_step_size(const struct mad *e, double d, double trend)
{
	double rm = d * (MAD_RM_GAIN / (double)(e->n + 1)); /* divide off d's chain */
	double boost;

	if (e->o.step == MAD_STEP_ABSOLUTE)
		return mad_max(rm, e->o.eta);
	if (rm > mad_max(e->o.eta_min, e->o.eta * d))
		return rm;
	boost = 1.0 + MAD_TREND_GAIN * mad_max(0.0, trend * trend - MAD_TREND_DEAD);
	return mad_max(e->o.eta_min * boost, mad_min(MAD_STEP_MAX, e->o.eta * boost) * d);
}

/* ------------------------------------------------------------------ */
/* Normal mode                                                        */
/* ------------------------------------------------------------------ */

/* Fill r's scores for value v against median m and MAD d (before update). */
static inline void
mad_score(const struct mad *e, double v, double m, double d, struct mad_result *r)
{
	double dev = fabs(v - m);

	r->median = m;
	r->mad = d;
	r->deviation = dev;
	r->burn_in = e->n < 2 || e->n < e->o.burn_in;
	if (r->burn_in) {
		r->score = 0;
		r->zscore = 0;
		r->outlier = false;
		return;
	}
	if (d > 0) {
		r->score = mad_clamp_score(dev / d);
		r->zscore = mad_clamp_score(MAD_Z_FACTOR * (v - m) / d);
	} else {
		/* d == 0: more than half of recent values sat exactly on m */
		r->score = dev > 0 ? MAD_SCORE_MAX : 0;
		r->zscore = MAD_SCORE_MAX * mad_sign(v - m);
	}
	/* one-sided: below the median scores 0 (a multiply: this branch would be a coin toss) */
	r->score *= (double)(e->o.two_sided | (v > m));
	r->outlier = mad_is_outlier(&e->o, r->zscore);
}

/* Learn from v, whose deviation from the current m is dev. */
static inline void
mad_learn(struct mad *e, double v, double dev)
{
	double m = e->m, d = e->d;
	double sm = mad_sign(v - m), sd = mad_sign(dev - d);

	if (e->n == 1) {
		e->d = dev; /* the first deviation seeds the scale */
		e->n_d = 1;
	} else {
		e->d = mad_max(0.0, d + mad_step_size(e, d, e->v) * sd);
		e->v += MAD_TREND_WEIGHT * (sd - e->v);
		e->n_d++;
	}
	e->m = m + mad_step_size(e, d, e->u) * sm;
	e->u += MAD_TREND_WEIGHT * (sm - e->u);
	e->n++;
}

static int
mad_update_normal(struct mad *e, double x, struct mad_result *r)
{
	double v = mad_transform(&e->o, x);

	if (mad_unlikely(!isfinite(v))) {
		memset(r, 0, sizeof(*r));
		r->value = v;
		return -EINVAL;
	}
	r->value = v;
	if (mad_unlikely(e->n == 0)) {
		mad_score(e, v, v, 0, r);
		e->m = v;
		e->n = 1;
		r->n = 1;
		return 0;
	}
	mad_score(e, v, e->m, e->d, r);
	mad_learn(e, v, r->deviation);
	r->n = e->n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Compat mode: Dragonfly MLE example-outlier.lua                     */
/* ------------------------------------------------------------------ */

/* Dragonfly's update_median(): returns the median before the update. */
static inline double
mad_dragonfly_update(double *median, uint64_t *count, double step, double x)
{
	double prev = *median;

	if (x != *median) {
		*median = isnan(*median) ? x : *median + (*median < x ? step : -step);
		*count += 1;
	}
	return prev;
}

/* Dragonfly reports NaN and infinities as -1. */
static inline double
mad_dragonfly_report(double a)
{
	return isfinite(a) ? a : -1;
}

static int
mad_update_compat(struct mad *e, double x, struct mad_result *r)
{
	double v = mad_transform(&e->o, x);
	bool burn_in = e->n < e->o.burn_in;
	double m, d, dev, z;

	m = mad_dragonfly_update(&e->m, &e->n, e->o.eta, v);
	dev = fabs(m - v);
	d = mad_dragonfly_update(&e->d, &e->n_d, e->o.eta, dev);
	z = MAD_Z_FACTOR * (v - m) / d;
	z = isfinite(z) ? mad_clamp_score(z) : 0;

	r->value = v;
	r->n = e->n;
	r->median = mad_dragonfly_report(m);
	r->mad = mad_dragonfly_report(d);
	r->deviation = mad_dragonfly_report(dev);
	r->score = mad_dragonfly_report(dev / d);
	r->zscore = z;
	r->burn_in = burn_in;
	r->outlier = !burn_in && mad_is_outlier(&e->o, z);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Public API                                                         */
/* ------------------------------------------------------------------ */

int
mad_update(struct mad *e, double x, struct mad_result *r)
{
	if (e->o.compat)
		return mad_update_compat(e, x, r);
	return mad_update_normal(e, x, r);
}

double
mad_median(const struct mad *e)
{
	return e->m;
}

double
mad_scale(const struct mad *e)
{
	return e->d;
}

uint64_t
mad_count(const struct mad *e)
{
	return e->n;
}

_Static_assert(sizeof(struct mad_state) == 56, "struct mad_state is stored: no padding");

static uint32_t
mad_kind(const struct mad_opts *o)
{
	return (uint32_t)o->transform | (o->compat ? MAD_KIND_COMPAT : 0);
}

void
mad_state_export(const struct mad *e, struct mad_state *s)
{
	memset(s, 0, sizeof(*s));
	s->version = MAD_STATE_VERSION;
	s->kind = mad_kind(&e->o);
	s->m = e->m;
	s->d = e->d;
	s->u = e->u;
	s->v = e->v;
	s->n = e->n;
	s->n_d = e->n_d;
}

static bool
mad_state_valid(const struct mad *e, const struct mad_state *s)
{
	if (s->version != MAD_STATE_VERSION || s->kind != mad_kind(&e->o))
		return false;
	if (e->o.compat)
		return true; /* Dragonfly's states may hold NaN, negatives, anything */
	if (!isfinite(s->m) || !isfinite(s->d) || s->d < 0)
		return false;
	return fabs(s->u) <= 1 && fabs(s->v) <= 1;
}

int
mad_state_import(struct mad *e, const struct mad_state *s)
{
	if (!mad_state_valid(e, s))
		return -EINVAL;
	e->m = s->m;
	e->d = s->d;
	e->u = s->u;
	e->v = s->v;
	e->n = s->n;
	e->n_d = s->n_d;
	return 0;
}
