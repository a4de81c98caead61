package api

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses a comma-separated list of CIDR prefixes or
// single addresses (the --trusted-proxies flag): the peers whose
// X-Forwarded-For is believed. An empty list trusts no one.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", f, err)
			}
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", f, err)
		}
		a = a.Unmap().WithZone("")
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// clientResolver names the client of a request: its peer address, or, when
// the peer is a trusted proxy, the right-most address of X-Forwarded-For
// that is not itself a trusted proxy. Addresses to the left of that one
// were written by the client and are never believed.
type clientResolver struct {
	trusted []netip.Prefix
}

func (c clientResolver) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// addr returns the client's address; the zero Addr if RemoteAddr is not
// an IP address (never the case for a TCP server).
func (c clientResolver) addr(r *http.Request) netip.Addr {
	peer := parseHostAddr(r.RemoteAddr)
	if !peer.IsValid() || len(c.trusted) == 0 || !c.isTrusted(peer) {
		return peer
	}
	return c.fromForwarded(peer, r.Header.Values("X-Forwarded-For"))
}

// fromForwarded walks X-Forwarded-For (all its header lines, in order) from
// the right: each trusted proxy names the hop before it. The first
// untrusted address is the client. An element that is not an address ends
// the walk at the last hop known good, as does a list of trusted proxies
// only (the left-most of them is then the client).
func (c clientResolver) fromForwarded(peer netip.Addr, xff []string) netip.Addr {
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		for line != "" {
			var elem string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				elem, line = line[j+1:], line[:j]
			} else {
				elem, line = line, ""
			}
			elem = strings.TrimSpace(elem)
			if elem == "" {
				continue
			}
			a := parseHostAddr(elem)
			if !a.IsValid() {
				return client
			}
			client = a
			if !c.isTrusted(a) {
				return a
			}
		}
	}
	return client
}

// parseHostAddr parses "1.2.3.4", "1.2.3.4:80", "::1", "[::1]:80" or
// "[::1]" into an unmapped address without zone; the zero Addr otherwise.
func parseHostAddr(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	} else if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		host = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// clientKey is the unit a per-client budget is kept for: an IPv4 address,
// or an IPv6 /64 (one host commonly holds a whole /64, and would otherwise
// get as many budgets as it likes).
func clientKey(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}
