package api

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		in      string
		want    string // prefixes joined by space
		wantErr bool
	}{
		{"", "", false},
		{" , ", "", false},
		{"10.0.0.0/8", "10.0.0.0/8", false},
		{"10.1.2.3/8, 192.0.2.7", "10.0.0.0/8 192.0.2.7/32", false},
		{"::1, fd00::/8", "::1/128 fd00::/8", false},
		{"::ffff:10.0.0.1", "10.0.0.1/32", false},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", false},
		{"fe80::1%eth0", "fe80::1/128", false},
		{"10.0.0.0/33", "", true},
		{"proxy.example", "", true},
		{"10.0.0.1:80", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTrustedProxies(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if strings.Join(s, " ") != tt.want {
				t.Fatalf("got %q, want %q", strings.Join(s, " "), tt.want)
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, ::1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"no proxy", "192.0.2.1:4000", nil, "192.0.2.1"},
		{"untrusted peer: XFF ignored", "192.0.2.1:4000", []string{"198.51.100.9"}, "192.0.2.1"},
		{"trusted peer without XFF", "10.0.0.1:4000", nil, "10.0.0.1"},
		{"trusted peer names the client", "10.0.0.1:4000", []string{"198.51.100.9"}, "198.51.100.9"},
		{"right-most untrusted wins over a spoofed left", "10.0.0.1:4000", []string{"203.0.113.66, 198.51.100.9"}, "198.51.100.9"},
		{"chain of trusted proxies skipped", "10.0.0.1:4000", []string{"198.51.100.9, 10.2.3.4, 10.9.9.9"}, "198.51.100.9"},
		{"several header lines", "10.0.0.1:4000", []string{"203.0.113.66", "198.51.100.9, 10.2.3.4"}, "198.51.100.9"},
		{"trusted only: left-most proxy", "10.0.0.1:4000", []string{"10.2.3.4, 10.9.9.9"}, "10.2.3.4"},
		{"garbage ends the walk at the last good hop", "10.0.0.1:4000", []string{"198.51.100.9, nonsense, 10.2.3.4"}, "10.2.3.4"},
		{"garbage right away: the peer", "10.0.0.1:4000", []string{"nonsense"}, "10.0.0.1"},
		{"empty elements skipped", "10.0.0.1:4000", []string{"198.51.100.9,, ,"}, "198.51.100.9"},
		{"ports and brackets", "[::1]:4000", []string{"[2001:db8::5]:1234, 198.51.100.9:80"}, "198.51.100.9"},
		{"IPv6 client", "[::1]:4000", []string{"2001:db8::5"}, "2001:db8::5"},
		{"mapped IPv4 unmapped", "[::ffff:10.0.0.1]:4000", []string{"::ffff:198.51.100.9"}, "198.51.100.9"},
		{"zone dropped", "[::1]:4000", []string{"fe80::1%eth0"}, "fe80::1"},
		{"bad RemoteAddr", "pipe", []string{"198.51.100.9"}, "invalid IP"},
	}
	c := clientResolver{trusted: trusted}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := c.addr(r).String(); got != tt.want {
				t.Fatalf("client %s, want %s", got, tt.want)
			}
		})
	}
	t.Run("no trusted proxies", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.1:4000"
		r.Header.Set("X-Forwarded-For", "198.51.100.9")
		if got := (clientResolver{}).addr(r).String(); got != "10.0.0.1" {
			t.Fatalf("client %s, want the peer", got)
		}
	})
}

func TestClientKey(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.1", "192.0.2.1/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"::1", "::/64"},
	}
	for _, tt := range tests {
		if got := clientKey(netip.MustParseAddr(tt.addr)).String(); got != tt.want {
			t.Errorf("clientKey(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
	if clientKey(netip.Addr{}).IsValid() {
		t.Error("the zero address has a valid key")
	}
}

// FuzzForwardedFor: any X-Forwarded-For from a trusted peer names either
// the peer or an address that appears in the header, never panics, and an
// untrusted peer's header is never believed.
func FuzzForwardedFor(f *testing.F) {
	for _, s := range []string{"", "198.51.100.9", "203.0.113.66, 198.51.100.9, 10.2.3.4", "[::1]:80,::ffff:1.2.3.4", ",,,", "fe80::1%eth0, x", "1.2.3.4:", "[1.2.3.4]"} {
		f.Add(s, true)
	}
	trusted, err := ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		f.Fatal(err)
	}
	c := clientResolver{trusted: trusted}
	peer := netip.MustParseAddr("10.0.0.1")
	f.Fuzz(func(t *testing.T, xff string, fromProxy bool) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "192.0.2.1:4000"
		if fromProxy {
			r.RemoteAddr = "10.0.0.1:4000"
		}
		r.Header["X-Forwarded-For"] = []string{xff}
		got := c.addr(r)
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Fatalf("client %v from %q", got, xff)
		}
		if !fromProxy {
			if got.String() != "192.0.2.1" {
				t.Fatalf("an untrusted peer's X-Forwarded-For %q was believed: %v", xff, got)
			}
			return
		}
		if got == peer {
			return
		}
		found := false
		for elem := range strings.SplitSeq(xff, ",") {
			if parseHostAddr(strings.TrimSpace(elem)) == got {
				found = true
			}
		}
		if !found {
			t.Fatalf("client %v is not in %q", got, xff)
		}
	})
}
