package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

type httpMetrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	bodyBytes prometheus.Gauge
	rejected  *prometheus.CounterVec
	// timestamps counts timestamp requests by result: issued, refused
	// (the request, or a limit), failed (signing).
	timestamps *prometheus.CounterVec
}

func newHTTPMetrics(r prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tabula_http_requests_total",
			Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tabula_http_request_duration_seconds",
			Help:    "HTTP request latency by route and method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"route", "method"}),
		bodyBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tabula_http_body_bytes_in_flight",
			Help: "Request body bytes received and held by requests in flight.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tabula_http_rejected_total",
			Help: "Requests refused by a limit, by reason: concurrency, client_rate, client_requests, client_body_bytes, body_bytes_in_flight, body_too_large, body_stalled.",
		}, []string{"reason"}),
		timestamps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tabula_tsa_timestamps_total",
			Help: "Timestamp requests by result: issued, refused (a bad request or a limit), failed (signing).",
		}, []string{"result"}),
	}
	if r != nil {
		r.MustRegister(m.requests, m.latency, m.bodyBytes, m.rejected, m.timestamps)
	}
	return m
}

// instrument counts requests and their latency by route pattern (not by raw
// path, which would give every entry UUID its own series).
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		s.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
		s.metrics.latency.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
	})
}

// recoverer turns a panic in a handler into a logged 500 rather than a
// dropped connection. A panic is a bug; this keeps the server up while it is fixed.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger.Error("panic in handler", "path", r.URL.Path, "panic", fmt.Sprint(v))
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
