/*
 * model.c: JSON models scored in process (see model.h).
 *
 * How: jansson parses the file once; the model becomes flat arrays (a
 * weight per feature; for forests one node array for all trees, each tree
 * an index of its root). Loading checks every index and every number, and
 * that each tree is a tree (children come after their parent, so there are
 * no cycles and a walk ends in at most its node count steps); scoring then
 * runs without checks or allocation.
 *
 * Not here: feature lookup by name (the Lua host does it), training.
 */
#include "model.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

enum model_type { MODEL_LINEAR, MODEL_LOGISTIC, MODEL_FOREST };

struct model_node {
	int32_t feature; /* -1: leaf */
	uint32_t left, right;
	double value; /* threshold, or the leaf's value */
};

struct model {
	enum model_type type;
	size_t nf;
	char **names;
	double *weights; /* linear, logistic */
	double bias;
	struct model_node *nodes; /* forest */
	uint32_t *roots;
	size_t ntrees;
	int sum;      /* forest: sum of trees, else mean */
	int logistic; /* forest: output through 1/(1+e^-x) */
};

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

static int
model_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int
model_number(json_t *v, double *out)
{
	if (!json_is_number(v))
		return -EINVAL;
	*out = json_number_value(v);
	return isfinite(*out) ? 0 : -EINVAL;
}

static int
model_load_features(struct model *m, json_t *root, char *err, size_t errlen)
{
	json_t *f = json_object_get(root, "features");

	if (!json_is_array(f) || json_array_size(f) == 0 || json_array_size(f) > MODEL_FEATURES_MAX)
		return model_fail(err, errlen, "features: a list of 1..%u names",
				  MODEL_FEATURES_MAX);
	m->nf = json_array_size(f);
	m->names = calloc(m->nf, sizeof(*m->names));
	if (!m->names)
		return -ENOMEM;
	for (size_t i = 0; i < m->nf; i++) {
		json_t *n = json_array_get(f, i);
		if (!json_is_string(n))
			return model_fail(err, errlen, "features[%zu]: not a string", i);
		m->names[i] = strdup(json_string_value(n));
		if (!m->names[i])
			return -ENOMEM;
	}
	return 0;
}

static int
model_load_linear(struct model *m, json_t *root, char *err, size_t errlen)
{
	json_t *w = json_object_get(root, "weights"), *b = json_object_get(root, "bias");

	if (!json_is_array(w) || json_array_size(w) != m->nf)
		return model_fail(err, errlen, "weights: one number per feature (%zu)", m->nf);
	m->weights = calloc(m->nf, sizeof(double));
	if (!m->weights)
		return -ENOMEM;
	for (size_t i = 0; i < m->nf; i++)
		if (model_number(json_array_get(w, i), &m->weights[i]) != 0)
			return model_fail(err, errlen, "weights[%zu]: not a finite number", i);
	m->bias = 0;
	if (b && model_number(b, &m->bias) != 0)
		return model_fail(err, errlen, "bias: not a finite number");
	return 0;
}

/* One node of tree t at index base + i of m->nodes; n nodes in the tree. */
static int
model_load_node(struct model *m, json_t *j, size_t t, size_t i, size_t n, size_t base, char *err,
		size_t errlen)
{
	struct model_node *nd = &m->nodes[base + i];
	json_t *v = json_object_get(j, "value");
	json_int_t f, l, r;

	if (!json_is_object(j))
		return model_fail(err, errlen, "trees[%zu].nodes[%zu]: not an object", t, i);
	if (v) {
		nd->feature = -1;
		if (model_number(v, &nd->value) != 0)
			return model_fail(err, errlen, "trees[%zu].nodes[%zu].value: not a number",
					  t, i);
		return 0;
	}
	if (!json_is_integer(json_object_get(j, "feature")) ||
	    !json_is_integer(json_object_get(j, "left")) ||
	    !json_is_integer(json_object_get(j, "right")) ||
	    model_number(json_object_get(j, "threshold"), &nd->value) != 0)
		return model_fail(err, errlen,
				  "trees[%zu].nodes[%zu]: needs value, or feature, threshold, "
				  "left and right",
				  t, i);
	f = json_integer_value(json_object_get(j, "feature"));
	l = json_integer_value(json_object_get(j, "left"));
	r = json_integer_value(json_object_get(j, "right"));
	if (f < 0 || (size_t)f >= m->nf)
		return model_fail(err, errlen, "trees[%zu].nodes[%zu].feature: out of range", t, i);
	/* children after their parent: no cycles, every walk ends */
	if (l <= (json_int_t)i || r <= (json_int_t)i || (size_t)l >= n || (size_t)r >= n)
		return model_fail(err, errlen,
				  "trees[%zu].nodes[%zu]: children must be later nodes of the tree",
				  t, i);
	nd->feature = (int32_t)f;
	nd->left = (uint32_t)(base + (size_t)l);
	nd->right = (uint32_t)(base + (size_t)r);
	return 0;
}

static int
model_load_forest(struct model *m, json_t *root, char *err, size_t errlen)
{
	json_t *trees = json_object_get(root, "trees"), *comb = json_object_get(root, "combine");
	json_t *out = json_object_get(root, "output");
	size_t total = 0, base = 0;
	int rc;

	if (!json_is_array(trees) || json_array_size(trees) == 0)
		return model_fail(err, errlen, "trees: a non-empty list");
	m->ntrees = json_array_size(trees);
	for (size_t t = 0; t < m->ntrees; t++) {
		json_t *nodes = json_object_get(json_array_get(trees, t), "nodes");
		if (!json_is_array(nodes) || json_array_size(nodes) == 0)
			return model_fail(err, errlen, "trees[%zu].nodes: a non-empty list", t);
		total += json_array_size(nodes);
		if (total > MODEL_NODES_MAX)
			return model_fail(err, errlen, "more than %u nodes", MODEL_NODES_MAX);
	}
	m->nodes = calloc(total, sizeof(*m->nodes));
	m->roots = calloc(m->ntrees, sizeof(*m->roots));
	if (!m->nodes || !m->roots)
		return -ENOMEM;
	for (size_t t = 0; t < m->ntrees; t++) {
		json_t *nodes = json_object_get(json_array_get(trees, t), "nodes");
		size_t n = json_array_size(nodes);
		m->roots[t] = (uint32_t)base;
		for (size_t i = 0; i < n; i++) {
			rc = model_load_node(m, json_array_get(nodes, i), t, i, n, base, err,
					     errlen);
			if (rc)
				return rc;
		}
		base += n;
	}
	if (comb && !(json_is_string(comb) && (strcmp(json_string_value(comb), "mean") == 0 ||
					       strcmp(json_string_value(comb), "sum") == 0)))
		return model_fail(err, errlen, "combine: \"mean\" or \"sum\"");
	m->sum = comb && strcmp(json_string_value(comb), "sum") == 0;
	if (out && !(json_is_string(out) && (strcmp(json_string_value(out), "raw") == 0 ||
					     strcmp(json_string_value(out), "logistic") == 0)))
		return model_fail(err, errlen, "output: \"raw\" or \"logistic\"");
	m->logistic = out && strcmp(json_string_value(out), "logistic") == 0;
	return 0;
}

static int
model_build(struct model *m, json_t *root, char *err, size_t errlen)
{
	const char *type = json_string_value(json_object_get(root, "type"));
	int rc;

	if (!json_is_object(root))
		return model_fail(err, errlen, "the model is not a JSON object");
	if (!type)
		return model_fail(err, errlen, "type: missing (linear, logistic or forest)");
	if (strcmp(type, "linear") == 0)
		m->type = MODEL_LINEAR;
	else if (strcmp(type, "logistic") == 0)
		m->type = MODEL_LOGISTIC;
	else if (strcmp(type, "forest") == 0)
		m->type = MODEL_FOREST;
	else
		return model_fail(err, errlen, "type: '%s' is not linear, logistic or forest",
				  type);
	rc = model_load_features(m, root, err, errlen);
	if (rc)
		return rc;
	if (m->type == MODEL_FOREST)
		return model_load_forest(m, root, err, errlen);
	return model_load_linear(m, root, err, errlen);
}

struct model *
model_parse(const char *text, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	struct model *m;
	int rc;

	if (!root) {
		model_fail(err, errlen, "line %d column %d: %s", je.line, je.column, je.text);
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	rc = m ? model_build(m, root, err, errlen) : -ENOMEM;
	json_decref(root);
	if (rc == 0)
		return m;
	if (rc == -ENOMEM)
		model_fail(err, errlen, "out of memory");
	model_free(m);
	errno = -rc;
	return NULL;
}

struct model *
model_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	struct model *m;

	if (!f) {
		int e = errno;
		model_fail(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return NULL;
	}
	buf = malloc(MODEL_FILE_MAX + 1);
	n = buf ? fread(buf, 1, MODEL_FILE_MAX + 1, f) : 0;
	fclose(f);
	if (!buf) {
		errno = ENOMEM;
		return NULL;
	}
	if (n > MODEL_FILE_MAX) {
		free(buf);
		model_fail(err, errlen, "%s: larger than %u bytes", path, MODEL_FILE_MAX);
		errno = EFBIG;
		return NULL;
	}
	m = model_parse(buf, n, err, errlen);
	free(buf);
	return m;
}

void
model_free(struct model *m)
{
	if (!m)
		return;
	for (size_t i = 0; m->names && i < m->nf; i++)
		free(m->names[i]);
	free(m->names);
	free(m->weights);
	free(m->nodes);
	free(m->roots);
	free(m);
}

/* ------------------------------------------------------------------ */
/* Scoring                                                             */
/* ------------------------------------------------------------------ */

static double
model_sigmoid(double z)
{
	return 1.0 / (1.0 + exp(-z));
}

static double
model_x(const double *x, size_t i)
{
	return isfinite(x[i]) ? x[i] : 0.0;
}

static double
model_tree(const struct model *m, uint32_t i, const double *x)
{
	const struct model_node *nd = &m->nodes[i];

	while (nd->feature >= 0)
		nd = &m->nodes[model_x(x, (size_t)nd->feature) <= nd->value ? nd->left : nd->right];
	return nd->value;
}

double
model_predict(const struct model *m, const double *x)
{
	double s = 0;

	if (m->type == MODEL_FOREST) {
		for (size_t t = 0; t < m->ntrees; t++)
			s += model_tree(m, m->roots[t], x);
		if (!m->sum)
			s /= (double)m->ntrees;
		return m->logistic ? model_sigmoid(s) : s;
	}
	s = m->bias;
	for (size_t i = 0; i < m->nf; i++)
		s += m->weights[i] * model_x(x, i);
	return m->type == MODEL_LOGISTIC ? model_sigmoid(s) : s;
}

size_t
model_features(const struct model *m)
{
	return m->nf;
}

const char *
model_feature_name(const struct model *m, size_t i)
{
	return i < m->nf ? m->names[i] : NULL;
}

const char *
model_kind(const struct model *m)
{
	static const char *const k[] = {"linear", "logistic", "forest"};

	return k[m->type];
}
