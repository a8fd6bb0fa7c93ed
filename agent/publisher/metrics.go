package publisher

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	droppedFull, droppedSend, droppedClose prometheus.Counter
	droppedSpool                           prometheus.Counter
	backpressure, acked, goBacks, refused  prometheus.Counter
}

func newMetrics(p *Publisher, reg prometheus.Registerer) *metrics {
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zlog_publisher_dropped_total",
		Help: "Events not delivered, by reason: queue_full (Publish refused; with a spool, the spool was full), send (socket error), close (unacknowledged when Close gave up, without a spool), spool_error (the spool could not be written).",
	}, []string{"reason"})
	m := &metrics{
		droppedFull:  dropped.WithLabelValues("queue_full"),
		droppedSend:  dropped.WithLabelValues("send"),
		droppedClose: dropped.WithLabelValues("close"),
		droppedSpool: dropped.WithLabelValues("spool_error"),
		backpressure: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zlog_publisher_backpressure_waits_total",
			Help: "Times the socket's high-water mark was reached and the sender waited.",
		}),
		acked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zlog_publisher_acked_total", Help: "Events the collector acknowledged as stored.",
		}),
		goBacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zlog_publisher_go_backs_total", Help: "Times a stream's unacknowledged events were resent (a reconnect, a nack from the collector, or no ack while the collector was idle).",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zlog_publisher_collector_rejected_total", Help: "Events the collector rejected (too large for it, invalid); the reason is logged.",
		}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(dropped, m.backpressure, m.acked, m.goBacks, m.refused,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "zlog_publisher_resent_total", Help: "Events sent again after a reconnect, a nack or an ack timeout.",
		}, func() float64 { return float64(p.resent.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "zlog_publisher_unacked", Help: "Events sent and not yet acknowledged (kept for resending).",
		}, func() float64 { return float64(p.unacked.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "zlog_publisher_spool_bytes", Help: "Bytes in the on-disk spool (0 without one).",
		}, func() float64 {
			if p.spool == nil {
				return 0
			}
			b, _ := p.spool.Stats()
			return float64(b)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "zlog_publisher_spool_dropped_oldest_total", Help: "Events deleted from a full spool (--spool-drop-oldest) before they were acknowledged.",
		}, func() float64 {
			if p.spool == nil {
				return 0
			}
			return float64(p.spool.DroppedOldest())
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "zlog_publisher_spool_corrupt_events_total", Help: "Events lost to damaged spool records found at start-up (the damaged segment is kept in damaged/).",
		}, func() float64 {
			if p.spool == nil {
				return 0
			}
			return float64(p.spool.CorruptEvents)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "zlog_publisher_spool_torn_writes_total", Help: "Spool records found cut short at the spool's end at start-up: the append the last run was killed in, never acknowledged to its source (not a loss).",
		}, func() float64 {
			if p.spool == nil {
				return 0
			}
			return float64(p.spool.TornWrites)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "zlog_publisher_queued_total", Help: "Events accepted by Publish.",
		}, func() float64 { return float64(p.queued.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "zlog_publisher_sent_total", Help: "Events handed to the ZeroMQ socket.",
		}, func() float64 { return float64(p.sent.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "zlog_publisher_rejected_total", Help: "Invalid events refused by Publish.",
		}, func() float64 { return float64(p.rejected.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "zlog_publisher_queue_depth", Help: "Events stored and not yet taken by the sender.",
		}, func() float64 { return float64(p.store.waiting()) }),
	)
	return m
}
