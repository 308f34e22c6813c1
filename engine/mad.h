/*
 * mad.h: one streaming median / median-absolute-deviation estimator.
 *
 * Each value x is transformed (log1p by default), scored against the
 * median m and MAD d learned so far, and then updates them by stochastic
 * averaging: first |x - m| moves d, then x moves m, each by one signed
 * step. State is a few doubles; an update does no I/O and no allocation.
 * A compat preset reproduces Dragonfly MLE's flow-size outlier analyzer
 * (example-outlier.lua) bit for bit. Design notes are in mad.c.
 *
 * One struct mad belongs to one thread; nothing here locks.
 */
#ifndef DARTER_MAD_H
#define DARTER_MAD_H

#include <stdbool.h>
#include <stdint.h>

/* The consistency constant of the modified z-score (Iglewicz-Hoaglin). */
#define MAD_Z_FACTOR 0.6745

/* |score| and |zscore| never exceed this; it is the score of x != m while d == 0. */
#define MAD_SCORE_MAX 1e9

/* struct mad_state layout version, bumped whenever its fields change. */
#define MAD_STATE_VERSION 1u

enum mad_transform {
	MAD_TRANSFORM_NONE,  /* estimate on x itself */
	MAD_TRANSFORM_LOG1P, /* estimate on log1p(x): x must be > -1 */
};

enum mad_step {
	MAD_STEP_ABSOLUTE, /* each step is eta, in transformed units */
	MAD_STEP_RELATIVE, /* each step is eta * d (floored at eta_min) */
};

struct mad_opts {
	enum mad_transform transform;
	enum mad_step step;
	double eta;	  /* absolute: the step; relative: fraction of the MAD, <= 0.1 */
	double eta_min;	  /* relative: least step, transformed units (escapes d == 0) */
	uint64_t burn_in; /* values scored as burn-in: outlier stays false, scores 0 */
	double threshold; /* outlier when the modified z-score exceeds it */
	bool two_sided;	  /* false: only x above the median scores (upper tail) */
	bool compat;	  /* Dragonfly MLE's update and reporting rules, see below */
};

/*
 * What one update reports. The median and MAD are those the value was
 * scored against, i.e. before this value updated them (for the very first
 * value, which has nothing to be scored against: the value itself and 0).
 *
 * Normal mode, transformed units:
 *   deviation = |value - median|
 *   score     = deviation / mad; one-sided: 0 when value <= median
 *   zscore    = MAD_Z_FACTOR * (value - median) / mad, signed, both modes of sidedness
 *   outlier   = !burn_in && zscore > threshold (two-sided: |zscore| > threshold)
 *   mad == 0: score and zscore are 0 when value == median, else +-MAD_SCORE_MAX
 *   (so outlier once past burn-in).
 *   burn_in   = fewer than max(burn_in option, 2) values came before this one
 *   (there is no median before the first, no MAD before the second); score
 *   and zscore are then 0 and outlier false.
 *   n counts values accepted, this one included.
 *
 * Compat mode: n, median, mad, deviation and score are exactly Dragonfly's
 * n, median, median_deviation, deviation and multiple, each -1 when NaN or
 * infinite (n is the median state's count: values that moved the median).
 * zscore is MAD_Z_FACTOR * (value - median) / mad from Dragonfly's values
 * before the -1 rule, 0 when not finite; outlier follows the normal rule;
 * burn_in is n (before this value) < the burn_in option.
 */
struct mad_result {
	double value; /* x after the transform */
	double median;
	double mad;
	double deviation;
	double score;
	double zscore;
	uint64_t n;
	bool outlier;
	bool burn_in;
};

/*
 * The estimator. Fields are public only so callers can embed it by value;
 * read them through the functions below, never write them.
 */
struct mad {
	double m;     /* median; compat: NaN until the first value */
	double d;     /* MAD; compat: NaN until the first deviation */
	double u;     /* recent mean of sign(x - m): near +-1 while m lags a shift */
	double v;     /* recent mean of sign(|x - m| - d), likewise for d */
	uint64_t n;   /* values accepted; compat: updates of the median state */
	uint64_t n_d; /* updates of d; compat: updates of the deviation state */
	struct mad_opts o;
};

/*
 * A POD copy of the learned state for persistence (snapshot, Redis hash).
 * Options are not in it: the configuration owns those. kind records the
 * transform and compat flag so a state is not restored into an estimator
 * that learns in other units. Host byte order, no padding (56 bytes).
 */
struct mad_state {
	uint32_t version; /* MAD_STATE_VERSION */
	uint32_t kind;
	double m, d, u, v;
	uint64_t n, n_d;
};

/* Defaults: log1p, relative step 0.001, burn-in 1000, threshold 3.5, one-sided. */
struct mad_opts mad_opts_default(void);

/*
 * Dragonfly MLE's analyzer: no transform, absolute step 0.05, no burn-in,
 * threshold 3.5 (Dragonfly itself flags nothing), one-sided.
 */
struct mad_opts mad_opts_compat(void);

/*
 * Initialise e with *o copied in (NULL: mad_opts_default()). Returns 0, or
 * -EINVAL when an option is out of range (eta not finite and > 0, or above
 * 0.1 in relative mode; eta_min negative or not finite; threshold NaN;
 * unknown enum); e is then unusable. Compat ignores step (always absolute).
 * There is no mad_fini: e owns nothing.
 */
int mad_init(struct mad *e, const struct mad_opts *o);

/*
 * Score x against the current state, then learn from it, and fill *r.
 * Returns 0, or -EINVAL when the transformed x is NaN or infinite (normal
 * mode only): the state is then unchanged and *r holds the value with
 * everything else 0. Compat mode accepts every x, as Dragonfly does.
 */
int mad_update(struct mad *e, double x, struct mad_result *r);

/* Current median, MAD (transformed units) and count; see struct mad. */
double mad_median(const struct mad *e);
double mad_scale(const struct mad *e);
uint64_t mad_count(const struct mad *e);

/* The inverse of e's transform: a transformed median back in x's units. */
double mad_untransform(const struct mad *e, double v);

/* Copy e's learned state into *s. */
void mad_state_export(const struct mad *e, struct mad_state *s);

/*
 * Replace e's learned state with *s, keeping e's options. Returns 0, or
 * -EINVAL when s has another version or kind or holds impossible values
 * (normal mode: non-finite m or d, d < 0); e is then unchanged.
 */
int mad_state_import(struct mad *e, const struct mad_state *s);

#endif
