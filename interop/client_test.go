package interop

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/runtime"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekorclient "github.com/sigstore/rekor/pkg/client"
	"github.com/sigstore/rekor/pkg/generated/client"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/client/pubkey"
	rekortlog "github.com/sigstore/rekor/pkg/generated/client/tlog"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/tle"
	"github.com/sigstore/rekor/pkg/types"
	rekorverify "github.com/sigstore/rekor/pkg/verify"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	// The entry kinds the official libraries can parse (rekor registers
	// its types at init time; sigstore-go's tlog needs them to read bodies).
	_ "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/intoto/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/intoto/v0.0.2"
	_ "github.com/sigstore/rekor/pkg/types/rekord/v0.0.1"
)

// bundleMediaType is what sigstore-go writes (pkg/sign).
const bundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// logClient is a running server seen through the official clients: rekor's
// generated client, the log's key as a sigstore verifier, and the trusted
// root `tabula trusted-root` builds for it.
type logClient struct {
	s        *server
	rekor    *client.Rekor
	pubPEM   []byte
	verifier signature.Verifier
}

func newLogClient(t *testing.T, s *server) *logClient {
	t.Helper()
	rc, err := rekorclient.GetRekorClient(s.URL, rekorclient.WithRetryCount(0))
	if err != nil {
		t.Fatalf("rekor client for %s: %v", s.URL, err)
	}
	c := &logClient{s: s, rekor: rc}
	c.pubPEM, c.verifier = c.publicKey(t, "")
	return c
}

// publicKey fetches the key of the log with tree ID treeID (empty: the
// active log's) with GetPublicKey, as PEM and as a verifier.
func (c *logClient) publicKey(t *testing.T, treeID string) ([]byte, signature.Verifier) {
	t.Helper()
	p := pubkey.NewGetPublicKeyParams()
	if treeID != "" {
		p.SetTreeID(&treeID)
	}
	resp, err := c.rekor.Pubkey.GetPublicKeyContext(t.Context(), p)
	if err != nil {
		t.Fatalf("GetPublicKey(treeID %q): %s", treeID, describe(err))
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(resp.Payload))
	if err != nil {
		t.Fatalf("the log's public key: %v\n%s", err, resp.Payload)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		t.Fatalf("verifier for the log's key: %v", err)
	}
	return []byte(resp.Payload), v
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// create POSTs pe with the generated client and checks what every Rekor
// client relies on: 201, one entry keyed by the ETag, Location naming it.
func (c *logClient) create(t *testing.T, pe models.ProposedEntry) (string, models.LogEntryAnon) {
	t.Helper()
	p := entries.NewCreateLogEntryParams()
	p.SetProposedEntry(pe)
	resp, err := c.rekor.Entries.CreateLogEntryContext(ctx(t), p)
	if err != nil {
		t.Fatalf("CreateLogEntry(%s): %s", pe.Kind(), describe(err))
	}
	if len(resp.Payload) != 1 {
		t.Fatalf("CreateLogEntry: %d entries in the response, want 1", len(resp.Payload))
	}
	e, ok := resp.Payload[resp.ETag]
	if !ok {
		t.Fatalf("CreateLogEntry: ETag %q is not the key of the returned entry (sigstore-go reads Payload[ETag])", resp.ETag)
	}
	if want := "/api/v1/log/entries/" + resp.ETag; !strings.HasSuffix(resp.Location.String(), want) {
		t.Errorf("Location %q, want …%s", resp.Location, want)
	}
	if len(resp.ETag) != 80 {
		t.Errorf("entry UUID %q: want 80 hex digits (tree ID + leaf hash)", resp.ETag)
	}
	return resp.ETag, e
}

// describe renders an error of the generated client with its payload.
func describe(err error) string {
	type payloader interface{ GetPayload() *models.Error }
	var p payloader
	if errors.As(err, &p) && p.GetPayload() != nil {
		return err.Error() + ": " + p.GetPayload().Message
	}
	return err.Error()
}

// verifyEntry checks e with rekor's own verification (inclusion proof,
// checkpoint signature, SET) and checks its log ID is the log key's.
func (c *logClient) verifyEntry(t *testing.T, e models.LogEntryAnon) {
	t.Helper()
	verifyEntryWith(t, e, c.verifier)
}

// verifyEntryWith is verifyEntry for an entry of the log whose key v holds
// (a shard's, after a rotation to a new key).
func verifyEntryWith(t *testing.T, e models.LogEntryAnon, v signature.Verifier) {
	t.Helper()
	if err := rekorverify.VerifyLogEntry(ctx(t), &e, v); err != nil {
		t.Fatalf("rekor pkg/verify.VerifyLogEntry: %v", err)
	}
	pub, err := v.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		t.Fatal(err)
	}
	id, err := hashHex(der)
	if err != nil {
		t.Fatal(err)
	}
	if e.LogID == nil || *e.LogID != id {
		t.Errorf("logID %v, want SHA-256 of the log key %s", e.LogID, id)
	}
}

func hashHex(b []byte) (string, error) {
	h := crypto.SHA256.New()
	if _, err := h.Write(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// body decodes an entry's canonical body with rekor's type registry.
func body(t *testing.T, e models.LogEntryAnon) types.EntryImpl {
	t.Helper()
	raw := bodyBytes(t, e)
	pe, err := models.UnmarshalProposedEntry(bytes.NewReader(raw), runtime.JSONConsumer())
	if err != nil {
		t.Fatalf("body %s: %v", raw, err)
	}
	impl, err := types.UnmarshalEntry(pe)
	if err != nil {
		t.Fatalf("rekor cannot read the body %s: %v", raw, err)
	}
	return impl
}

// trustedRoot runs `tabula trusted-root --server` (and --fulcio-cert for
// the test CA when ca is not nil) and parses the result with sigstore-go.
func (c *logClient) trustedRoot(t *testing.T, ca *testCA) *root.TrustedRoot {
	t.Helper()
	_, tr := c.trustedRootJSON(t, ca)
	return tr
}

// trustedRootJSON is trustedRoot, also returning the JSON the command printed.
func (c *logClient) trustedRootJSON(t *testing.T, ca *testCA) ([]byte, *root.TrustedRoot) {
	t.Helper()
	args := []string{"trusted-root", "--server", c.s.URL}
	if ca != nil {
		args = append(args, "--fulcio-cert", ca.certPath)
	}
	out := tabula(t, args...)
	tr, err := root.NewTrustedRootFromJSON(out)
	if err != nil {
		t.Fatalf("sigstore-go cannot read `tabula %s`: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out, tr
}

// tlogEntry converts a Rekor response entry into sigstore-go's form, the way
// sigstore-go's signer does (rekor pkg/tle).
func tlogEntry(t *testing.T, e models.LogEntryAnon) (*protorekor.TransparencyLogEntry, *tlog.Entry) {
	t.Helper()
	pb, err := tle.GenerateTransparencyLogEntry(e)
	if err != nil {
		t.Fatalf("rekor pkg/tle.GenerateTransparencyLogEntry: %v", err)
	}
	te, err := tlog.NewTlogEntry(pb)
	if err != nil {
		t.Fatalf("sigstore-go tlog.NewTlogEntry: %v", err)
	}
	return pb, te
}

// verifyTlogEntry checks e with sigstore-go's tlog package against tr: the
// SET (inclusion promise) and the inclusion proof with its checkpoint.
func (c *logClient) verifyTlogEntry(t *testing.T, tr *root.TrustedRoot, e models.LogEntryAnon) {
	t.Helper()
	verifyTlogEntryWith(t, tr, e, c.verifier)
}

// verifyTlogEntryWith is verifyTlogEntry for an entry of the log whose key
// v holds.
func verifyTlogEntryWith(t *testing.T, tr *root.TrustedRoot, e models.LogEntryAnon, v signature.Verifier) {
	t.Helper()
	pb, te := tlogEntry(t, e)
	// sigstore-go puts only these kinds in bundles (ValidateEntry refuses
	// the others, whatever their content).
	switch kv := pb.GetKindVersion(); kv.GetKind() + " " + kv.GetVersion() {
	case "hashedrekord 0.0.1", "dsse 0.0.1", "intoto 0.0.2":
		if err := tlog.ValidateEntry(te); err != nil {
			t.Errorf("sigstore-go tlog.ValidateEntry: %v", err)
		}
	}
	if err := tlog.VerifySET(te, tr.RekorLogs()); err != nil {
		t.Errorf("sigstore-go tlog.VerifySET: %v", err)
	}
	if err := tlog.VerifyInclusion(te, v); err != nil {
		t.Errorf("sigstore-go tlog.VerifyInclusion: %v", err)
	}
}

// messageBundle is the sigstore bundle a client would write for a
// hashedrekord entry: digest and signature, key hint or certificate, and
// the log entry.
func messageBundle(t *testing.T, e models.LogEntryAnon, digest, sig, certDER []byte) *bundle.Bundle {
	t.Helper()
	pb, _ := tlogEntry(t, e)
	vm := &protobundle.VerificationMaterial{TlogEntries: []*protorekor.TransparencyLogEntry{pb}}
	if certDER != nil {
		vm.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: certDER}}
	} else {
		vm.Content = &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: keyHint}}
	}
	b, err := bundle.NewBundle(&protobundle.Bundle{
		MediaType:            bundleMediaType,
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: digest},
			Signature:     sig,
		}},
	})
	if err != nil {
		t.Fatalf("sigstore-go bundle.NewBundle: %v", err)
	}
	return b
}

// keyHint names the signer's key in key-based bundles; keyMaterial answers
// for it.
const keyHint = "interop-key"

// keyMaterial is trusted material holding one verification key under
// hint, valid around now, as a key-based sigstore-go verification needs.
func keyMaterial(t *testing.T, hint string, pub crypto.PublicKey) root.TrustedMaterial {
	t.Helper()
	v, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	return root.NewTrustedPublicKeyMaterialFromMapping(map[string]*root.ExpiringKey{
		hint: root.NewExpiringKey(v, now.Add(-time.Hour), now.Add(time.Hour)),
	})
}

// getByUUID fetches an entry with the generated client.
func (c *logClient) getByUUID(t *testing.T, uuid string) (string, models.LogEntryAnon) {
	t.Helper()
	p := entries.NewGetLogEntryByUUIDParams()
	p.SetEntryUUID(uuid)
	resp, err := c.rekor.Entries.GetLogEntryByUUIDContext(ctx(t), p)
	if err != nil {
		t.Fatalf("GetLogEntryByUUID(%s): %s", uuid, describe(err))
	}
	return only(t, resp.Payload)
}

func (c *logClient) getByIndex(t *testing.T, index int64) (string, models.LogEntryAnon) {
	t.Helper()
	p := entries.NewGetLogEntryByIndexParams()
	p.SetLogIndex(index)
	resp, err := c.rekor.Entries.GetLogEntryByIndexContext(ctx(t), p)
	if err != nil {
		t.Fatalf("GetLogEntryByIndex(%d): %s", index, describe(err))
	}
	return only(t, resp.Payload)
}

func only(t *testing.T, le models.LogEntry) (string, models.LogEntryAnon) {
	t.Helper()
	if len(le) != 1 {
		t.Fatalf("%d entries in a LogEntry, want 1", len(le))
	}
	for k, v := range le {
		return k, v
	}
	panic("unreachable")
}

func (c *logClient) logInfo(t *testing.T) *models.LogInfo {
	t.Helper()
	resp, err := c.rekor.Tlog.GetLogInfoContext(ctx(t), rekortlog.NewGetLogInfoParams())
	if err != nil {
		t.Fatalf("GetLogInfo: %s", describe(err))
	}
	return resp.Payload
}

// uuidOf is the last path segment of a Location, as clients read it.
func uuidOf(location string) string { return path.Base(location) }

// checkCanonical checks the logged body byte for byte against what Rekor's
// server would log for pe: rekor's own types.CreateVersionedEntry and
// types.CanonicalizeEntry (Canonicalize, then RFC 8785), as its
// createLogEntry handler does.
func checkCanonical(t *testing.T, pe models.ProposedEntry, e models.LogEntryAnon) {
	t.Helper()
	impl, err := types.CreateVersionedEntry(pe)
	if err != nil {
		t.Fatalf("rekor types.CreateVersionedEntry: %v", err)
	}
	want, err := types.CanonicalizeEntry(ctx(t), impl)
	if err != nil {
		t.Fatalf("rekor types.CanonicalizeEntry: %v", err)
	}
	if got := bodyBytes(t, e); !bytes.Equal(got, want) {
		t.Errorf("logged body differs from rekor's canonical form:\n got %s\nwant %s", got, want)
	}
}

// bodyBytes is an entry's canonical body.
func bodyBytes(t *testing.T, e models.LogEntryAnon) []byte {
	t.Helper()
	s, ok := e.Body.(string)
	if !ok {
		t.Fatalf("body is %T, want a base64 string", e.Body)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return raw
}
