/*
 * model.h: in-process scoring of small models, replacing Redis-ML.
 *
 * A model is a JSON file (format in lua/README.md, "Models"): a linear or
 * logistic regression, or a forest of decision trees (mean or sum of the
 * trees, optionally through the logistic function). Features are named;
 * the caller passes them as a vector in the model's order. Loading
 * validates everything (indexes, tree shape, finite numbers), so scoring
 * never checks and never fails on a loaded model.
 *
 * Not here: training, categorical features, missing-value routing (a
 * missing feature is 0, documented).
 *
 * Threads: a loaded model is read-only; any thread may score with it.
 */
#ifndef DARTER_MODEL_H
#define DARTER_MODEL_H

#include <stddef.h>

/* Limits checked at load. */
#define MODEL_FEATURES_MAX 1024u
#define MODEL_NODES_MAX	   (1u << 20) /* all trees together */
#define MODEL_FILE_MAX	   (16u << 20)

struct model;

/*
 * Parse a model from JSON text (len bytes). Returns NULL with errno
 * (EINVAL: a one-line reason in err, ENOMEM) on failure. Any thread.
 */
struct model *model_parse(const char *text, size_t len, char *err, size_t errlen);

/* Read path (at most MODEL_FILE_MAX bytes) and parse it. Blocking file I/O. */
struct model *model_load(const char *path, char *err, size_t errlen);

/* NULL is fine. */
void model_free(struct model *m);

/* Number of features, and the name of feature i (valid for m's lifetime). */
size_t model_features(const struct model *m);
const char *model_feature_name(const struct model *m, size_t i);

/* "linear", "logistic" or "forest". */
const char *model_kind(const struct model *m);

/*
 * Score x[0..model_features(m)). Returns the prediction: the linear value,
 * the logistic probability, or the forest's combination. x values that are
 * not finite are taken as 0.
 */
double model_predict(const struct model *m, const double *x);

#endif
