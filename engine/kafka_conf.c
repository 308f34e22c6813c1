/*
 * kafka_conf.c: librdkafka settings from darter's strings (kafka_conf.h).
 */
#include "kafka_conf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int
kafka_conf_set(rd_kafka_conf_t *kc, const char *name, const char *value, char *err, size_t errlen)
{
	if (rd_kafka_conf_set(kc, name, value, err, errlen) != RD_KAFKA_CONF_OK)
		return -EINVAL;
	return 0;
}

/* One extra property, "name=value". */
static int
kafka_conf_prop(rd_kafka_conf_t *kc, const char *prop, char *err, size_t errlen)
{
	const char *eq = strchr(prop, '=');
	char name[128];

	if (eq == NULL || (size_t)(eq - prop) >= sizeof(name) || eq == prop) {
		snprintf(err, errlen, "property \"%s\": want name=value", prop);
		return -EINVAL;
	}
	memcpy(name, prop, (size_t)(eq - prop));
	name[eq - prop] = '\0';
	return kafka_conf_set(kc, name, eq + 1, err, errlen);
}

int
kafka_conf_apply(rd_kafka_conf_t *kc, const char *const (*set)[2], size_t n,
		 const char *const *props, size_t nprops, char *err, size_t errlen)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = kafka_conf_set(kc, set[i][0], set[i][1], err, errlen);
	for (size_t i = 0; rc == 0 && i < nprops; i++)
		rc = kafka_conf_prop(kc, props[i], err, errlen);
	return rc;
}
