/*
 * kafka_conf.h: librdkafka settings from darter's strings, shared by the
 * Kafka input (input_kafka.c) and output (sink_kafka.c).
 */
#ifndef DARTER_KAFKA_CONF_H
#define DARTER_KAFKA_CONF_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

/*
 * Set the module's own n settings (name, value pairs), then the
 * operator's extra properties ("name=value", applied last so they win).
 * 0, or -EINVAL with the reason in err (librdkafka's, or a malformed
 * property); kc is left for the caller to destroy.
 */
int kafka_conf_apply(rd_kafka_conf_t *kc, const char *const (*set)[2], size_t n,
		     const char *const *props, size_t nprops, char *err, size_t errlen);

#endif
