/*
 * stats.c: naming the counters.
 *
 * One table-like function per source. Rows sharing a dotted prefix are
 * kept adjacent, as eve_format_stats() requires for nesting.
 */
#include "stats.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

struct stats_list {
	struct eve_counter *c;
	size_t n;
};

static void
stats_add(struct stats_list *l, const char *name, uint64_t value)
{
	assert(l->n < STATS_MAX_COUNTERS);
	l->c[l->n].name = name;
	l->c[l->n].value = value;
	l->n++;
}

static void
stats_capture(struct stats_list *l, const struct port_stats *p)
{
	stats_add(l, "capture.packets", p->ipackets);
	stats_add(l, "capture.bytes", p->ibytes);
	stats_add(l, "capture.imissed", p->imissed);
	stats_add(l, "capture.ierrors", p->ierrors);
	stats_add(l, "capture.rx_no_mbufs", p->rx_nombuf);
	stats_add(l, "capture.truncated", p->truncated);
}

static void
stats_decoder(struct stats_list *l, const struct decode_stats *d)
{
	static char names[DECODE_EV_MAX][64];

	stats_add(l, "decoder.pkts", d->pkts);
	stats_add(l, "decoder.bytes", d->bytes);
	stats_add(l, "decoder.invalid", d->invalid);
	stats_add(l, "decoder.ethernet", d->ethernet);
	stats_add(l, "decoder.vlan", d->vlan);
	stats_add(l, "decoder.ipv4", d->ipv4);
	stats_add(l, "decoder.ipv6", d->ipv6);
	stats_add(l, "decoder.tcp", d->tcp);
	stats_add(l, "decoder.udp", d->udp);
	stats_add(l, "decoder.icmpv4", d->icmpv4);
	stats_add(l, "decoder.icmpv6", d->icmpv6);
	stats_add(l, "decoder.ipip", d->ipip);
	stats_add(l, "decoder.gre", d->gre);
	stats_add(l, "decoder.erspan", d->erspan);
	stats_add(l, "decoder.vxlan", d->vxlan);
	stats_add(l, "decoder.teredo", d->teredo);
	for (int i = 0; i < DECODE_EV_MAX; i++) {
		/* names are fixed for the process: build once, single-threaded caller */
		if (names[i][0] == '\0') {
			strcpy(names[i], "decoder.event.");
			strncat(names[i], decode_event_names[i], sizeof(names[i]) - 15);
		}
		stats_add(l, names[i], d->events[i]);
	}
}

static void
stats_flow(struct stats_list *l, const struct flow_table_stats *f)
{
	stats_add(l, "flow.total", f->created);
	stats_add(l, "flow.active", f->active);
	stats_add(l, "flow.tcp", f->tcp);
	stats_add(l, "flow.udp", f->udp);
	stats_add(l, "flow.icmp", f->icmp);
	stats_add(l, "flow.memuse", f->memuse);
}

/* Refused EVE lines by reason: darter.eve_input.errors.syntax, ... */
static void
stats_eve_errors(struct stats_list *l, const uint64_t *errors)
{
	static char names[EVE_IN_ERR__COUNT][64];

	for (int e = EVE_IN_OK + 1; e < EVE_IN_ERR__COUNT; e++) {
		/* names are fixed for the process: build once, single-threaded caller */
		if (names[e][0] == '\0')
			snprintf(names[e], sizeof(names[e]), "darter.eve_input.errors.%s",
				 eve_in_error_name((enum eve_in_error)e));
		stats_add(l, names[e], errors[e]);
	}
}

/* The followed EVE file (or the -e file). */
static void
stats_eve_file(struct stats_list *l, const struct input_file_stats *f)
{
	stats_add(l, "darter.eve_input.file.lines", f->lines);
	stats_add(l, "darter.eve_input.file.bytes", f->bytes);
	stats_add(l, "darter.eve_input.file.too_long", f->too_long);
	stats_add(l, "darter.eve_input.file.partial", f->partial);
	stats_add(l, "darter.eve_input.file.dropped", f->dropped);
	stats_add(l, "darter.eve_input.file.rotations", f->rotations);
	stats_add(l, "darter.eve_input.file.truncations", f->truncations);
	stats_add(l, "darter.eve_input.file.read_errors", f->read_errors);
	stats_add(l, "darter.eve_input.file.open_errors", f->open_errors);
	stats_add(l, "darter.eve_input.file.unread", f->unread);
}

/* The EVE Unix socket. */
static void
stats_eve_socket(struct stats_list *l, const struct input_unix_stats *u)
{
	stats_add(l, "darter.eve_input.socket.lines", u->lines);
	stats_add(l, "darter.eve_input.socket.bytes", u->bytes);
	stats_add(l, "darter.eve_input.socket.too_long", u->too_long);
	stats_add(l, "darter.eve_input.socket.partial", u->partial);
	stats_add(l, "darter.eve_input.socket.dropped", u->dropped);
	stats_add(l, "darter.eve_input.socket.clients", u->clients);
	stats_add(l, "darter.eve_input.socket.clients_now", u->clients_now);
	stats_add(l, "darter.eve_input.socket.rejected", u->rejected);
	stats_add(l, "darter.eve_input.socket.disconnects", u->disconnects);
	stats_add(l, "darter.eve_input.socket.read_errors", u->read_errors);
	stats_add(l, "darter.eve_input.socket.accept_errors", u->accept_errors);
	stats_add(l, "darter.eve_input.socket.pauses", u->pauses);
}

/* The EVE Kafka topic (consumer group member). */
static void
stats_eve_kafka(struct stats_list *l, const struct input_kafka_stats *k)
{
	stats_add(l, "darter.eve_input.kafka.messages", k->messages);
	stats_add(l, "darter.eve_input.kafka.bytes", k->bytes);
	stats_add(l, "darter.eve_input.kafka.lines", k->lines);
	stats_add(l, "darter.eve_input.kafka.too_long", k->too_long);
	stats_add(l, "darter.eve_input.kafka.empty", k->empty);
	stats_add(l, "darter.eve_input.kafka.errors", k->errors);
	stats_add(l, "darter.eve_input.kafka.paused", k->pauses);
	stats_add(l, "darter.eve_input.kafka.assigns", k->assigns);
	stats_add(l, "darter.eve_input.kafka.revokes", k->revokes);
	stats_add(l, "darter.eve_input.kafka.revoked", k->revoked);
	stats_add(l, "darter.eve_input.kafka.dropped", k->dropped);
	stats_add(l, "darter.eve_input.kafka.commits", k->commits);
	stats_add(l, "darter.eve_input.kafka.commit_errors", k->commit_errors);
	stats_add(l, "darter.eve_input.kafka.partitions", k->partitions);
}

static void
stats_darter(struct stats_list *l, const struct capture_stats *cs, const struct worker_stats *ws)
{
	stats_add(l, "darter.decoder.other_ip", cs->decode.other_ip);
	stats_add(l, "darter.decoder.non_ip", cs->decode.non_ip);
	stats_add(l, "darter.decoder.fragments", cs->decode.frag);
	stats_add(l, "darter.decoder.seg_linearized", cs->seg_linearized);
	stats_add(l, "darter.flow.other", cs->flow.other);
	stats_add(l, "darter.flow.emitted", cs->flow.emitted);
	stats_add(l, "darter.flow.timeout", cs->flow.timeout);
	stats_add(l, "darter.flow.evicted", cs->flow.evicted);
	stats_add(l, "darter.flow.reused", cs->flow.reused);
	stats_add(l, "darter.flow.shutdown", cs->flow.shutdown);
	stats_add(l, "darter.flow.interim", cs->flow.interim);
	stats_add(l, "darter.flow.emergency", cs->flow.emergency);
	stats_add(l, "darter.flow.emergency_now", cs->flow.emergency_now);
	stats_add(l, "darter.frag.fragments", cs->frag.fragments);
	stats_add(l, "darter.frag.attributed", cs->frag.attributed);
	stats_add(l, "darter.frag.held", cs->frag.held);
	stats_add(l, "darter.frag.unattributed", cs->frag.unattributed);
	stats_add(l, "darter.frag.no_ports", cs->frag.no_ports);
	stats_add(l, "darter.frag.evicted", cs->frag.evicted);
	stats_add(l, "darter.frag.expired", cs->frag.expired);
	stats_add(l, "darter.appid.classified", cs->appid.classified);
	stats_add(l, "darter.appid.given_up", cs->appid.given_up);
	stats_add(l, "darter.appid.guessed", cs->appid.guessed);
	stats_add(l, "darter.appid.pool_empty", cs->appid.pool_empty);
	stats_add(l, "darter.appid.heap_limited", cs->appid.heap_limited);
	stats_add(l, "darter.appid.packets", cs->appid.packets);
	stats_add(l, "darter.appid.memuse", cs->appid.memuse);
	stats_add(l, "darter.spread.passed", cs->spread.passed);
	stats_add(l, "darter.spread.received", cs->spread.received);
	stats_add(l, "darter.spread.ring_full", cs->spread.ring_full);
	stats_add(l, "darter.spread.paused", cs->spread.paused);
	stats_add(l, "darter.handoff.enqueued", cs->handoff.enqueued);
	stats_add(l, "darter.handoff.dequeued", cs->handoff.dequeued);
	stats_add(l, "darter.handoff.ring_full", cs->handoff.ring_full);
	stats_add(l, "darter.handoff.pool_empty", cs->handoff.pool_empty);
	stats_add(l, "darter.handoff.waits", cs->handoff.waits);
	stats_add(l, "darter.workers.records", ws->records);
	stats_add(l, "darter.workers.lines", ws->lines);
	stats_add(l, "darter.workers.format_errors", ws->format_errors);
	stats_add(l, "darter.workers.dropped", ws->dropped);
	stats_add(l, "darter.workers.write_errors", ws->write_errors);
	stats_add(l, "darter.workers.outlier_lines", ws->outlier_lines);
	stats_add(l, "darter.workers.outlier_dropped", ws->outlier_dropped);
	stats_add(l, "darter.eve_input.lines", ws->eve_lines);
	stats_add(l, "darter.eve_input.flows", ws->eve_flows);
	stats_add(l, "darter.eve_input.others", ws->eve_others);
	stats_add(l, "darter.eve_input.refused", ws->eve_refused);
	stats_add(l, "darter.eve_input.too_long", ws->eve_too_long);
	stats_add(l, "darter.eve_input.paused", ws->eve_paused);
	stats_eve_errors(l, ws->eve_errors);
	stats_eve_file(l, &ws->in_file);
	stats_eve_socket(l, &ws->in_unix);
	stats_eve_kafka(l, &ws->in_kafka);
	stats_add(l, "darter.eve_input.script.lines", ws->in_script.lines);
	stats_add(l, "darter.eve_input.script.events", ws->in_script.events);
	stats_add(l, "darter.eve_input.script.errors", ws->in_script.errors);
	stats_add(l, "darter.eve_input.script.timeouts", ws->in_script.timeouts);
	stats_add(l, "darter.eve_input.script.event_errors", ws->in_script.event_errors);
}

static void
stats_mad(struct stats_list *l, const struct worker_stats *ws)
{
	const struct score_stats *s = &ws->score;

	stats_add(l, "darter.mad.records", s->records);
	stats_add(l, "darter.mad.updates", s->updates);
	stats_add(l, "darter.mad.outliers", s->outliers);
	stats_add(l, "darter.mad.skipped", s->skipped);
	stats_add(l, "darter.mad.groups", s->groups);
	stats_add(l, "darter.mad.groups_full", s->groups_full);
	stats_add(l, "darter.mad.redis_calls", s->redis_calls);
	stats_add(l, "darter.mad.redis_replies", s->redis_replies);
	stats_add(l, "darter.mad.redis_fallbacks", s->redis_fallbacks);
	stats_add(l, "darter.mad.redis_errors", s->redis_errors);
	stats_add(l, "darter.mad.redis_batches", s->redis_batches);
	stats_add(l, "darter.mad.snapshot_saves", ws->snapshot_saves);
	stats_add(l, "darter.mad.snapshot_errors", ws->snapshot_errors);
}

static void
stats_outputs(struct stats_list *l, const struct outputs_stats *o)
{
	static const char *const names[OUTPUTS_KINDS][7] = {
		{"darter.outputs.unix_socket.written", "darter.outputs.unix_socket.lines",
		 "darter.outputs.unix_socket.dropped", "darter.outputs.unix_socket.unsure",
		 "darter.outputs.unix_socket.errors", "darter.outputs.unix_socket.reconnects",
		 "darter.outputs.unix_socket.queued"},
		{"darter.outputs.redis.written", "darter.outputs.redis.lines",
		 "darter.outputs.redis.dropped", "darter.outputs.redis.unsure",
		 "darter.outputs.redis.errors", "darter.outputs.redis.reconnects",
		 "darter.outputs.redis.queued"},
		{"darter.outputs.kafka.written", "darter.outputs.kafka.lines",
		 "darter.outputs.kafka.dropped", "darter.outputs.kafka.unsure",
		 "darter.outputs.kafka.errors", "darter.outputs.kafka.reconnects",
		 "darter.outputs.kafka.queued"},
	};

	for (unsigned k = 0; k < OUTPUTS_KINDS; k++) {
		const struct sink_stats *s = &o->kind[k];
		const uint64_t v[7] = {s->written, s->lines,	  s->dropped, s->unsure,
				       s->errors,  s->reconnects, s->queued};

		for (unsigned i = 0; i < 7; i++)
			stats_add(l, names[k][i], v[i]);
	}
}

static void
stats_analyzers(struct stats_list *l, const struct analyze_stats *a)
{
	stats_add(l, "darter.analyzers.calls", a->calls);
	stats_add(l, "darter.analyzers.errors", a->errors);
	stats_add(l, "darter.analyzers.timeouts", a->timeouts);
	stats_add(l, "darter.analyzers.mem_errors", a->mem_errors);
	stats_add(l, "darter.analyzers.emits", a->emits);
	stats_add(l, "darter.analyzers.emit_errors", a->emit_errors);
	stats_add(l, "darter.analyzers.annotations", a->annotations);
	stats_add(l, "darter.analyzers.reloads", a->reloads);
	stats_add(l, "darter.analyzers.reload_errors", a->reload_errors);
	stats_add(l, "darter.analyzers.killed", a->killed);
	stats_add(l, "darter.analyzers.kill_deferred", a->kill_deferred);
	stats_add(l, "darter.analyzers.resets", a->resets);
	stats_add(l, "darter.analyzers.disabled", a->disabled);
	stats_add(l, "darter.analyzers.deferred", a->deferred);
	stats_add(l, "darter.analyzers.queue_drops", a->queue_drops);
	stats_add(l, "darter.analyzers.abandoned", a->abandoned);
	stats_add(l, "darter.analyzers.redis_commands", a->redis_commands);
	stats_add(l, "darter.analyzers.redis_errors", a->redis_errors);
	stats_add(l, "darter.analyzers.late_annotations", a->late_annotations);
	stats_add(l, "darter.analyzers.retiring", a->retiring);
}

size_t
stats_collect(const struct capture_stats *cs, const struct worker_stats *ws,
	      struct eve_counter *out)
{
	struct stats_list l = {out, 0};

	stats_capture(&l, &cs->port);
	stats_decoder(&l, &cs->decode);
	stats_flow(&l, &cs->flow);
	stats_darter(&l, cs, ws);
	stats_mad(&l, ws);
	stats_analyzers(&l, &ws->analyzers);
	stats_outputs(&l, &ws->outputs);
	return l.n;
}

uint64_t
stats_value(const struct eve_counter *c, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(c[i].name, name) == 0)
			return c[i].value;
	}
	return 0;
}
