/*
 * kafka_mock.c: a Kafka cluster for darter-level tests, in one process.
 *
 * librdkafka's mock cluster (test.mock.num.brokers) lives inside the
 * process that creates it, but its brokers listen on real loopback TCP
 * ports: this helper creates one with 3 brokers, creates TOPIC with
 * PARTITIONS partitions, produces every line of FILE to it (one message
 * per line, without its '\n'), prints the bootstrap servers on stdout
 * and then serves until SIGTERM. A darter started with
 * inputs.eve-kafka.brokers set to that line consumes from it like from a
 * real cluster.
 *
 * Usage: kafka_mock TOPIC PARTITIONS FILE. Exit 0 on SIGTERM, 1 on error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t kafka_mock_stop;

static void
kafka_mock_on_term(int sig)
{
	(void)sig;
	kafka_mock_stop = 1;
}

static int
kafka_mock_produce(rd_kafka_t *rk, const char *topic, const char *path)
{
	static char line[1 << 20];
	FILE *f = fopen(path, "r");
	unsigned long n = 0;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t len = strcspn(line, "\n");
		rd_kafka_resp_err_t err;

		do {
			err = rd_kafka_producev(
				rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(line, len),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
			if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
				rd_kafka_poll(rk, 10);
		} while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			fprintf(stderr, "kafka_mock: produce: %s\n", rd_kafka_err2str(err));
			fclose(f);
			return -1;
		}
		n++;
	}
	fclose(f);
	if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "kafka_mock: flush timed out\n");
		return -1;
	}
	fprintf(stderr, "kafka_mock: %lu messages in %s\n", n, topic);
	return 0;
}

int
main(int argc, char **argv)
{
	char err[256];
	rd_kafka_conf_t *c;
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;

	if (argc != 4) {
		fprintf(stderr, "usage: kafka_mock TOPIC PARTITIONS FILE\n");
		return 1;
	}
	signal(SIGTERM, kafka_mock_on_term);
	signal(SIGINT, kafka_mock_on_term);
	c = rd_kafka_conf_new();
	if (rd_kafka_conf_set(c, "test.mock.num.brokers", "3", err, sizeof(err)) !=
		    RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(c, "log_level", "0", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "kafka_mock: %s\n", err);
		return 1;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	if (rk == NULL) {
		fprintf(stderr, "kafka_mock: %s\n", err);
		return 1;
	}
	mc = rd_kafka_handle_mock_cluster(rk);
	if (mc == NULL || rd_kafka_mock_topic_create(mc, argv[1], atoi(argv[2]), 3) != 0 ||
	    kafka_mock_produce(rk, argv[1], argv[3]) < 0) {
		rd_kafka_destroy(rk);
		return 1;
	}
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	while (!kafka_mock_stop)
		pause();
	rd_kafka_destroy(rk);
	return 0;
}
