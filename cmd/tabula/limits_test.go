package main

import (
	"testing"
	"time"

	"github.com/tabularium/tabula/api"
)

// TestLimitFlags: the body and per-client budgets are on by default, a
// flag's 0 turns one off, and bad values are refused.
func TestLimitFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(api.Limits) bool
		wantErr bool
	}{
		{"defaults on", nil, func(l api.Limits) bool {
			return l.BodyBytesInFlight == api.DefaultBodyBytesInFlight && l.ClientRequests == api.DefaultClientRequests &&
				l.ClientBodyBytes == api.DefaultClientBodyBytes && l.BodyStallTimeout == api.DefaultBodyStallTimeout &&
				l.BodyReadTimeout == 60*time.Second && len(l.TrustedProxies) == 0
		}, false},
		{"zero turns off", []string{"--body-budget-mib", "0", "--client-max-requests", "0", "--client-body-budget-mib", "0", "--body-stall-timeout", "0"}, func(l api.Limits) bool {
			return l.BodyBytesInFlight < 0 && l.ClientRequests < 0 && l.ClientBodyBytes < 0 && l.BodyStallTimeout < 0
		}, false},
		{"sizes in MiB", []string{"--body-budget-mib", "10", "--client-body-budget-mib", "2"}, func(l api.Limits) bool {
			return l.BodyBytesInFlight == 10<<20 && l.ClientBodyBytes == 2<<20
		}, false},
		{"trusted proxies", []string{"--trusted-proxies", "10.0.0.0/8, 192.0.2.1"}, func(l api.Limits) bool {
			return len(l.TrustedProxies) == 2 && l.TrustedProxies[1].String() == "192.0.2.1/32"
		}, false},
		{"bad proxy", []string{"--trusted-proxies", "proxy.example"}, nil, true},
		{"negative", []string{"--client-max-requests", "-1"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flagSetForTest()
			c := serveFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			l, err := apiLimits(c)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if err == nil && !tt.check(l) {
				t.Fatalf("limits %+v", l)
			}
		})
	}
}
