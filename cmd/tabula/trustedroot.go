package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/trustroot"
	"github.com/tabularium/tabula/tsa"
	"github.com/tabularium/tabula/verify"
)

// trustedRootMediaType is the media type of a Sigstore TrustedRoot document.
const trustedRootMediaType = trustroot.TrustedRootMediaType

// startMargin is how far before the earliest entry (or now) a default
// validity start is put: it absorbs clock differences between replicas.
const startMargin = trustroot.StartMargin

type trustedRootConfig struct {
	Key        string // private key PEM file
	PublicKey  string // public key PEM file
	Server     string // base URL of a running Tabula to ask for its key
	URL        string // baseUrl of the log given by key; with --server, of its Rekor v1 logs if set
	urlSet     bool   // URL was set on the command line or by TABULA_URL
	Start      string // RFC 3339 validity start of the log key
	Operator   string
	FulcioCert string // PEM chain of a certificate authority (issuer first, root last)
	FulcioURL  string
	TSACert    string // PEM chain of a timestamp authority (signing cert first, root last)
	TSAURL     string
	Out        string
}

const trustedRootUsage = `Usage: tabula trusted-root (--key PEM | --public-key PEM | --server URL) [flags]

Prints a Sigstore TrustedRoot (JSON) that trusts this log's key, for cosign --trusted-root,
sigstore-go, sigstore-python and sigstore-js. With --server, every log of the server (GET /logs:
Rekor v1 and Rekor v2 logs, the active ones and those frozen by a rotation) is listed and its
timestamp authority too. Each log's baseUrl is https://<the name its checkpoints are signed
under>: the server's --hostname for Rekor v1 logs, the origin for a Rekor v2 log (clients check
it). validFor: from a minute before the log was created (or its first entry was integrated, if
earlier) to, for a frozen log, a minute after its last entry was integrated (Rekor v1) or the
next log was created (Rekor v2).`

func runTrustedRoot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("trusted-root", stderr, trustedRootUsage)
	c := &trustedRootConfig{}
	fs.StringVar(&c.Key, "key", "", "the log's private key (PEM); only its public half is used")
	fs.StringVar(&c.PublicKey, "public-key", "", "the log's public key (PEM)")
	fs.StringVar(&c.Server, "server", "", "base URL of a running Tabula: read its logs from GET /logs and its timestamp authority's chain")
	fs.StringVar(&c.URL, "url", "https://"+defaultHostname, "the log's baseUrl: https://<the server's --hostname>, the name its checkpoints are signed under (with --server: default per log; if set, used for the Rekor v1 logs)")
	fs.StringVar(&c.Start, "start", "", "RFC 3339 time from which the log key is trusted (default: with --server, a minute before its first entry was integrated; else one minute ago); with several logs, the oldest's")
	fs.StringVar(&c.Operator, "operator", "", "operator name written into the log instance (optional)")
	fs.StringVar(&c.FulcioCert, "fulcio-cert", "", "PEM certificate chain of a code-signing CA to trust (issuing certificate first, root last)")
	fs.StringVar(&c.FulcioURL, "fulcio-url", "", "URI of that CA (optional)")
	fs.StringVar(&c.TSACert, "tsa-cert", "", "PEM certificate chain of an RFC 3161 timestamp authority (signing certificate first, root last)")
	fs.StringVar(&c.TSAURL, "tsa-url", "", "URI of that timestamp authority (optional)")
	fs.StringVar(&c.Out, "out", "", "file to write (default: standard output)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// TABULA_SERVER is shared by the client commands; it must not clash
	// with a key named on the command line.
	if (c.Key != "" || c.PublicKey != "") && c.Server != "" && !onCommandLine(args, "server") {
		c.Server = ""
	}
	fs.Visit(func(f *flag.Flag) { c.urlSet = c.urlSet || f.Name == "url" }) // set on the command line or by TABULA_URL
	out, err := trustedRoot(ctx, c, stderr)
	if err != nil {
		return err
	}
	if c.Out == "" {
		_, err = stdout.Write(out)
		return err
	}
	return os.WriteFile(c.Out, out, 0o644)
}

// trustedRoot builds the TrustedRoot JSON described by c. Notes go to stderr.
func trustedRoot(ctx context.Context, c *trustedRootConfig, stderr io.Writer) ([]byte, error) {
	n := 0
	for _, s := range []string{c.Key, c.PublicKey, c.Server} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		fmt.Fprintln(stderr, "tabula trusted-root: give exactly one of --key, --public-key, --server")
		return nil, errUsage
	}
	if c.URL == "" {
		return nil, errors.New("--url must not be empty: it is the log's baseUrl")
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want an http:// or https:// URL", c.URL)
	}

	var logs []trustroot.Log
	var tsaAuthority *trustroot.Authority
	switch {
	case c.Key != "":
		b, err := os.ReadFile(c.Key)
		if err != nil {
			return nil, err
		}
		priv, err := signer.ParsePrivateKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Key, err)
		}
		logs = []trustroot.Log{{PublicKey: priv.Public()}}
	case c.PublicKey != "":
		b, err := os.ReadFile(c.PublicKey)
		if err != nil {
			return nil, err
		}
		pub, err := signer.ParsePublicKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.PublicKey, err)
		}
		logs = []trustroot.Log{{PublicKey: pub}}
	default:
		cl, err := client.New(c.Server, client.WithUserAgent("tabula/"+version()), client.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
		if err != nil {
			return nil, err
		}
		if logs, err = fetchLogKeys(ctx, cl, stderr); err != nil {
			return nil, err
		}
		if c.TSACert == "" {
			if tsaAuthority, err = fetchTSA(ctx, cl, stderr); err != nil {
				return nil, err
			}
		}
		if c.urlSet {
			for i := range logs {
				if logs[i].KeyID != nil && !bytes.Equal(logs[i].KeyID, trustroot.LogID(logs[i].PublicKey)) {
					fmt.Fprintln(stderr, "tabula trusted-root: note: --url names the Rekor v1 logs; a Rekor v2 log's baseUrl stays https://<origin>")
					break
				}
			}
		}
	}

	var start time.Time
	switch {
	case c.Start != "":
		var err error
		if start, err = time.Parse(time.RFC3339, c.Start); err != nil {
			return nil, fmt.Errorf("--start: %w", err)
		}
	case !logs[0].Start.IsZero() && logs[0].Start.Before(time.Now()):
		start = logs[0].Start
	default:
		start = time.Now().Add(-startMargin).UTC().Truncate(time.Second)
		if c.Server == "" {
			fmt.Fprintf(stderr, "tabula trusted-root: note: the key is trusted from %s; entries integrated earlier will not verify. "+
				"Use --server (takes the time of the log's first entry) or --start to cover older entries.\n", start.Format(time.RFC3339))
		}
	}
	logs[0].Start = start

	for i, l := range logs {
		if l.BaseURL == "" || (c.urlSet && bytes.Equal(l.KeyID, trustroot.LogID(l.PublicKey))) {
			logs[i].BaseURL = c.URL // given by key, or a Rekor v1 log with --url
		}
	}
	tr := trustroot.TrustedRoot{Logs: logs, Operator: c.Operator}
	if c.FulcioCert != "" {
		ca, err := certificateAuthority(c.FulcioCert, c.FulcioURL)
		if err != nil {
			return nil, fmt.Errorf("--fulcio-cert: %w", err)
		}
		tr.CertificateAuthorities = append(tr.CertificateAuthorities, ca)
	}
	if c.TSACert != "" {
		ca, err := certificateAuthority(c.TSACert, c.TSAURL)
		if err != nil {
			return nil, fmt.Errorf("--tsa-cert: %w", err)
		}
		tr.TimestampAuthorities = append(tr.TimestampAuthorities, ca)
	} else if tsaAuthority != nil {
		tr.TimestampAuthorities = append(tr.TimestampAuthorities, *tsaAuthority)
	}
	return tr.JSON()
}

// certificateAuthority reads a PEM chain (issuer first, root last) into an
// authority at uri.
func certificateAuthority(path, uri string) (trustroot.Authority, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return trustroot.Authority{}, err
	}
	var chain []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return trustroot.Authority{}, fmt.Errorf("%s: %w", path, err)
		}
		chain = append(chain, cert)
	}
	if len(chain) == 0 {
		return trustroot.Authority{}, fmt.Errorf("%s: no PEM CERTIFICATE block", path)
	}
	return trustroot.Authority{Chain: chain, URI: uri}, nil
}

// fetchLogKeys asks a running server for every log it holds (GET /logs:
// Rekor v1 logs oldest first, then Rekor v2 logs oldest first), checks what
// it says (each key ID recomputed from the key, each checkpoint signed by
// it, and each entry read for its integrated time checked with the log's
// key: SET, inclusion proof, checkpoint of that tree) and lists the keys to
// trust as trustroot.Keys does.
func fetchLogKeys(ctx context.Context, cl *client.Client, stderr io.Writer) ([]trustroot.Log, error) {
	descs, err := cl.Logs(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the server's logs (GET /logs): %w", err)
	}
	logs := make([]trustroot.ServerLog, 0, len(descs))
	for _, d := range descs {
		l, err := checkLogDescription(d)
		if err != nil {
			return nil, err
		}
		logs = append(logs, l)
	}
	keys, err := trustroot.Keys(ctx, logs, func(ctx context.Context, l trustroot.ServerLog, index uint64) (time.Time, error) {
		return entryTime(ctx, cl, l.TreeID, int64(l.StartIndex+index), verify.LogKey{Public: l.Key, ID: l.KeyID})
	}, func(note string) { fmt.Fprintln(stderr, "tabula trusted-root: note: "+note) })
	if errors.Is(err, trustroot.ErrNoLog) {
		return nil, fmt.Errorf("GET /logs: %w", err)
	}
	return keys, err
}

// checkLogDescription checks one log of GET /logs: a known API, a key name
// that is a hostname (it names the log in baseUrl), the key ID recomputed
// from the key, and the checkpoint signed by that key under the log's
// origin. It returns the log as trustroot reads it.
func checkLogDescription(d client.LogDescription) (trustroot.ServerLog, error) {
	var form checkpoint.KeyIDForm
	switch d.API {
	case "v1":
		form = checkpoint.KeyIDRekorV1
		if d.StartIndex == nil || *d.StartIndex > math.MaxInt64-d.TreeSize {
			return trustroot.ServerLog{}, fmt.Errorf("GET /logs: Rekor v1 log %s: no valid startIndex", d.TreeID)
		}
	case "v2":
		form = checkpoint.KeyIDC2SP
		if d.KeyName != d.Origin {
			return trustroot.ServerLog{}, fmt.Errorf("GET /logs: Rekor v2 log %s: key name %q is not its origin %q", d.TreeID, d.KeyName, d.Origin)
		}
	default:
		return trustroot.ServerLog{}, fmt.Errorf("GET /logs: log %s has API %q (want v1 or v2): a newer server?", d.TreeID, d.API)
	}
	if u, err := url.Parse("https://" + d.KeyName); err != nil || u.Hostname() != d.KeyName || d.KeyName == "" {
		return trustroot.ServerLog{}, fmt.Errorf("GET /logs: log %s: key name %q is not a hostname; clients need https://<key name> as its baseUrl", d.TreeID, d.KeyName)
	}
	pub, err := x509.ParsePKIXPublicKey(d.PublicKey)
	if err != nil {
		return trustroot.ServerLog{}, fmt.Errorf("GET /logs: the key of log %s: %w", d.TreeID, err)
	}
	id, err := form.KeyID(d.KeyName, pub)
	if err != nil {
		return trustroot.ServerLog{}, fmt.Errorf("GET /logs: the key of log %s: %w", d.TreeID, err)
	}
	if !bytes.Equal(id[:], d.KeyID) {
		return trustroot.ServerLog{}, fmt.Errorf("GET /logs: log %s: key ID %x is not its key's (%x)", d.TreeID, d.KeyID, id)
	}
	cp, err := checkpoint.Verify([]byte(d.Checkpoint), d.Origin, d.KeyName, form, pub)
	if err != nil {
		return trustroot.ServerLog{}, fmt.Errorf("GET /logs: the checkpoint of log %s: %w", d.TreeID, err)
	}
	if cp.Size != d.TreeSize {
		return trustroot.ServerLog{}, fmt.Errorf("GET /logs: log %s: tree size %d, its checkpoint says %d", d.TreeID, d.TreeSize, cp.Size)
	}
	l := trustroot.ServerLog{
		TreeID:    d.TreeID,
		API:       d.API,
		Origin:    d.Origin,
		KeyName:   d.KeyName,
		KeyID:     d.KeyID,
		Key:       pub,
		Frozen:    d.State == "frozen",
		Size:      d.TreeSize,
		CreatedAt: d.CreatedAt,
	}
	if d.StartIndex != nil {
		l.StartIndex = *d.StartIndex
	}
	return l, nil
}

// fetchTSA reads the server's timestamp authority chain (GET
// /api/v1/timestamp/certchain) into a trusted root's timestamp authority:
// the chain as served (signing certificate first, root last, as
// sigstore-go reads it), its URI the server's /api/v1/timestamp, valid
// from the signing certificate's NotBefore. A server without one gives nil.
func fetchTSA(ctx context.Context, cl *client.Client, stderr io.Writer) (*trustroot.Authority, error) {
	b, err := cl.TimestampCertChain(ctx)
	if client.IsNotFound(err) {
		fmt.Fprintln(stderr, "tabula trusted-root: note: the server has no timestamp authority (GET /api/v1/timestamp/certchain: 404)")
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the server's timestamp authority chain: %w", err)
	}
	chain, err := tsa.ParseChainPEM(b)
	if err != nil {
		return nil, fmt.Errorf("the server's timestamp authority chain: %w", err)
	}
	a := trustroot.TSA(cl.Server(), chain)
	return &a, nil
}

// entryTime reads the entry at a virtual index, checks it with key and
// that it belongs to the log treeID, and returns its integrated time.
func entryTime(ctx context.Context, cl *client.Client, treeID string, index int64, key verify.LogKey) (time.Time, error) {
	uuid, e, err := cl.EntryByIndex(ctx, index)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading entry %d (of log %s): %w", index, treeID, err)
	}
	cp, err := verify.Entry(uuid, e, key)
	if err != nil {
		return time.Time{}, fmt.Errorf("entry %d (of log %s) does not verify: %w", index, treeID, err)
	}
	if !strings.HasSuffix(cp.Origin, " - "+treeID) {
		return time.Time{}, fmt.Errorf("entry %d is in log %q, not in log %s", index, cp.Origin, treeID)
	}
	return time.Unix(e.IntegratedTime, 0), nil
}
