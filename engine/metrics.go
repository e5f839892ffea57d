package engine

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// engineMetrics are counters of the engine's state changes.
type engineMetrics struct {
	healthy   atomic.Int64
	unhealthy atomic.Int64
	contracts atomic.Int64
	disputed  atomic.Int64
}

// RegisterMetrics exports the engine's counters and gauges.
func (e *Engine) RegisterMetrics(reg prometheus.Registerer) {
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	reg.MustRegister(
		counter("byplatform_provider_healthy_transitions_total",
			"Providers that entered the pool.", &e.metrics.healthy),
		counter("byplatform_provider_unhealthy_transitions_total",
			"Providers that left the pool.", &e.metrics.unhealthy),
		counter("byplatform_contracts_created_total", "Contracts granted.",
			&e.metrics.contracts),
		counter("byplatform_contracts_disputed_total", "Contracts disputed.",
			&e.metrics.disputed),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "byplatform_pool_providers",
			Help: "Healthy providers in the pool."}, func() float64 {
			return float64(e.pool.Len())
		}),
	)
}
