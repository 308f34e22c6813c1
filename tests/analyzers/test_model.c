/*
 * test_model.c: in-process model scoring (analyzers/model.h), from C and
 * from Lua (darter.model), against hand-computed values, and the load-time
 * checks of malformed models.
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
#include <unistd.h>

#include <cmocka.h>

#include "analyzer.h"
#include "flow_record.h"
#include "model.h"

static const char *linear_json =
	"{\"type\":\"linear\",\"features\":[\"a\",\"b\"],\"weights\":[2,-1],\"bias\":0.5}";
static const char *logistic_json =
	"{\"type\":\"logistic\",\"features\":[\"a\",\"b\"],\"weights\":[1,1],\"bias\":-2}";
/*
 * tree 1:  a <= 1.5 ? 10 : (b <= 0 ? 20 : 30)     tree 2: 4
 */
static const char *forest_fmt =
	"{\"type\":\"forest\",\"features\":[\"a\",\"b\"],%s\"trees\":["
	"{\"nodes\":[{\"feature\":0,\"threshold\":1.5,\"left\":1,\"right\":2},{\"value\":10},"
	"{\"feature\":1,\"threshold\":0,\"left\":3,\"right\":4},{\"value\":20},{\"value\":30}]},"
	"{\"nodes\":[{\"value\":4}]}]}";

static struct model *
parse(const char *text)
{
	char err[256];
	struct model *m = model_parse(text, strlen(text), err, sizeof(err));

	if (!m)
		fail_msg("parse: %s", err);
	return m;
}

static void
test_linear_logistic(void **state)
{
	struct model *m = parse(linear_json);
	double x[2] = {3, 4};
	(void)state;

	assert_string_equal(model_kind(m), "linear");
	assert_int_equal(model_features(m), 2);
	assert_string_equal(model_feature_name(m, 1), "b");
	assert_null(model_feature_name(m, 2));
	assert_float_equal(model_predict(m, x), 0.5 + 2 * 3 - 4, 1e-12);
	x[1] = NAN; /* not finite: taken as 0 */
	assert_float_equal(model_predict(m, x), 6.5, 1e-12);
	model_free(m);

	m = parse(logistic_json);
	x[0] = 1, x[1] = 1;
	assert_float_equal(model_predict(m, x), 0.5, 1e-12);
	x[0] = 2, x[1] = 2;
	assert_float_equal(model_predict(m, x), 1 / (1 + exp(-2.0)), 1e-12);
	model_free(m);
	model_free(NULL);
}

static void
test_forest(void **state)
{
	char text[1024];
	struct model *m;
	double x1[2] = {1, 5}, x2[2] = {2, -1}, x3[2] = {2, 1};
	(void)state;

	snprintf(text, sizeof(text), forest_fmt, "");
	m = parse(text);
	assert_float_equal(model_predict(m, x1), (10 + 4) / 2.0, 1e-12);
	assert_float_equal(model_predict(m, x2), (20 + 4) / 2.0, 1e-12);
	assert_float_equal(model_predict(m, x3), (30 + 4) / 2.0, 1e-12);
	model_free(m);

	snprintf(text, sizeof(text), forest_fmt, "\"combine\":\"sum\",\"output\":\"logistic\",");
	m = parse(text);
	assert_float_equal(model_predict(m, x2), 1 / (1 + exp(-24.0)), 1e-12);
	model_free(m);
}

static void
test_bad_models(void **state)
{
	static const struct {
		const char *text, *reason;
	} bad[] = {
		{"{\"type\":\"linear\"", "line 1"},
		{"[1,2]", "not a JSON object"},
		{"{\"type\":\"svm\",\"features\":[\"a\"]}", "not linear, logistic or forest"},
		{"{\"type\":\"linear\",\"features\":[]}", "features"},
		{"{\"type\":\"linear\",\"features\":[\"a\"],\"weights\":[1,2]}", "weights"},
		{"{\"type\":\"linear\",\"features\":[\"a\"],\"weights\":[\"x\"]}", "weights[0]"},
		{"{\"type\":\"forest\",\"features\":[\"a\"],\"trees\":[{\"nodes\":[{\"feature\":0,"
		 "\"threshold\":1,\"left\":0,\"right\":1},{\"value\":1}]}]}",
		 "children must be later"},
		{"{\"type\":\"forest\",\"features\":[\"a\"],\"trees\":[{\"nodes\":[{\"feature\":3,"
		 "\"threshold\":1,\"left\":1,\"right\":1},{\"value\":1}]}]}",
		 "feature: out of range"},
		{"{\"type\":\"forest\",\"features\":[\"a\"],\"trees\":[{\"nodes\":[{\"feature\":0,"
		 "\"threshold\":1,\"left\":1,\"right\":5},{\"value\":1}]}]}",
		 "children must be later"},
		{"{\"type\":\"forest\",\"features\":[\"a\"],\"trees\":[]}", "trees"},
		{"{\"type\":\"forest\",\"features\":[\"a\"],\"combine\":\"max\",\"trees\":[{"
		 "\"nodes\":"
		 "[{\"value\":1}]}]}",
		 "combine"},
	};
	char err[256];
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		errno = 0;
		assert_null(model_parse(bad[i].text, strlen(bad[i].text), err, sizeof(err)));
		assert_int_equal(errno, EINVAL);
		if (!strstr(err, bad[i].reason))
			fail_msg("model %zu: '%s' does not say '%s'", i, err, bad[i].reason);
	}
	assert_null(model_load("/nonexistent/model.json", err, sizeof(err)));
	assert_int_equal(errno, ENOENT);
}

/* ------------------------------------------------------------------ */
/* From Lua                                                            */
/* ------------------------------------------------------------------ */

static char tmpdir[256], last[4096];

static int
cb_emit(void *user, const char *sink, const char *json, size_t len)
{
	(void)user, (void)sink;
	snprintf(last, sizeof(last), "%.*s", (int)len, json);
	return 0;
}

static void
put(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_lua(void **state)
{
	char path[512], err[256], text[1024];
	struct analyzer_conf c = {.lua_dir = AN_LUA_DIR, .emit = cb_emit, .cpu_ms = 2000};
	struct analyzer *a;
	struct flow_record r;
	(void)state;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/darter-model-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	put("lin.json", linear_json);
	snprintf(text, sizeof(text), forest_fmt, "");
	put("forest.json", text);
	put("bad.json", "{\"type\":\"linear\",\"features\":[\"a\"],\"weights\":[]}");
	put("m.lua",
	    "local lin, forest, bad, why\n"
	    "function setup()\n"
	    "  lin = assert(darter.model.load('lin.json'))\n"
	    "  forest = assert(darter.model.load('forest.json'))\n"
	    "  bad, why = darter.model.load('bad.json')\n"
	    "end\n"
	    "function on_flow(rec)\n"
	    "  darter.emit('out', { lin = lin:predict{ a = 3, b = 4 },\n"
	    "    list = lin:predict{ 3, 4 }, missing = lin:predict{ a = 1 },\n"
	    "    forest = forest:predict{ a = rec.dst_port, b = -1 },\n"
	    "    kind = forest:kind(), names = lin:features(), bad = bad == nil and why })\n"
	    "end\n");
	snprintf(path, sizeof(path), "%s/m.lua", tmpdir);
	c.path = path;
	a = analyzer_new(&c, err, sizeof(err));
	if (!a)
		fail_msg("%s", err);
	memset(&r, 0, sizeof(r));
	r.ip_version = 4;
	r.dst_port = 2;
	assert_int_equal(analyzer_flow(a, &r), 0);
	assert_non_null(strstr(last, "\"lin\":2.5"));
	assert_non_null(strstr(last, "\"list\":2.5"));
	assert_non_null(strstr(last, "\"missing\":2.5")); /* 0.5 + 2*1 - 0 */
	assert_non_null(strstr(last, "\"forest\":12"));
	assert_non_null(strstr(last, "\"kind\":\"forest\""));
	assert_non_null(strstr(last, "\"names\":[\"a\",\"b\"]"));
	assert_non_null(strstr(last, "\"bad\":\"darter.model: weights: one number per feature"));
	analyzer_free(a);
	snprintf(text, sizeof(text), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(text), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linear_logistic),
		cmocka_unit_test(test_forest),
		cmocka_unit_test(test_bad_models),
		cmocka_unit_test(test_lua),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
