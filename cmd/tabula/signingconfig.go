package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/trustroot"
	"github.com/tabularium/tabula/tsa"
)

type signingConfigConfig struct {
	Server   string // base URL of a running Tabula
	Fulcio   string // Fulcio base URL (optional)
	OIDC     string // OIDC issuer URL (optional)
	Operator string // operator of every service (default: the server's host)
	APIs     string // Rekor APIs to offer, comma-separated: v1, v2
	Out      string
}

const signingConfigUsage = `Usage: tabula signing-config --server URL [--fulcio URL] [--oidc URL] [flags]

Prints a Sigstore SigningConfig v0.2 (JSON) for cosign --signing-config and sigstore-go: where to
write entries and get timestamps. It names the server's active Rekor v2 log (majorApiVersion 2)
if it has one, first, and its Rekor v1 log (majorApiVersion 1), both at the server's URL, its
timestamp authority (<server>/api/v1/timestamp), and Fulcio and the OIDC issuer when given.
Clients write to the highest API version they support: cosign v3 and sigstore-go to Rekor v2,
older ones to Rekor v1; --api v1 offers Rekor v1 alone. Pair it with
'tabula trusted-root --server URL'.`

func runSigningConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("signing-config", stderr, signingConfigUsage)
	c := &signingConfigConfig{}
	fs.StringVar(&c.Server, "server", "", "base URL of a running Tabula, as clients reach it (required)")
	fs.StringVar(&c.Fulcio, "fulcio", "", "URL of a Fulcio certificate authority for keyless signing (optional)")
	fs.StringVar(&c.OIDC, "oidc", "", "URL of the OIDC issuer for keyless signing (optional)")
	fs.StringVar(&c.Operator, "operator", "", "operator of the services, a scheme-less URI (default: the host of --server)")
	fs.StringVar(&c.APIs, "api", "v1,v2", "the Rekor APIs to offer, comma-separated (v1, v2): clients write to the highest they support")
	fs.StringVar(&c.Out, "out", "", "file to write (default: standard output)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if c.Server == "" {
		fmt.Fprintln(stderr, "tabula signing-config: --server is required")
		return errUsage
	}
	out, err := signingConfig(ctx, c, stderr, time.Now())
	if err != nil {
		return err
	}
	if c.Out == "" {
		_, err = stdout.Write(out)
		return err
	}
	return os.WriteFile(c.Out, out, 0o644)
}

// signingConfig builds the SigningConfig JSON described by c at now. Notes
// go to stderr.
//
// Each Rekor service is valid from a minute before the log it writes to
// was created; the TSA from its signing certificate's NotBefore; Fulcio
// and the OIDC issuer, about which nothing is known, from a minute before
// now. Rekor v2 comes first as in Sigstore's own config offering both
// (the order does not matter to sigstore-go, which picks the highest
// version it supports, then the newest start).
func signingConfig(ctx context.Context, c *signingConfigConfig, stderr io.Writer, now time.Time) ([]byte, error) {
	cl, err := client.New(c.Server, client.WithUserAgent("tabula/"+version()), client.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	if err != nil {
		return nil, err
	}
	server := cl.Server()
	operator := c.Operator
	if operator == "" {
		u, err := url.Parse(server)
		if err != nil {
			return nil, err
		}
		operator = u.Hostname()
	}
	for _, u := range []struct{ flag, v string }{{"--fulcio", c.Fulcio}, {"--oidc", c.OIDC}} {
		if p, err := url.Parse(u.v); u.v != "" && (err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "") {
			return nil, fmt.Errorf("%s %q: want an http:// or https:// URL", u.flag, u.v)
		}
	}

	offer := map[string]bool{}
	for _, api := range strings.Split(c.APIs, ",") {
		if api = strings.TrimSpace(api); api != "v1" && api != "v2" {
			return nil, fmt.Errorf("--api %q: want v1, v2 or v1,v2", c.APIs)
		}
		offer[api] = true
	}

	descs, err := cl.Logs(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the server's logs (GET /logs): %w", err)
	}
	logs := make([]trustroot.ServerLog, 0, len(descs))
	for _, d := range descs {
		logs = append(logs, trustroot.ServerLog{TreeID: d.TreeID, API: d.API, Origin: d.Origin, Frozen: d.State != "active", CreatedAt: d.CreatedAt})
	}
	sc := trustroot.SigningConfig{Operator: operator, Rekor: trustroot.RekorServices(server, logs, offer["v1"], offer["v2"])}
	if len(sc.Rekor) == 0 {
		return nil, fmt.Errorf("GET /logs: the server has no active log of API %s", c.APIs)
	}

	chainPEM, err := cl.TimestampCertChain(ctx)
	switch {
	case client.IsNotFound(err):
		fmt.Fprintln(stderr, "tabula signing-config: note: the server has no timestamp authority (GET /api/v1/timestamp/certchain: 404); keyless signing to a Rekor v2 log needs one")
	case err != nil:
		return nil, fmt.Errorf("reading the server's timestamp authority chain: %w", err)
	default:
		chain, err := tsa.ParseChainPEM(chainPEM)
		if err != nil {
			return nil, fmt.Errorf("the server's timestamp authority chain: %w", err)
		}
		sc.TSAs = append(sc.TSAs, trustroot.TSAService(server, chain))
	}
	if c.Fulcio != "" {
		sc.CAs = append(sc.CAs, trustroot.Service{URL: c.Fulcio, MajorAPIVersion: 1, Start: now.Add(-startMargin)})
	}
	if c.OIDC != "" {
		sc.OIDC = append(sc.OIDC, trustroot.Service{URL: c.OIDC, MajorAPIVersion: 1, Start: now.Add(-startMargin)})
	}
	return sc.JSON()
}
