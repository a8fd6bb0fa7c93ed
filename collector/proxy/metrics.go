package proxy

import "github.com/prometheus/client_golang/prometheus"

// metrics are the proxy's Prometheus series.
type metrics struct {
	received, future, skipped            prometheus.Counter
	acksSent, acksDropped, nacksSent     prometheus.Counter
	forwardErrs, subscribers             prometheus.Counter
	streamsGauge                         prometheus.Gauge
	malformed, rejectedTotal             *prometheus.CounterVec
	sequencing, handshakes, authRejected *prometheus.CounterVec
	verdicts                             map[verdict]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, curve bool) metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	vec := func(name, help, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	}
	m := metrics{
		received: counter("zlog_collector_received_total", "Valid events received on the XSUB socket."),
		future:   counter("zlog_collector_future_events_total", "Events dated further ahead than --max-future, stored with the receive time (their own in the field original_time)."),
		skipped: counter("zlog_collector_sequence_skipped_total",
			"Sequence numbers a stream resumed past because its publisher no longer held them (dropped and counted there, or acknowledged by a collector that lost them)."),
		acksSent:    counter("zlog_collector_acks_sent_total", "Acknowledgements sent to publishers."),
		acksDropped: counter("zlog_collector_acks_dropped_total", "Acknowledgements not sent because the queue was full (a later ack covers them)."),
		nacksSent:   counter("zlog_collector_nacks_sent_total", "Publishers told to resend a stream from what the collector has (an event came out of turn)."),
		forwardErrs: counter("zlog_collector_forward_errors_total", "Events that could not be handed to the XPUB socket."),
		subscribers: counter("zlog_collector_subscriptions_total", "Subscribe messages seen on the XPUB socket."),
		streamsGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zlog_collector_streams", Help: "Streams (publisher + topic) the collector tracks in memory.",
		}),
		malformed: vec("zlog_collector_malformed_total", "Messages dropped as malformed that name no stream position (unsequenced, or unreadable envelope), by reason.", "reason"),
		rejectedTotal: vec("zlog_collector_rejected_total",
			"Sequenced events the collector will never store (too large, invalid UTF-8, bad fields), by reason; the publisher is told and its stream moves on.", "reason"),
		sequencing: vec("zlog_collector_sequence_total",
			"Sequenced events by verdict: accepted, duplicate (a resend, dropped), out_of_order (an event its publisher holds is missing before it; dropped, the publisher is told), resync (wire version 1: first event of an unknown stream), unsequenced.", "verdict"),
		handshakes: vec("zlog_collector_handshake_failed_total",
			"Connections that failed the ZeroMQ handshake (e.g. a plaintext client of a CURVE collector, or not ZeroMQ at all), by role; refusals by key are in zlog_collector_auth_rejected_total.", "role"),
		authRejected: vec("zlog_collector_auth_rejected_total", "Connections refused by CURVE authentication, by role (publish on the XSUB, subscribe on the XPUB).", "role"),
	}
	for _, r := range malformedReasons { // visible as 0 from the start
		m.malformed.WithLabelValues(r.label)
		m.rejectedTotal.WithLabelValues(r.label)
	}
	m.verdicts = make(map[verdict]prometheus.Counter, len(verdictLabels))
	for v, label := range verdictLabels {
		m.verdicts[v] = m.sequencing.WithLabelValues(label)
	}
	for _, role := range []string{"publish", "subscribe"} {
		m.handshakes.WithLabelValues(role)
		if curve {
			m.authRejected.WithLabelValues(role)
		}
	}
	if reg != nil {
		reg.MustRegister(m.received, m.future, m.skipped, m.acksSent, m.acksDropped, m.nacksSent, m.forwardErrs, m.subscribers,
			m.streamsGauge, m.malformed, m.rejectedTotal, m.sequencing, m.handshakes, m.authRejected)
	}
	return m
}
