package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/verify"
	"github.com/tabularium/tabula/witness/policy"
)

type verifyConfig struct {
	bundle, entry, trustedRoot, artifact, digest, key string
	identity, identityRegexp, issuer, issuerRegexp    string
	insecureIgnoreIdentity, online                    bool
	witnessPolicy                                     string
}

const verifyUsage = `Usage: tabula verify --entry ENTRY.json [--log-key KEY.pem]… [--server URL]
       tabula verify --bundle B.json (--trusted-root ROOT.json | --log-key KEY.pem)
         [--artifact FILE | --digest sha256:HEX]
         [--certificate-identity ID --certificate-oidc-issuer URL | --insecure-ignore-identity | --key PUB.pem] [--online]
         [--witness-policy POLICY]

Verifies a Sigstore bundle offline: the log's inclusion proof, checkpoint and SET, the signed
time within the certificate's validity, the certificate chain and identity (or the key), and
the artifact's signature. With --witness-policy (c2sp.org/tlog-policy), each log entry must also
be covered by a checkpoint a quorum of the policy's witnesses cosigned: the bundle's own, or else
the log's cosigned checkpoint fetched from --server (GET /logs/{treeID}/checkpoint), into which the
entry is proved from the log's tiles. A policy without log lines applies to the pinned or trusted
log key. Exits 0 only if every check passes; a failure names its check.`

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", stderr, verifyUsage)
	cf := addClientFlags(fs)
	c := &verifyConfig{}
	fs.StringVar(&c.bundle, "bundle", "", "the Sigstore bundle (JSON, v0.1 to v0.3)")
	fs.StringVar(&c.entry, "entry", "", "a log entry as the v1 API returns it (tabula get --json), instead of a bundle: verified with --log-key")
	fs.StringVar(&c.trustedRoot, "trusted-root", "", "a Sigstore trusted root (JSON): its logs, CAs and timestamp authorities are trusted")
	fs.StringVar(&c.artifact, "artifact", "", "the signed artifact")
	fs.StringVar(&c.digest, "digest", "", "the signed artifact's digest instead, sha256:<hex> (or sha512:<hex>)")
	fs.StringVar(&c.key, "key", "", "the signer's public key (PEM), for bundles signed with a key rather than a certificate")
	fs.StringVar(&c.identity, "certificate-identity", "", "the certificate's expected identity (email or URI SAN)")
	fs.StringVar(&c.identityRegexp, "certificate-identity-regexp", "", "a regular expression the certificate's identity must match")
	fs.StringVar(&c.issuer, "certificate-oidc-issuer", "", "the certificate's expected OIDC issuer")
	fs.StringVar(&c.issuerRegexp, "certificate-oidc-issuer-regexp", "", "a regular expression the certificate's OIDC issuer must match")
	fs.BoolVar(&c.insecureIgnoreIdentity, "insecure-ignore-identity", false, "accept any certificate identity the trusted CA issued (dangerous)")
	fs.BoolVar(&c.online, "online", false, "also check that the entry is in the live log at --server")
	fs.StringVar(&c.witnessPolicy, "witness-policy", "", "a witness policy (c2sp.org/tlog-policy): require a checkpoint cosigned by its quorum covering each entry (fetched from --server when the bundle's own is not)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var wp *policy.Policy
	if c.witnessPolicy != "" {
		var err error
		if wp, err = readPolicy(c.witnessPolicy); err != nil {
			return err
		}
	}
	if c.entry != "" {
		return verifyEntryFile(ctx, cf, c.entry, wp, stdout, stderr)
	}
	if c.bundle == "" || (c.trustedRoot == "" && len(cf.logKeys) == 0) {
		fmt.Fprintln(stderr, "give --bundle and --trusted-root or --log-key (or both)")
		return errUsage
	}
	if c.artifact != "" && c.digest != "" {
		fmt.Fprintln(stderr, "give at most one of --artifact and --digest")
		return errUsage
	}
	bundleJSON, err := os.ReadFile(c.bundle)
	if err != nil {
		return err
	}
	opts := verify.BundleOptions{InsecureIgnoreIdentity: c.insecureIgnoreIdentity}
	if c.trustedRoot != "" {
		if opts.TrustedRoot, err = os.ReadFile(c.trustedRoot); err != nil {
			return err
		}
	}
	if opts.LogKeys, err = cf.pinnedKeys(); err != nil {
		return err
	}
	if c.artifact != "" {
		b, err := os.ReadFile(c.artifact)
		if err != nil {
			return err
		}
		opts.Artifact = bytes.NewReader(b)
	}
	if c.digest != "" {
		if opts.DigestAlgorithm, opts.ArtifactDigest, err = parseDigest(c.digest); err != nil {
			return err
		}
	}
	if c.key != "" {
		b, err := os.ReadFile(c.key)
		if err != nil {
			return err
		}
		k, err := verify.ParseLogKeyPEM(b)
		if err != nil {
			return fmt.Errorf("--key: %w", err)
		}
		opts.Key = k.Public
	}
	if c.identity != "" || c.identityRegexp != "" || c.issuer != "" || c.issuerRegexp != "" {
		if (c.identity == "") == (c.identityRegexp == "") || (c.issuer == "") == (c.issuerRegexp == "") {
			fmt.Fprintln(stderr, "give one of --certificate-identity(-regexp) and one of --certificate-oidc-issuer(-regexp)")
			return errUsage
		}
		if c.insecureIgnoreIdentity {
			fmt.Fprintln(stderr, "--insecure-ignore-identity contradicts --certificate-identity")
			return errUsage
		}
		opts.Identity = &verify.Identity{SAN: c.identity, SANRegexp: c.identityRegexp, Issuer: c.issuer, IssuerRegexp: c.issuerRegexp}
	}

	r, verr := verify.Bundle(bundleJSON, opts)
	if verr == nil && c.online {
		if err := checkOnline(ctx, cf, opts, r); err != nil {
			verr = err
		} else {
			r.Checks = append(r.Checks, verify.CheckOnline)
		}
	}
	if verr == nil && wp != nil {
		cl, err := cf.client()
		if err != nil {
			return err
		}
		notes, err := checkWitnessed(ctx, wp, r.Logged, newWitnessSource(cl))
		r.Notes = append(r.Notes, notes...)
		if err != nil {
			verr = err
		} else {
			r.Checks = append(r.Checks, verify.CheckWitnessed)
		}
	}
	for _, ch := range r.Checks {
		fmt.Fprintf(stdout, "  ✓ %s\n", ch)
	}
	if verr != nil {
		var ce *verify.CheckError
		if errors.As(verr, &ce) {
			fmt.Fprintf(stdout, "  ✗ %s: %v\n", ce.Check, ce.Err)
		} else {
			fmt.Fprintf(stdout, "  ✗ %v\n", verr)
		}
		fmt.Fprintf(stdout, "FAILED: %s\n", c.bundle)
		return fmt.Errorf("verification failed: %w", verr)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(stdout, "  note: %s\n", n)
	}
	fmt.Fprintf(stdout, "Bundle %s, log index %d", r.Version, r.LogIndex)
	if r.IntegratedTime > 0 {
		fmt.Fprintf(stdout, ", integrated %s", time.Unix(r.IntegratedTime, 0).UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(stdout)
	if r.SAN != "" || r.Issuer != "" {
		fmt.Fprintf(stdout, "Signer: %s (OIDC issuer %s)\n", orDash(r.SAN), orDash(r.Issuer))
	}
	fmt.Fprintf(stdout, "Verified OK: %s\n", c.bundle)
	return nil
}

// checkOnline looks the bundle's entry up in the live log and verifies what
// the log serves now: the same body, logged at the same time, with a proof
// that verifies under the same key.
func checkOnline(ctx context.Context, cf *clientFlags, opts verify.BundleOptions, r *verify.Result) error {
	keys, err := verify.TrustedLogKeys(opts)
	if err != nil {
		return err
	}
	key, ok := keys[r.LogID]
	if !ok {
		return &verify.CheckError{Check: verify.CheckOnline, Err: fmt.Errorf("no key for log %s", r.LogID)}
	}
	cl, err := cf.client()
	if err != nil {
		return err
	}
	// The leaf hash alone is looked up in every log of the server: the same
	// body may be logged again after a rotation; the bundle's is the one at
	// its virtual index.
	leaf := verify.LeafHash(r.Body)
	found, err := cl.RetrieveEntries(ctx, models.SearchLogQuery{EntryUUIDs: []string{fmt.Sprintf("%x", leaf)}})
	if err != nil {
		return &verify.CheckError{Check: verify.CheckOnline, Err: fmt.Errorf("looking the entry up at %s: %w", cl.Server(), err)}
	}
	var uuid string
	var e models.LogEntryAnon
	for _, le := range found {
		for id, x := range le {
			if x.LogIndex == r.LogIndex || uuid == "" {
				uuid, e = id, x
			}
		}
	}
	if uuid == "" {
		return &verify.CheckError{Check: verify.CheckOnline, Err: fmt.Errorf("the entry is not in the live log at %s", cl.Server())}
	}
	if !bytes.Equal(e.Body, r.Body) || e.IntegratedTime != r.IntegratedTime || e.LogIndex != r.LogIndex {
		return &verify.CheckError{Check: verify.CheckOnline, Err: fmt.Errorf("the live log's entry %s differs from the bundle's", uuid)}
	}
	if _, err := verify.Entry(uuid, e, key); err != nil {
		return &verify.CheckError{Check: verify.CheckOnline, Err: fmt.Errorf("the live entry does not verify: %w", err)}
	}
	return nil
}

// verifyEntryFile verifies a saved v1 API entry offline with the pinned
// key of its log (by log ID), or with its log's key fetched from --server
// (by tree ID) when none is pinned.
func verifyEntryFile(ctx context.Context, cf *clientFlags, path string, wp *policy.Policy, stdout, stderr io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var le models.LogEntry
	if err := json.Unmarshal(b, &le); err != nil || len(le) != 1 {
		return fmt.Errorf("%s is not one log entry as the v1 API returns it: %v", path, err)
	}
	var cl *client.Client
	if len(cf.logKeys) == 0 || wp != nil {
		if cl, err = cf.client(); err != nil {
			return err
		}
	}
	for uuid, e := range le {
		var cp checkpoint.Checkpoint
		key, pinned, err := cf.entryKey(ctx, cl, uuid, e)
		if err == nil {
			if !pinned {
				fmt.Fprintf(stderr, "warning: the key of log %s was fetched from %s (trusted on first use); pin it with --log-key\n", orDash(entryTreeID(uuid, e)), cl.Server())
			}
			cp, err = verify.Entry(uuid, e, key)
		}
		var witnessed string
		if err == nil && wp != nil {
			p := e.Verification.InclusionProof
			var c verify.Cosigned
			c, err = verify.Witnessed(ctx, wp, verify.LoggedEntry{
				Key: key, Index: uint64(p.LogIndex), Leaf: verify.LeafHash(e.Body), Checkpoint: []byte(p.Checkpoint), Verified: cp,
			}, newWitnessSource(cl))
			if err == nil {
				witnessed = c.Summary(wp)
			}
		}
		if err != nil {
			var ce *verify.CheckError
			if errors.As(err, &ce) {
				fmt.Fprintf(stdout, "  ✗ %s: %v\n", ce.Check, ce.Err)
			}
			fmt.Fprintf(stdout, "FAILED: %s\n", path)
			return fmt.Errorf("verification failed: %w", err)
		}
		for _, ch := range []string{verify.CheckLogKnown, verify.CheckInclusionProof, verify.CheckCheckpointSig, verify.CheckCheckpointRoot, verify.CheckSET} {
			fmt.Fprintf(stdout, "  ✓ %s\n", ch)
		}
		if witnessed != "" {
			fmt.Fprintf(stdout, "  ✓ %s\n  note: witnessed: %s\n", verify.CheckWitnessed, witnessed)
		}
		local := int64(-1)
		if v := e.Verification; v != nil && v.InclusionProof != nil {
			local = v.InclusionProof.LogIndex
		}
		fmt.Fprintf(stdout, "Entry %d (index %d in %s, tree size %d)\nVerified OK: %s\n", e.LogIndex, local, cp.Origin, cp.Size, path)
	}
	return nil
}
