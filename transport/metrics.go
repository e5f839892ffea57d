package transport

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Drop reasons, the values of the reason label of frames_dropped_total.
const (
	dropSpoofed   = "spoofed_source"
	dropStream    = "stream"
	dropOffline   = "offline"
	dropQueueFull = "queue_full"
	dropOversize  = "oversize"
	dropMalformed = "malformed"
	dropNoControl = "no_control"
)

// Transport names, as in engine.Connection.Transport and the transport label.
const (
	transportWS   = "ws"
	transportQUIC = "quic"
)

// metrics holds the transport's counters, resolved once so the relay path only does
// atomic adds.
type metrics struct {
	relayed   prometheus.Counter
	toControl prometheus.Counter
	ignored   prometheus.Counter

	dropSpoofed, dropStream, dropOffline, dropQueueFull prometheus.Counter
	dropOversize, dropMalformed, dropNoControl          prometheus.Counter

	connsWS, connsQUIC       prometheus.Counter
	openWS, openQUIC         prometheus.Gauge
	authFailWS, authFailQUIC prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	relayed := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "byplatform", Subsystem: "transport", Name: "frames_relayed_total",
		Help: "Transfer frames written to a destination's send queue.",
	})
	toControl := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "byplatform", Subsystem: "transport", Name: "frames_control_total",
		Help: "Transfer frames addressed to the control id and passed to the control path.",
	})
	ignored := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "byplatform", Subsystem: "transport", Name: "probes_ignored_total",
		Help: "Inbound messages of 1 to 16 bytes, reserved for transport probes and ignored.",
	})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "byplatform", Subsystem: "transport", Name: "frames_dropped_total",
		Help: "Inbound transfer frames dropped, by reason.",
	}, []string{"reason"})
	conns := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "byplatform", Subsystem: "transport", Name: "connections_total",
		Help: "Authenticated connections accepted, by transport.",
	}, []string{"transport"})
	open := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "byplatform", Subsystem: "transport", Name: "connections_open",
		Help: "Authenticated connections currently open, by transport.",
	}, []string{"transport"})
	authFail := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "byplatform", Subsystem: "transport", Name: "auth_failures_total",
		Help: "Connections refused during the handshake, by transport.",
	}, []string{"transport"})

	if reg != nil {
		for _, c := range []prometheus.Collector{
			relayed, toControl, ignored, dropped, conns, open, authFail,
		} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("transport: register metrics: %w", err)
			}
		}
	}
	return &metrics{
		relayed:       relayed,
		toControl:     toControl,
		ignored:       ignored,
		dropSpoofed:   dropped.WithLabelValues(dropSpoofed),
		dropStream:    dropped.WithLabelValues(dropStream),
		dropOffline:   dropped.WithLabelValues(dropOffline),
		dropQueueFull: dropped.WithLabelValues(dropQueueFull),
		dropOversize:  dropped.WithLabelValues(dropOversize),
		dropMalformed: dropped.WithLabelValues(dropMalformed),
		dropNoControl: dropped.WithLabelValues(dropNoControl),
		connsWS:       conns.WithLabelValues(transportWS),
		connsQUIC:     conns.WithLabelValues(transportQUIC),
		openWS:        open.WithLabelValues(transportWS),
		openQUIC:      open.WithLabelValues(transportQUIC),
		authFailWS:    authFail.WithLabelValues(transportWS),
		authFailQUIC:  authFail.WithLabelValues(transportQUIC),
	}, nil
}
