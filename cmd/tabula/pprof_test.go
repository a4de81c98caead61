package main

import (
	"strings"
	"testing"
)

// TestPprofFlag: the Go profiles are off by default and served on the
// metrics listener (never the API port) with --pprof.
func TestPprofFlag(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pprof bool
		want  int
	}{
		{"default off", false, 404},
		{"on with --pprof", true, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := defaultConfig(t)
			c.Pprof = tc.pprof
			url, _ := startServe(t, c)
			resp, b := httpDo(t, "GET", "http://"+c.MetricsListen+"/debug/pprof/", nil)
			if resp.StatusCode != tc.want {
				t.Fatalf("/debug/pprof/ on the metrics listener: %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.pprof && !strings.Contains(string(b), "goroutine") {
				t.Fatalf("/debug/pprof/ index: %.500s", b)
			}
			if resp, _ := httpDo(t, "GET", "http://"+c.MetricsListen+"/debug/pprof/heap", nil); resp.StatusCode != tc.want {
				t.Fatalf("/debug/pprof/heap: %d, want %d", resp.StatusCode, tc.want)
			}
			if resp, _ := httpDo(t, "GET", url+"/debug/pprof/", nil); resp.StatusCode != 404 {
				t.Fatalf("/debug/pprof/ on the API port: %d", resp.StatusCode)
			}
			// Metrics stay where they were.
			if resp, _ := httpDo(t, "GET", "http://"+c.MetricsListen+"/metrics", nil); resp.StatusCode != 200 {
				t.Fatalf("/metrics: %d", resp.StatusCode)
			}
		})
	}
}
