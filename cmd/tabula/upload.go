package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/verify"
)

// bundleMediaType is the Sigstore bundle v0.3 media type.
const bundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

type uploadConfig struct {
	artifact, digest, signature, key, certificate, envelope, kind, bundle string
}

const uploadUsage = `Usage: tabula upload (--artifact FILE | --digest sha256:HEX) --signature SIG (--key PUB.pem | --certificate CERT.pem) [--bundle out.json]
       tabula upload --envelope DSSE.json [--type dsse|intoto] (--key PUB.pem | --certificate CERT.pem) [--bundle out.json]

Logs a signature and prints the entry's UUID and index.`

func runUpload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("upload", stderr, uploadUsage)
	cf := addClientFlags(fs)
	c := &uploadConfig{}
	fs.StringVar(&c.artifact, "artifact", "", "the signed artifact (hashedrekord)")
	fs.StringVar(&c.digest, "digest", "", "the artifact's digest instead of the artifact, sha256:<hex>")
	fs.StringVar(&c.signature, "signature", "", "the artifact's signature (base64 text as cosign writes it, or raw bytes)")
	fs.StringVar(&c.key, "key", "", "the signer's public key (PEM)")
	fs.StringVar(&c.certificate, "certificate", "", "the signer's certificate (PEM), instead of --key")
	fs.StringVar(&c.envelope, "envelope", "", "a signed DSSE envelope (JSON) to log instead of an artifact signature")
	fs.StringVar(&c.kind, "type", "dsse", "entry kind for --envelope: dsse (0.0.1) or intoto (0.0.2)")
	fs.StringVar(&c.bundle, "bundle", "", "also write a Sigstore bundle (v0.3 JSON) to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (c.key == "") == (c.certificate == "") {
		fmt.Fprintln(stderr, "give exactly one of --key and --certificate")
		return errUsage
	}
	verifierPath := c.key
	if c.certificate != "" {
		verifierPath = c.certificate
	}
	verifierPEM, err := os.ReadFile(verifierPath)
	if err != nil {
		return err
	}
	block, _ := pem.Decode(verifierPEM)
	if block == nil {
		return fmt.Errorf("%s holds no PEM block", verifierPath)
	}

	var proposed []byte
	var content func(*protobundle.Bundle) error
	switch {
	case c.envelope != "":
		if c.artifact != "" || c.digest != "" || c.signature != "" {
			fmt.Fprintln(stderr, "--envelope excludes --artifact, --digest and --signature")
			return errUsage
		}
		proposed, content, err = dsseProposal(c, verifierPEM)
	default:
		proposed, content, err = hashedRekordProposal(c, verifierPEM, stderr)
	}
	if err != nil {
		return err
	}

	cl, err := cf.client()
	if err != nil {
		return err
	}
	uuid, entry, err := cl.CreateEntry(ctx, proposed)
	var ce *client.Error
	if errors.As(err, &ce) && ce.StatusCode == http.StatusConflict {
		// Already logged: fetch the existing entry, as rekor-cli does.
		found, ferr := cl.RetrieveEntries(ctx, models.SearchLogQuery{Entries: []json.RawMessage{proposed}})
		if ferr != nil || len(found) != 1 {
			return fmt.Errorf("entry already logged, and fetching it failed: %w", errors.Join(err, ferr))
		}
		for uuid, entry = range found[0] {
		}
		fmt.Fprintln(stdout, "Entry already in the log.")
	} else if err != nil {
		return err
	} else {
		fmt.Fprintln(stdout, "Created entry.")
	}
	fmt.Fprintf(stdout, "UUID:  %s\nIndex: %d\n", uuid, entry.LogIndex)
	if c.bundle == "" {
		return nil
	}
	b := &protobundle.Bundle{MediaType: bundleMediaType, VerificationMaterial: &protobundle.VerificationMaterial{}}
	if c.certificate != "" {
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("%s is not a PEM CERTIFICATE", c.certificate)
		}
		b.VerificationMaterial.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: block.Bytes}}
	} else {
		h := sha256.Sum256(block.Bytes)
		b.VerificationMaterial.Content = &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: base64.StdEncoding.EncodeToString(h[:])}}
	}
	tle, err := tlogEntry(entry)
	if err != nil {
		return fmt.Errorf("building the bundle: %w", err)
	}
	b.VerificationMaterial.TlogEntries = []*protorekor.TransparencyLogEntry{tle}
	if err := content(b); err != nil {
		return err
	}
	out, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(b)
	if err != nil {
		return fmt.Errorf("encoding the bundle: %w", err)
	}
	if err := os.WriteFile(c.bundle, append(out, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Bundle: %s\n", c.bundle)
	return nil
}

func hashedRekordProposal(c *uploadConfig, verifierPEM []byte, stderr io.Writer) ([]byte, func(*protobundle.Bundle) error, error) {
	if (c.artifact == "") == (c.digest == "") || c.signature == "" {
		fmt.Fprintln(stderr, "give --signature and exactly one of --artifact and --digest (or --envelope)")
		return nil, nil, errUsage
	}
	var digest []byte
	if c.artifact != "" {
		f, err := os.Open(c.artifact)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", c.artifact, err)
		}
		digest = h.Sum(nil)
	} else {
		alg, d, err := parseDigest(c.digest)
		if err != nil {
			return nil, nil, err
		}
		if alg != "sha256" {
			return nil, nil, fmt.Errorf("--digest: only sha256 is supported for upload")
		}
		digest = d
	}
	sig, err := readSignature(c.signature)
	if err != nil {
		return nil, nil, err
	}
	type hash struct {
		Algorithm string `json:"algorithm"`
		Value     string `json:"value"`
	}
	type publicKey struct {
		Content []byte `json:"content"`
	}
	type signature struct {
		Content   []byte    `json:"content"`
		PublicKey publicKey `json:"publicKey"`
	}
	type data struct {
		Hash hash `json:"hash"`
	}
	type spec struct {
		Data      data      `json:"data"`
		Signature signature `json:"signature"`
	}
	proposed, err := json.Marshal(struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       spec   `json:"spec"`
	}{"0.0.1", "hashedrekord", spec{
		Data:      data{Hash: hash{Algorithm: "sha256", Value: hex.EncodeToString(digest)}},
		Signature: signature{Content: sig, PublicKey: publicKey{Content: verifierPEM}},
	}})
	if err != nil {
		return nil, nil, err
	}
	return proposed, func(b *protobundle.Bundle) error {
		b.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: digest},
			Signature:     sig,
		}}
		return nil
	}, nil
}

// envelopeJSON is a DSSE envelope as files carry it.
type envelopeJSON struct {
	PayloadType string `json:"payloadType"`
	Payload     []byte `json:"payload"`
	Signatures  []struct {
		KeyID string `json:"keyid"`
		Sig   []byte `json:"sig"`
	} `json:"signatures"`
}

func dsseProposal(c *uploadConfig, verifierPEM []byte) ([]byte, func(*protobundle.Bundle) error, error) {
	raw, err := os.ReadFile(c.envelope)
	if err != nil {
		return nil, nil, err
	}
	var env envelopeJSON
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, nil, fmt.Errorf("%s is not a DSSE envelope: %w", c.envelope, err)
	}
	if env.PayloadType == "" || len(env.Signatures) == 0 {
		return nil, nil, fmt.Errorf("%s: envelope has no payloadType or no signature", c.envelope)
	}
	var proposed any
	switch c.kind {
	case "dsse":
		proposed = map[string]any{"apiVersion": "0.0.1", "kind": "dsse", "spec": map[string]any{
			"proposedContent": map[string]any{"envelope": string(raw), "verifiers": [][]byte{verifierPEM}},
		}}
	case "intoto":
		// intoto 0.0.2 carries the payload and signatures base64-encoded
		// once more, as cosign sends them.
		sigs := make([]map[string]any, len(env.Signatures))
		for i, s := range env.Signatures {
			sigs[i] = map[string]any{"sig": []byte(base64.StdEncoding.EncodeToString(s.Sig)), "publicKey": verifierPEM}
			if s.KeyID != "" {
				sigs[i]["keyid"] = s.KeyID
			}
		}
		envHash := sha256.Sum256(raw)
		payloadHash := sha256.Sum256(env.Payload)
		proposed = map[string]any{"apiVersion": "0.0.2", "kind": "intoto", "spec": map[string]any{
			"content": map[string]any{
				"envelope": map[string]any{
					"payloadType": env.PayloadType,
					"payload":     []byte(base64.StdEncoding.EncodeToString(env.Payload)),
					"signatures":  sigs,
				},
				"hash":        map[string]string{"algorithm": "sha256", "value": hex.EncodeToString(envHash[:])},
				"payloadHash": map[string]string{"algorithm": "sha256", "value": hex.EncodeToString(payloadHash[:])},
			},
		}}
	default:
		return nil, nil, fmt.Errorf("--type %q: want dsse or intoto", c.kind)
	}
	b, err := json.Marshal(proposed)
	if err != nil {
		return nil, nil, err
	}
	return b, func(bd *protobundle.Bundle) error {
		e := &protodsse.Envelope{PayloadType: env.PayloadType, Payload: env.Payload}
		for _, s := range env.Signatures {
			e.Signatures = append(e.Signatures, &protodsse.Signature{Sig: s.Sig, Keyid: s.KeyID})
		}
		bd.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: e}
		return nil
	}, nil
}

// tlogEntry converts a v1 API entry into a bundle's transparency log entry.
func tlogEntry(e models.LogEntryAnon) (*protorekor.TransparencyLogEntry, error) {
	var kv struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(e.Body, &kv); err != nil {
		return nil, fmt.Errorf("entry body: %w", err)
	}
	logID, err := hex.DecodeString(e.LogID)
	if err != nil {
		return nil, fmt.Errorf("log ID %q: %w", e.LogID, err)
	}
	t := &protorekor.TransparencyLogEntry{
		LogIndex:          e.LogIndex,
		LogId:             &protocommon.LogId{KeyId: logID},
		KindVersion:       &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion},
		IntegratedTime:    e.IntegratedTime,
		CanonicalizedBody: e.Body,
	}
	v := e.Verification
	if v == nil || v.InclusionProof == nil || len(v.SignedEntryTimestamp) == 0 {
		return nil, errors.New("the log returned no inclusion proof or SET")
	}
	t.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: v.SignedEntryTimestamp}
	p := v.InclusionProof
	root, err := hex.DecodeString(p.RootHash)
	if err != nil {
		return nil, fmt.Errorf("root hash: %w", err)
	}
	ip := &protorekor.InclusionProof{LogIndex: p.LogIndex, RootHash: root, TreeSize: p.TreeSize, Checkpoint: &protorekor.Checkpoint{Envelope: p.Checkpoint}}
	for _, h := range p.Hashes {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("proof hash: %w", err)
		}
		ip.Hashes = append(ip.Hashes, b)
	}
	t.InclusionProof = ip
	return t, nil
}

// certIdentity returns the SAN and OIDC issuer of a PEM certificate, if b is one.
func certIdentity(b []byte) (san, issuer string, ok bool) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", "", false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", "", false
	}
	san, issuer = verify.CertificateIdentity(cert)
	return san, issuer, true
}
