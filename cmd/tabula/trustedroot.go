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
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/signer"
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
	URL        string // baseUrl written into the tlog
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
sigstore-go, sigstore-python and sigstore-js. With --server, every log of the server (the active
one and those frozen by a rotation) is listed, each key with its validFor: from a minute before
its first entry was integrated to a minute after its last (a frozen log's end), per the entries'
signed entry timestamps.`

func runTrustedRoot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("trusted-root", stderr, trustedRootUsage)
	c := &trustedRootConfig{}
	fs.StringVar(&c.Key, "key", "", "the log's private key (PEM); only its public half is used")
	fs.StringVar(&c.PublicKey, "public-key", "", "the log's public key (PEM)")
	fs.StringVar(&c.Server, "server", "", "base URL of a running Tabula: read its key from /api/v1/log/publicKey")
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:3000", "the log's base URL written into the trusted root (default: --server when given)")
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
	urlSet := false
	fs.Visit(func(f *flag.Flag) { urlSet = urlSet || f.Name == "url" }) // set on the command line or by TABULA_URL
	if !urlSet && c.Server != "" {
		c.URL = strings.TrimSuffix(c.Server, "/")
	}
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
		var err error
		if logs, err = fetchLogKeys(ctx, c.Server, stderr); err != nil {
			return nil, err
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
	for i, l := range logs {
		if l.start.IsZero() {
			// An empty active log after a rotation: in service from when
			// its predecessor stopped.
			l.start = logs[i-1].end
			if l.start.IsZero() {
				l.start = time.Now().Add(-startMargin).UTC().Truncate(time.Second)
			}
		}
		tlog, err := tlogInstance(l.pub, c.URL, l.start, c.Operator)
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
	}
	return marshalTrustedRoot(tr)
}

// tlogInstance describes a Rekor v1-style log signing with pub.
func tlogInstance(pub crypto.PublicKey, baseURL string, start time.Time, operator string) (*prototrustroot.TransparencyLogInstance, error) {
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
	logID := sha256.Sum256(der) // Rekor's log ID: SHA-256 of the DER SubjectPublicKeyInfo
	return &prototrustroot.TransparencyLogInstance{
		BaseUrl:       baseURL,
		HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
		PublicKey: &protocommon.PublicKey{
			RawBytes:   der,
			KeyDetails: details,
			ValidFor:   &protocommon.TimeRange{Start: timestamppb.New(start)},
		},
		LogId:    &protocommon.LogId{KeyId: logID[:]},
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
	return ca, nil
}

// marshalTrustedRoot writes tr as indented proto3 JSON with a stable layout
// (protojson's own indentation varies on purpose) and the lists Sigstore's
// own trusted roots always carry, empty when there is nothing in them.
func marshalTrustedRoot(tr *prototrustroot.TrustedRoot) ([]byte, error) {
	raw, err := protojson.Marshal(tr)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString("{")
	for i, name := range []string{"mediaType", "tlogs", "certificateAuthorities", "ctlogs", "timestampAuthorities"} {
		v, ok := fields[name]
		if !ok {
			v = json.RawMessage("[]")
		}
		if i > 0 {
			buf.WriteString(",")
		}
		fmt.Fprintf(&buf, "%q:%s", name, v)
		delete(fields, name)
	}
	buf.WriteString("}")
	if len(fields) != 0 {
		return nil, fmt.Errorf("internal error: unexpected trusted root fields %v", fields)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// serverLogKey is a log key to trust and its validity (zero: unknown; a
// zero end: still in service).
type serverLogKey struct {
	pub        crypto.PublicKey
	start, end time.Time
}

// fetchLogKeys asks a running server for every log it holds (GET
// /api/v1/log: the frozen logs oldest first, then the active one), each
// log's key (publicKey?treeID=), and the integrated times of its first and
// last entries, read by virtual index and checked with the log's key (SET,
// inclusion proof, checkpoint of that tree). Consecutive logs under one key
// make one key entry (sigstore-go finds logs by key ID), as Rekor's shards
// share one in the public trusted root. Frozen logs without entries are
// left out.
func fetchLogKeys(ctx context.Context, server string, stderr io.Writer) ([]serverLogKey, error) {
	cl, err := client.New(server, client.WithUserAgent("tabula/"+version()), client.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	if err != nil {
		return nil, err
	}
	li, err := cl.LogInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the server's logs: %w", err)
	}
	type shard struct {
		treeID string
		size   int64
		frozen bool
	}
	var shards []shard
	for _, sh := range li.InactiveShards {
		if sh == nil {
			return nil, errors.New("GET /api/v1/log: null inactive shard")
		}
		shards = append(shards, shard{sh.TreeID, sh.TreeSize, true})
	}
	shards = append(shards, shard{li.TreeID, li.TreeSize, false})

	var out []serverLogKey
	var offset int64 // virtual index of the log's first entry
	var prevID string
	for _, sh := range shards {
		if sh.size < 0 {
			return nil, fmt.Errorf("GET /api/v1/log: log %s has size %d", sh.treeID, sh.size)
		}
		treeID := sh.treeID
		if len(shards) == 1 {
			treeID = "" // a server of an earlier release may not take ?treeID=
		}
		b, err := cl.PublicKey(ctx, treeID)
		if err != nil {
			return nil, fmt.Errorf("fetching the key of log %s: %w", sh.treeID, err)
		}
		key, err := verify.ParseLogKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("the key of log %s: %w", sh.treeID, err)
		}
		l := serverLogKey{pub: key.Public}
		if sh.size > 0 {
			first, err := entryTime(ctx, cl, sh.treeID, offset, key)
			if err != nil {
				return nil, err
			}
			l.start = first.Add(-startMargin).UTC().Truncate(time.Second)
			if sh.frozen {
				last, err := entryTime(ctx, cl, sh.treeID, offset+sh.size-1, key)
				if err != nil {
					return nil, err
				}
				l.end = last.Add(startMargin).UTC()
			}
		} else if sh.frozen {
			fmt.Fprintf(stderr, "tabula trusted-root: note: frozen log %s holds no entries; left out\n", sh.treeID)
			continue
		}
		offset += sh.size
		if n := len(out); n > 0 && prevID == key.LogID() {
			// The same key goes on: one validity from the first start.
			out[n-1].end = l.end
			continue
		}
		prevID = key.LogID()
		out = append(out, l)
	}
	return out, nil
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
