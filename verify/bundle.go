package verify

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"
)

// Identity is a certificate identity policy, as cosign's
// --certificate-identity(-regexp) and --certificate-oidc-issuer(-regexp).
// Exactly one of each pair should be set.
type Identity struct {
	SAN          string
	SANRegexp    string
	Issuer       string
	IssuerRegexp string
}

// BundleOptions says what a bundle is verified against.
type BundleOptions struct {
	// TrustedRoot is a Sigstore TrustedRoot JSON document: its transparency
	// logs, certificate authorities and timestamp authorities are trusted.
	TrustedRoot []byte
	// LogKeys are pinned transparency log keys, trusted besides (or, without
	// TrustedRoot, instead of) the trusted root's logs.
	LogKeys []LogKey

	// Artifact is the signed artifact; ArtifactDigest its digest instead
	// (DigestAlgorithm "sha256" when empty). With neither, only the
	// signature over the bundle's own digest or envelope is checked.
	Artifact        io.Reader
	ArtifactDigest  []byte
	DigestAlgorithm string

	// Identity is the certificate identity policy for certificate-signed
	// bundles. Nil requires InsecureIgnoreIdentity.
	Identity               *Identity
	InsecureIgnoreIdentity bool
	// Key verifies a bundle signed with a key rather than a certificate.
	Key crypto.PublicKey
}

// Result is a verified bundle's summary.
type Result struct {
	MediaType string
	Version   string
	// Checks lists the checks that passed, in order.
	Checks []string
	// Notes says what was skipped and why (for example a v0.1 bundle without
	// a checkpoint, accepted on its SET).
	Notes []string
	// LogIndex and IntegratedTime are the first log entry's (global) index
	// and integrated time (0 when the log gives none, as Rekor v2).
	LogIndex       int64
	IntegratedTime int64
	// LogID (hex) and Body are the first log entry's log ID and
	// canonicalized body, to look the entry up in the live log.
	LogID string
	Body  []byte
	// SAN and Issuer are the certificate's identity, if certificate-signed.
	SAN    string
	Issuer string
	// Logged are the bundle's log entries with an inclusion proof, as
	// verified, in the bundle's order: what [Witnessed] needs.
	Logged []LoggedEntry
}

func (r *Result) pass(check string) {
	for _, c := range r.Checks {
		if c == check {
			return
		}
	}
	r.Checks = append(r.Checks, check)
}

// Bundle verifies a Sigstore bundle (JSON, v0.1 to v0.3) offline. On
// failure the error is a *CheckError naming the failed check; r then holds
// the checks that passed before it.
func Bundle(bundleJSON []byte, opts BundleOptions) (r *Result, err error) {
	r = &Result{}
	var pb protobundle.Bundle
	if err := protojson.Unmarshal(bundleJSON, &pb); err != nil {
		return r, fail(CheckBundleFormat, err)
	}
	probe := &sgbundle.Bundle{Bundle: &pb}
	r.MediaType = pb.GetMediaType()
	if r.Version, err = probe.Version(); err != nil {
		return r, fail(CheckBundleFormat, err)
	}
	if !probe.MinVersion("v0.1") || probe.MinVersion("v0.4") {
		return r, failf(CheckBundleFormat, "unsupported bundle version %s", r.Version)
	}
	r.pass(CheckBundleFormat)

	material, logs, err := trustMaterial(opts)
	if err != nil {
		return r, err
	}

	// The log checks run first, on the raw bundle, so that each failure is
	// named; sigstore-go repeats them below.
	var cert *x509.Certificate
	vm := pb.GetVerificationMaterial()
	switch {
	case vm.GetCertificate() != nil:
		cert, _ = x509.ParseCertificate(vm.GetCertificate().GetRawBytes())
	case len(vm.GetX509CertificateChain().GetCertificates()) > 0:
		cert, _ = x509.ParseCertificate(vm.GetX509CertificateChain().GetCertificates()[0].GetRawBytes())
	}
	if cert != nil {
		r.SAN, r.Issuer = CertificateIdentity(cert)
	}
	entries := vm.GetTlogEntries()
	if len(entries) == 0 {
		return r, failf(CheckLogKnown, "bundle has no transparency log entry")
	}
	var artifactBytes []byte
	v02 := probe.MinVersion("v0.2")
	hasTimestamps := len(vm.GetTimestampVerificationData().GetRfc3161Timestamps()) > 0
	var setTimes []time.Time // integrated times whose SETs only Tabula verified
	for i, e := range entries {
		ourSET := false
		if err := checkLogEntry(r, i, e, logs, v02, hasTimestamps, cert, &ourSET); err != nil {
			return r, err
		}
		if ourSET {
			setTimes = append(setTimes, time.Unix(e.GetIntegratedTime(), 0))
			e.InclusionPromise = nil
		}
		if !v02 && e.GetInclusionProof() != nil && e.GetInclusionProof().GetCheckpoint().GetEnvelope() == "" {
			// Bundle v0.1 rests on the SET; an inclusion proof without a
			// checkpoint (verified above against its own root) proves
			// nothing more, and sigstore-go refuses it: drop it.
			e.InclusionProof = nil
		}
	}

	// Rekor v2 entries (no SET, no integrated time): the body-vs-bundle
	// match is ours (matchRekorV2), as sigstore-go v1.3.0 reads only some
	// of them; sigstore-go gets the bundle without them and takes the
	// signed time from the RFC 3161 timestamps, which checkLogEntry
	// required. The log checks on them (proof, checkpoint) ran above.
	var logged []*protorekor.TransparencyLogEntry
	rekorV2 := 0
	for i, e := range entries {
		if !isRekorV2(e) {
			logged = append(logged, e)
			continue
		}
		if opts.Artifact != nil && artifactBytes == nil {
			// Read once: hashed here, and again by sigstore-go.
			a, err := io.ReadAll(opts.Artifact)
			if err != nil {
				return r, fmt.Errorf("reading the artifact: %w", err)
			}
			opts.Artifact = bytes.NewReader(a)
			artifactBytes = a
		}
		var art io.Reader
		if artifactBytes != nil {
			art = bytes.NewReader(artifactBytes)
		}
		if err := matchRekorV2(e, &pb, cert, opts.Key, art, opts.ArtifactDigest); err != nil {
			return r, fail(CheckEntryMatches, fmt.Errorf("entry %d (Rekor v2): %w", i, err))
		}
		rekorV2++
	}
	if rekorV2 > 0 {
		r.pass(CheckEntryMatches)
		vm.TlogEntries = logged
		r.Notes = append(r.Notes, "Rekor v2 entry matched against the bundle by Tabula; signed time from the RFC 3161 timestamp")
	}
	verifierOpts := []sgverify.VerifierOption{sgverify.WithTransparencyLog(1), sgverify.WithObserverTimestamps(1)}
	if len(logged) == 0 {
		verifierOpts = []sgverify.VerifierOption{sgverify.WithSignedTimestamps(1)}
	}

	b, err := sgbundle.NewBundle(&pb)
	if err != nil {
		return r, fail(CheckBundleFormat, err)
	}
	r.pass(CheckBundleFormat)
	vc, err := b.VerificationContent()
	if err != nil {
		return r, fail(CheckBundleFormat, err)
	}

	verifier, err := sgverify.NewVerifier(material, verifierOpts...)
	if err != nil {
		return r, fail(CheckBundleFormat, err)
	}
	var artifact sgverify.ArtifactPolicyOption
	switch {
	case opts.Artifact != nil:
		artifact = sgverify.WithArtifact(opts.Artifact)
	case opts.ArtifactDigest != nil:
		alg := opts.DigestAlgorithm
		if alg == "" {
			alg = "sha256"
		}
		artifact = sgverify.WithArtifactDigest(alg, opts.ArtifactDigest)
	default:
		artifact = sgverify.WithoutArtifactUnsafe()
		r.Notes = append(r.Notes, "no artifact given: the signature was checked over the bundle's own digest or envelope only")
	}
	var policy []sgverify.PolicyOption
	switch {
	case cert == nil:
		if opts.Key == nil {
			return r, failf(CheckKey, "bundle is signed with a key (hint %q), not a certificate: give the public key", vc.PublicKey().Hint())
		}
		policy = append(policy, sgverify.WithKey())
	case opts.Identity != nil:
		id, err := sgverify.NewShortCertificateIdentity(opts.Identity.Issuer, opts.Identity.IssuerRegexp, opts.Identity.SAN, opts.Identity.SANRegexp)
		if err != nil {
			return r, fail(CheckIdentity, err)
		}
		policy = append(policy, sgverify.WithCertificateIdentity(id))
	case opts.InsecureIgnoreIdentity:
		policy = append(policy, sgverify.WithoutIdentitiesUnsafe())
		r.Notes = append(r.Notes, "certificate identity NOT checked (--insecure-ignore-identity)")
	default:
		return r, failf(CheckIdentity, "no identity policy: give the certificate identity and OIDC issuer, or explicitly ignore them")
	}
	var res *sgverify.VerificationResult
	if len(setTimes) > 0 {
		err = verifyWithOurSET(r, b, material, setTimes, cert, opts, hasTimestamps)
	} else {
		res, err = verifier.Verify(b, sgverify.NewPolicy(artifact, policy...))
	}
	if err != nil && isNonInTotoEnvelope(&pb) && strings.HasPrefix(err.Error(), "failed to fetch envelope statement") {
		// sigstore-go v1.3.0 refuses a DSSE payload other than an in-toto
		// statement only when building its result, after the log,
		// timestamp, certificate and signature checks passed; the identity
		// policy, which comes after, is checked here with its own code.
		res, err = nil, nil
		if cert != nil && opts.Identity != nil {
			err = checkIdentity(cert, opts.Identity)
		}
		r.Notes = append(r.Notes, "the DSSE payload is not an in-toto statement: its signature was checked, no subject")
	}
	if err != nil {
		return r, classify(err)
	}
	r.pass(CheckEntryMatches)
	r.pass(CheckSignedTime)
	if cert != nil {
		r.pass(CheckCertChain)
		if opts.Identity != nil {
			r.pass(CheckIdentity)
		}
	} else {
		r.pass(CheckKey)
	}
	r.pass(CheckArtifactSig)
	if res != nil && res.Signature != nil && res.Signature.Certificate != nil {
		r.SAN = res.Signature.Certificate.SubjectAlternativeName
		r.Issuer = res.Signature.Certificate.Issuer
	}
	return r, nil
}

// classify names the check behind a sigstore-go verification error.
func classify(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "does not match"), strings.Contains(msg, "is not a hashedrekord"), strings.Contains(msg, "is not a dsse"):
		return fail(CheckEntryMatches, err)
	case strings.HasPrefix(msg, "failed to verify log inclusion"):
		return fail(CheckEntryMatches, err)
	case strings.HasPrefix(msg, "failed to verify timestamps"):
		return fail(CheckSignedTime, err)
	case strings.HasPrefix(msg, "failed to verify leaf certificate"):
		return fail(CheckCertChain, err)
	case strings.HasPrefix(msg, "failed to verify certificate identity"):
		return fail(CheckIdentity, err)
	case strings.Contains(msg, "key signature"), strings.Contains(msg, "public key"):
		return fail(CheckKey, err)
	case strings.HasPrefix(msg, "failed to verify signature"), strings.HasPrefix(msg, "failed to get signature verifier"):
		return fail(CheckArtifactSig, err)
	}
	return fail("sigstore verification", err)
}

// checkLogEntry runs the log checks on one tlog entry with Tabula's own code,
// so that each failure is named and a pinned key alone suffices.
func checkLogEntry(r *Result, i int, e *protorekor.TransparencyLogEntry, logs map[string]LogKey, v02 bool, hasTimestamps bool, cert *x509.Certificate, ourSET *bool) error {
	id := hex.EncodeToString(e.GetLogId().GetKeyId())
	key, ok := logs[id]
	if !ok {
		return failf(CheckLogKnown, "entry %d's log (log ID %s) is not trusted", i, id)
	}
	r.pass(CheckLogKnown)
	if e.GetLogIndex() < 0 {
		return failf(CheckLogIndex, "negative log index %d", e.GetLogIndex())
	}
	r.pass(CheckLogIndex)
	if i == 0 {
		r.LogIndex, r.IntegratedTime = e.GetLogIndex(), e.GetIntegratedTime()
		r.LogID, r.Body = id, e.GetCanonicalizedBody()
	}
	body := e.GetCanonicalizedBody()
	leaf := LeafHash(body)
	if p := e.GetInclusionProof(); p != nil {
		if p.GetLogIndex() < 0 || p.GetTreeSize() < 0 {
			return failf(CheckInclusionProof, "negative index or tree size")
		}
		if len(p.GetRootHash()) != 32 {
			return failf(CheckInclusionProof, "root hash is %d bytes", len(p.GetRootHash()))
		}
		var root [32]byte
		copy(root[:], p.GetRootHash())
		if err := Inclusion(leaf, uint64(p.GetLogIndex()), uint64(p.GetTreeSize()), root, p.GetHashes()); err != nil {
			return err
		}
		r.pass(CheckInclusionProof)
		logged := LoggedEntry{Key: key, Index: uint64(p.GetLogIndex()), Leaf: leaf}
		if env := p.GetCheckpoint().GetEnvelope(); env != "" {
			cp, err := Checkpoint([]byte(env), "", key)
			if err != nil {
				return err
			}
			r.pass(CheckCheckpointSig)
			if cp.Size != uint64(p.GetTreeSize()) || cp.Root != root {
				return failf(CheckCheckpointRoot, "checkpoint is for size %d root %x, proof for size %d root %x", cp.Size, cp.Root, p.GetTreeSize(), root)
			}
			r.pass(CheckCheckpointRoot)
			logged.Checkpoint, logged.Verified = []byte(env), cp
			// sigstore-go v1.3.0 refuses a checkpoint with signatures
			// other than the log's (witness cosignatures): it gets the
			// note with the log's alone, verified above.
			if own, err := logSignatureOnly([]byte(env), cp.Origin, key); err == nil {
				p.Checkpoint.Envelope = string(own)
			}
		}
		r.Logged = append(r.Logged, logged)
		if logged.Checkpoint == nil && v02 {
			return failf(CheckCheckpointSig, "inclusion proof has no checkpoint (required from bundle v0.2)")
		} else if logged.Checkpoint == nil {
			r.Notes = append(r.Notes, "inclusion proof has no checkpoint: accepted under bundle v0.1 rules, on the SET")
		}
	} else if v02 {
		return failf(CheckInclusionProof, "no inclusion proof (required from bundle v0.2)")
	} else {
		r.Notes = append(r.Notes, "no inclusion proof: accepted under bundle v0.1 rules, on the SET")
	}
	set := e.GetInclusionPromise().GetSignedEntryTimestamp()
	if len(set) > 0 {
		if err := SET(set, body, e.GetIntegratedTime(), e.GetLogIndex(), key); err != nil {
			return err
		}
		r.pass(CheckSET)
		if _, ok := key.Public.(*ecdsa.PublicKey); !ok {
			// Verified above; sigstore-go v1.3.0 takes SETs only from
			// ECDSA log keys and would drop this entry, so Bundle hands
			// it the entry without the SET (see verifyWithOurSET).
			if !v02 {
				return failf(CheckSET, "the log key is %T and the bundle is v0.1 (SET only): sigstore-go v1.3.0 reads such bundles only with ECDSA log keys", key.Public)
			}
			*ourSET = true
		}
	} else if !hasTimestamps {
		return failf(CheckSignedTime, "bundle has neither a SET nor an RFC 3161 timestamp")
	}
	if cert != nil && len(set) > 0 {
		t := time.Unix(e.GetIntegratedTime(), 0)
		if t.Before(cert.NotBefore) || t.After(cert.NotAfter) {
			return failf(CheckCertValidity, "integrated time %s is outside the certificate's validity %s to %s",
				t.UTC().Format(time.RFC3339), cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
		}
		r.pass(CheckCertValidity)
	}
	return nil
}

// TrustedLogKeys returns the log keys opts trusts (its trusted root's
// transparency logs and its pinned keys), by hex log ID.
func TrustedLogKeys(opts BundleOptions) (map[string]LogKey, error) {
	_, logs, err := trustMaterial(opts)
	return logs, err
}

// logMaterial is trusted material holding only pinned transparency logs.
type logMaterial struct {
	root.BaseTrustedMaterial
	logs map[string]*root.TransparencyLog
}

func (m *logMaterial) RekorLogs() map[string]*root.TransparencyLog { return m.logs }

// trustMaterial builds sigstore-go's trusted material and the log keys by
// hex log ID from the options.
func trustMaterial(opts BundleOptions) (root.TrustedMaterial, map[string]LogKey, error) {
	var coll root.TrustedMaterialCollection
	logs := map[string]LogKey{}
	if len(opts.TrustedRoot) > 0 {
		tr, err := root.NewTrustedRootFromJSON(opts.TrustedRoot)
		if err != nil {
			return nil, nil, failf(CheckLogKnown, "reading trusted root: %w", err)
		}
		coll = append(coll, tr)
		for id, l := range tr.RekorLogs() {
			logs[id] = LogKey{Public: l.PublicKey, ID: l.ID}
		}
	}
	if len(opts.LogKeys) > 0 {
		m := &logMaterial{logs: map[string]*root.TransparencyLog{}}
		for _, k := range opts.LogKeys {
			m.logs[k.LogID()] = &root.TransparencyLog{
				ID: k.ID, HashFunc: crypto.SHA256, PublicKey: k.Public,
				SignatureHashFunc: signatureHash(k.Public),
				// A pinned key is trusted for all time; sigstore-go wants a start.
				ValidityPeriodStart: time.Unix(1, 0),
			}
			logs[k.LogID()] = k
		}
		coll = append(coll, m)
	}
	if len(logs) == 0 {
		return nil, nil, failf(CheckLogKnown, "no trusted root and no log key given")
	}
	if opts.Key != nil {
		v, err := signature.LoadDefaultVerifier(opts.Key)
		if err != nil {
			return nil, nil, fail(CheckKey, err)
		}
		coll = append(coll, root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
			return root.NewExpiringKey(v, time.Time{}, time.Time{}), nil
		}))
	}
	return coll, logs, nil
}

func signatureHash(pub crypto.PublicKey) crypto.Hash {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return crypto.Hash(0)
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 384:
			return crypto.SHA384
		case 521:
			return crypto.SHA512
		}
	case *rsa.PublicKey:
	}
	return crypto.SHA256
}

// CertificateIdentity returns a Fulcio certificate's SAN and OIDC issuer.
func CertificateIdentity(cert *x509.Certificate) (san, issuer string) {
	switch {
	case len(cert.EmailAddresses) > 0:
		san = cert.EmailAddresses[0]
	case len(cert.URIs) > 0:
		san = cert.URIs[0].String()
	case len(cert.DNSNames) > 0:
		san = cert.DNSNames[0]
	}
	for _, ext := range cert.Extensions {
		switch {
		case ext.Id.Equal([]int{1, 3, 6, 1, 4, 1, 57264, 1, 1}) && issuer == "":
			issuer = string(ext.Value)
		case ext.Id.Equal([]int{1, 3, 6, 1, 4, 1, 57264, 1, 8}):
			issuer = derUTF8(ext.Value)
		}
	}
	return san, issuer
}

// derUTF8 decodes a DER UTF8String, or returns the bytes as they are.
func derUTF8(b []byte) string {
	if len(b) >= 2 && b[0] == 0x0c && int(b[1]) == len(b)-2 {
		return string(b[2:])
	}
	return string(bytes.TrimSpace(b))
}

// isNonInTotoEnvelope reports whether the bundle holds a DSSE envelope whose
// payload is not an in-toto statement.
func isNonInTotoEnvelope(pb *protobundle.Bundle) bool {
	env := pb.GetDsseEnvelope()
	return env != nil && env.GetPayloadType() != "application/vnd.in-toto+json"
}

// checkIdentity checks a certificate against an identity policy with
// sigstore-go's matcher.
func checkIdentity(cert *x509.Certificate, id *Identity) error {
	ci, err := sgverify.NewShortCertificateIdentity(id.Issuer, id.IssuerRegexp, id.SAN, id.SANRegexp)
	if err != nil {
		return fmt.Errorf("failed to verify certificate identity: %w", err)
	}
	summary, err := certificate.SummarizeCertificate(cert)
	if err != nil {
		return fmt.Errorf("failed to verify certificate identity: %w", err)
	}
	if err := ci.Verify(summary); err != nil {
		return fmt.Errorf("failed to verify certificate identity: %w", err)
	}
	return nil
}

// verifyWithOurSET does what sigstore-go's Verifier.Verify does, with
// sigstore-go's own exported checks, for bundles whose SETs come from a log
// key sigstore-go v1.3.0 cannot verify SETs with (Ed25519): Tabula verified
// those SETs (checkLogEntry) and removed them, so the signed time is the
// integrated time they sign. sigstore-go still checks the inclusion proof,
// checkpoint and body-vs-bundle match of each entry, the integrated time
// against the certificate's validity, any RFC 3161 timestamp, the
// certificate chain at each signed time, and the signature.
func verifyWithOurSET(r *Result, b *sgbundle.Bundle, material root.TrustedMaterial, setTimes []time.Time, cert *x509.Certificate, opts BundleOptions, hasTimestamps bool) error {
	if _, err := sgverify.VerifyTlogEntry(b, material, 1, false); err != nil {
		return fmt.Errorf("failed to verify log inclusion: %w", err)
	}
	times := setTimes
	if hasTimestamps {
		ts, err := sgverify.VerifySignedTimestampWithThreshold(b, material, 1)
		if err != nil {
			return fmt.Errorf("failed to verify timestamps: %w", err)
		}
		for _, t := range ts {
			times = append(times, t.Time)
		}
	}
	if cert != nil {
		for _, t := range times {
			if _, err := sgverify.VerifyLeafCertificate(t, cert, material); err != nil {
				return fmt.Errorf("failed to verify leaf certificate: %w", err)
			}
		}
		if opts.Identity != nil {
			if err := checkIdentity(cert, opts.Identity); err != nil {
				return err
			}
		}
	}
	sc, err := b.SignatureContent()
	if err != nil {
		return fail(CheckBundleFormat, err)
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return fail(CheckBundleFormat, err)
	}
	switch {
	case opts.Artifact != nil:
		err = sgverify.VerifySignatureWithArtifacts(sc, vc, material, []io.Reader{opts.Artifact})
	case opts.ArtifactDigest != nil:
		alg := opts.DigestAlgorithm
		if alg == "" {
			alg = "sha256"
		}
		err = sgverify.VerifySignatureWithArtifactDigests(sc, vc, material, []sgverify.ArtifactDigest{{Algorithm: alg, Digest: opts.ArtifactDigest}})
	default:
		err = sgverify.VerifySignature(sc, vc, material)
	}
	if err != nil {
		return fmt.Errorf("failed to verify signature: %w", err)
	}
	r.Notes = append(r.Notes, "the SET was verified by Tabula (sigstore-go v1.3.0 verifies SETs from ECDSA log keys only); the rest by sigstore-go's checks")
	return nil
}
