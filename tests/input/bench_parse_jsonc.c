/*
 * bench_parse_jsonc.c: bench_parse's json-c column, in its own file
 * because json-c's and jansson's headers declare the same names.
 */
#include <string.h>

#include <json-c/json.h>

#include "bench_parse.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t
jsonc_fields(struct json_object *o, const char *const *keys, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *v;

		if (!json_object_object_get_ex(o, keys[i], &v))
			continue;
		if (json_object_is_type(v, json_type_int))
			sum += json_object_get_uint64(v);
		else if (json_object_is_type(v, json_type_string))
			sum += (uint64_t)json_object_get_string_len(v);
	}
	return sum;
}

uint64_t
bench_run_jsonc(const struct lines *l, uint64_t *bad)
{
	struct json_tokener *tok = json_tokener_new();
	uint64_t sum = 0;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	for (size_t i = 0; i < l->n; i++) {
		struct json_object *d, *t, *f;

		json_tokener_reset(tok);
		d = json_tokener_parse_ex(tok, l->v[i].p, (int)l->v[i].len);
		if (d == NULL) {
			(*bad)++;
			continue;
		}
		if (json_object_object_get_ex(d, "event_type", &t) &&
		    strcmp(json_object_get_string(t), "flow") == 0) {
			sum += jsonc_fields(d, bench_top_keys, NELEM(bench_top_keys));
			if (json_object_object_get_ex(d, "flow", &f))
				sum += jsonc_fields(f, bench_flow_keys, NELEM(bench_flow_keys));
			if (json_object_object_get_ex(d, "tcp", &f))
				sum += jsonc_fields(f, bench_tcp_keys, NELEM(bench_tcp_keys));
		}
		json_object_put(d);
	}
	json_tokener_free(tok);
	return sum;
}
