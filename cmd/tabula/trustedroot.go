package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
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

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/tsa"
	"github.com/tabularium/tabula/verify"
)

// trustedRootMediaType is the media type of a Sigstore TrustedRoot document
// (protobuf-specs dev.sigstore.trustroot.v1.TrustedRoot, proto3 JSON).
const trustedRootMediaType = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"

// startMargin is how far before the earliest entry (or now) a default
// validity start is put: it absorbs clock differences between replicas.
const startMargin = time.Minute

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

	var logs []serverLogKey
	var tsaAuthority *prototrustroot.CertificateAuthority
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
		logs = []serverLogKey{{pub: priv.Public()}}
	case c.PublicKey != "":
		b, err := os.ReadFile(c.PublicKey)
		if err != nil {
			return nil, err
		}
		pub, err := signer.ParsePublicKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.PublicKey, err)
		}
		logs = []serverLogKey{{pub: pub}}
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
				if logs[i].keyID != nil && !bytes.Equal(logs[i].keyID, logID(logs[i].pub)) {
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
	case !logs[0].start.IsZero() && logs[0].start.Before(time.Now()):
		start = logs[0].start
	default:
		start = time.Now().Add(-startMargin).UTC().Truncate(time.Second)
		if c.Server == "" {
			fmt.Fprintf(stderr, "tabula trusted-root: note: the key is trusted from %s; entries integrated earlier will not verify. "+
				"Use --server (takes the time of the log's first entry) or --start to cover older entries.\n", start.Format(time.RFC3339))
		}
	}
	logs[0].start = start

	var tlogs []*prototrustroot.TransparencyLogInstance
	for _, l := range logs {
		baseURL := l.baseURL
		if baseURL == "" || (c.urlSet && bytes.Equal(l.keyID, logID(l.pub))) {
			baseURL = c.URL // given by key, or a Rekor v1 log with --url
		}
		tlog, err := tlogInstance(l.pub, l.keyID, baseURL, l.start, c.Operator)
		if err != nil {
			return nil, err
		}
		if !l.end.IsZero() {
			tlog.PublicKey.ValidFor.End = timestamppb.New(l.end)
		}
		tlogs = append(tlogs, tlog)
	}
	tr := &prototrustroot.TrustedRoot{
		MediaType: trustedRootMediaType,
		Tlogs:     tlogs,
	}
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
		tr.TimestampAuthorities = append(tr.TimestampAuthorities, tsaAuthority)
	}
	return marshalTrustedRoot(tr)
}

// logID is Rekor's log ID of pub: SHA-256 of its DER SubjectPublicKeyInfo
// (nil if pub has none).
func logID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	id := sha256.Sum256(der)
	return id[:]
}

// tlogInstance describes a log signing with pub whose checkpoints carry
// keyID (nil: Rekor v1's log ID, SHA-256 of the DER key).
func tlogInstance(pub crypto.PublicKey, keyID []byte, baseURL string, start time.Time, operator string) (*prototrustroot.TransparencyLogInstance, error) {
	var details protocommon.PublicKeyDetails
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			details = protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
		case elliptic.P384():
			details = protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384
		case elliptic.P521():
			details = protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512
		default:
			return nil, fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		details = protocommon.PublicKeyDetails_PKIX_ED25519
	default:
		return nil, fmt.Errorf("unsupported log key type %T (want ECDSA or Ed25519)", pub)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	if keyID == nil {
		id := sha256.Sum256(der) // Rekor's log ID: SHA-256 of the DER SubjectPublicKeyInfo
		keyID = id[:]
	}
	return &prototrustroot.TransparencyLogInstance{
		BaseUrl:       baseURL,
		HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
		PublicKey: &protocommon.PublicKey{
			RawBytes:   der,
			KeyDetails: details,
			ValidFor:   &protocommon.TimeRange{Start: timestamppb.New(start)},
		},
		LogId:    &protocommon.LogId{KeyId: keyID},
		Operator: operator,
	}, nil
}

// certificateAuthority reads a PEM chain (issuer first, root last) into a
// CertificateAuthority valid from the first certificate's NotBefore.
func certificateAuthority(path, uri string) (*prototrustroot.CertificateAuthority, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
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
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		chain = append(chain, cert)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", path)
	}
	return authorityOf(chain, uri), nil
}

// authorityOf is the CertificateAuthority of chain (issuer or signing
// certificate first, root last) at uri, valid from the first certificate's
// NotBefore.
func authorityOf(chain []*x509.Certificate, uri string) *prototrustroot.CertificateAuthority {
	ca := &prototrustroot.CertificateAuthority{
		Subject: &protocommon.DistinguishedName{
			Organization: strings.Join(chain[0].Subject.Organization, ", "),
			CommonName:   chain[0].Subject.CommonName,
		},
		Uri:       uri,
		CertChain: &protocommon.X509CertificateChain{},
		ValidFor:  &protocommon.TimeRange{Start: timestamppb.New(chain[0].NotBefore)},
	}
	for _, cert := range chain {
		ca.CertChain.Certificates = append(ca.CertChain.Certificates, &protocommon.X509Certificate{RawBytes: cert.Raw})
	}
	return ca
}

// marshalTrustedRoot writes tr as indented proto3 JSON with a stable layout
// and the lists Sigstore's own trusted roots always carry, empty when
// there is nothing in them.
func marshalTrustedRoot(tr *prototrustroot.TrustedRoot) ([]byte, error) {
	return marshalOrdered(tr, []string{"mediaType", "tlogs", "certificateAuthorities", "ctlogs", "timestampAuthorities"})
}

// serverLogKey is a log key to trust: its key, the key ID clients file it
// under (nil: Rekor's log ID, SHA-256 of the DER key), the baseUrl naming
// it ("": --url) and its validity (zero start: unknown; zero end: still in
// service).
type serverLogKey struct {
	pub        crypto.PublicKey
	keyID      []byte
	baseURL    string
	start, end time.Time
}

// fetchLogKeys asks a running server for every log it holds (GET /logs:
// Rekor v1 logs oldest first, then Rekor v2 logs oldest first) and checks
// what it says: each key ID recomputed from the key, each checkpoint signed
// by it. Each log is named by the identifier its checkpoints are signed
// under, https://<key name> (Rekor v1: the server's --hostname; Rekor v2:
// the log's origin), as sigstore-go (v2) and sigstore-js (v1 and v2) check.
//
// Validity: a Rekor v1 log from a minute before it was created or its first
// entry was integrated, whichever is earlier (a database upgraded from one
// tree records its log's creation at the upgrade), to a minute after its
// last entry was integrated if frozen (the entries are read and checked with
// the log's key: SET, inclusion proof, checkpoint of that tree);
// consecutive Rekor v1 logs under one key make one key entry (sigstore-go
// finds logs by key ID), as Rekor's shards share one in the public trusted
// root. A Rekor v2 log (no integrated times) from a minute before it was
// created to a minute after the next Rekor v2 log was, if frozen. Frozen
// Rekor v1 logs without entries are left out (nothing in them needs
// verifying); Rekor v2 logs, whose validity does not come from their
// entries, are all listed.
func fetchLogKeys(ctx context.Context, cl *client.Client, stderr io.Writer) ([]serverLogKey, error) {
	logs, err := cl.Logs(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the server's logs (GET /logs): %w", err)
	}
	var out []serverLogKey
	var prevV1 []byte // key ID of the last Rekor v1 log listed
	for i, d := range logs {
		pub, form, err := checkLogDescription(d)
		if err != nil {
			return nil, err
		}
		frozen := d.State == "frozen"
		if frozen && d.TreeSize == 0 && form == checkpoint.KeyIDRekorV1 {
			fmt.Fprintf(stderr, "tabula trusted-root: note: frozen log %s (%s) holds no entries; left out\n", d.TreeID, d.Origin)
			continue
		}
		l := serverLogKey{pub: pub, keyID: d.KeyID, baseURL: "https://" + d.KeyName}
		start := d.CreatedAt
		switch form {
		case checkpoint.KeyIDRekorV1:
			key := verify.LogKey{Public: pub, ID: d.KeyID}
			if d.TreeSize > 0 {
				first, err := entryTime(ctx, cl, d.TreeID, int64(*d.StartIndex), key)
				if err != nil {
					return nil, err
				}
				if first.Before(start) {
					start = first
				}
				if frozen {
					last, err := entryTime(ctx, cl, d.TreeID, int64(*d.StartIndex+d.TreeSize-1), key)
					if err != nil {
						return nil, err
					}
					l.end = last.Add(startMargin).UTC()
				}
			}
		case checkpoint.KeyIDC2SP:
			if frozen {
				for _, next := range logs[i+1:] {
					if next.API == d.API {
						l.end = next.CreatedAt.Add(startMargin).UTC()
						break
					}
				}
			}
		}
		l.start = start.Add(-startMargin).UTC().Truncate(time.Second)
		if n := len(out); form == checkpoint.KeyIDRekorV1 && n > 0 && bytes.Equal(prevV1, d.KeyID) {
			// The same key goes on: one validity from the first start,
			// named as the newest log's checkpoints are.
			out[n-1].end, out[n-1].baseURL = l.end, l.baseURL
			continue
		}
		if form == checkpoint.KeyIDRekorV1 {
			prevV1 = d.KeyID
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, errors.New("GET /logs: the server lists no log to trust")
	}
	return out, nil
}

// checkLogDescription checks one log of GET /logs: a known API, a key name
// that is a hostname (it names the log in baseUrl), the key ID recomputed
// from the key, and the checkpoint signed by that key under the log's
// origin. It returns the key and the key ID form of the log's API.
func checkLogDescription(d client.LogDescription) (crypto.PublicKey, checkpoint.KeyIDForm, error) {
	var form checkpoint.KeyIDForm
	switch d.API {
	case "v1":
		form = checkpoint.KeyIDRekorV1
		if d.StartIndex == nil || *d.StartIndex > math.MaxInt64-d.TreeSize {
			return nil, 0, fmt.Errorf("GET /logs: Rekor v1 log %s: no valid startIndex", d.TreeID)
		}
	case "v2":
		form = checkpoint.KeyIDC2SP
		if d.KeyName != d.Origin {
			return nil, 0, fmt.Errorf("GET /logs: Rekor v2 log %s: key name %q is not its origin %q", d.TreeID, d.KeyName, d.Origin)
		}
	default:
		return nil, 0, fmt.Errorf("GET /logs: log %s has API %q (want v1 or v2): a newer server?", d.TreeID, d.API)
	}
	if u, err := url.Parse("https://" + d.KeyName); err != nil || u.Hostname() != d.KeyName || d.KeyName == "" {
		return nil, 0, fmt.Errorf("GET /logs: log %s: key name %q is not a hostname; clients need https://<key name> as its baseUrl", d.TreeID, d.KeyName)
	}
	pub, err := x509.ParsePKIXPublicKey(d.PublicKey)
	if err != nil {
		return nil, 0, fmt.Errorf("GET /logs: the key of log %s: %w", d.TreeID, err)
	}
	id, err := form.KeyID(d.KeyName, pub)
	if err != nil {
		return nil, 0, fmt.Errorf("GET /logs: the key of log %s: %w", d.TreeID, err)
	}
	if !bytes.Equal(id[:], d.KeyID) {
		return nil, 0, fmt.Errorf("GET /logs: log %s: key ID %x is not its key's (%x)", d.TreeID, d.KeyID, id)
	}
	cp, err := checkpoint.Verify([]byte(d.Checkpoint), d.Origin, d.KeyName, form, pub)
	if err != nil {
		return nil, 0, fmt.Errorf("GET /logs: the checkpoint of log %s: %w", d.TreeID, err)
	}
	if cp.Size != d.TreeSize {
		return nil, 0, fmt.Errorf("GET /logs: log %s: tree size %d, its checkpoint says %d", d.TreeID, d.TreeSize, cp.Size)
	}
	return pub, form, nil
}

// fetchTSA reads the server's timestamp authority chain (GET
// /api/v1/timestamp/certchain) into a trusted root's timestamp authority:
// the chain as served (signing certificate first, root last, as
// sigstore-go reads it), its URI the server's /api/v1/timestamp, valid
// from the signing certificate's NotBefore. A server without one gives nil.
func fetchTSA(ctx context.Context, cl *client.Client, stderr io.Writer) (*prototrustroot.CertificateAuthority, error) {
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
	return authorityOf(chain, cl.Server()+"/api/v1/timestamp"), nil
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
