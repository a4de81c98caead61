package monitor

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/pki/keyformat"
)

// Facts is what a logged entry's body says about who signed what: the
// identities of its certificates and keys, and the digests it names.
type Facts struct {
	Kind       string
	APIVersion string
	// Emails and URIs are the certificates' email and URI subject
	// alternative names (and the emails of PGP and SSH keys).
	Emails []string
	URIs   []string
	// OIDCIssuers are the Fulcio OIDC issuer extensions of the certificates
	// (1.3.6.1.4.1.57264.1.8, else the deprecated .1.1).
	OIDCIssuers []string
	// KeyFingerprints are, for every key and certificate, lower-case hex
	// SHA-256 of the canonical PEM (Rekor's search key) and, for x509, of
	// the PKIX DER public key.
	KeyFingerprints []string
	// Digests are "<algorithm>:<lower-case hex>": the artifact, payload and
	// envelope hashes the body names.
	Digests []string
}

// pemPrefix is base64 of "-----BEGIN": how a PEM key or certificate starts
// in a canonical body (every kind stores them base64-encoded).
const pemPrefix = "LS0tLS1CRUdJTi"

// ParseBody reads the facts of a canonical entry body (the leaf, as in entry
// bundles). It knows hashedrekord (0.0.1, and Rekor v2's 0.0.2), rekord,
// dsse and intoto, and reads any other kind generically: every base64 PEM
// key or certificate and every {"algorithm","value"} hash object in it.
// Keys it cannot parse are skipped.
func ParseBody(body []byte) (Facts, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return Facts{}, fmt.Errorf("entry body is not JSON: %w", err)
	}
	if dec.More() {
		return Facts{}, fmt.Errorf("entry body: trailing data after the JSON value")
	}
	top, ok := v.(map[string]any)
	if !ok {
		return Facts{}, fmt.Errorf("entry body is a JSON %T, not an object", v)
	}
	var f Facts
	f.Kind, _ = top["kind"].(string)
	f.APIVersion, _ = top["apiVersion"].(string)
	f.walk(top["spec"])
	if v2, ok := field(top["spec"], "hashedRekordV002").(map[string]any); ok {
		f.hashedRekordV2(v2)
	}
	if f.Kind == "rekord" {
		f.rekordKey(top["spec"])
	}
	for _, s := range []*[]string{&f.Emails, &f.URIs, &f.OIDCIssuers, &f.KeyFingerprints, &f.Digests} {
		slices.Sort(*s)
		*s = slices.Compact(*s)
	}
	return f, nil
}

func (f *Facts) walk(v any) {
	switch v := v.(type) {
	case map[string]any:
		alg, okA := v["algorithm"].(string)
		val, okV := v["value"].(string)
		if okA && okV && len(v) == 2 {
			f.Digests = append(f.Digests, strings.ToLower(alg)+":"+strings.ToLower(val))
			return
		}
		for _, e := range v {
			f.walk(e)
		}
	case []any:
		for _, e := range v {
			f.walk(e)
		}
	case string:
		if strings.HasPrefix(v, pemPrefix) {
			if b, err := base64.StdEncoding.DecodeString(v); err == nil {
				f.addPEM(b)
			}
		}
	}
}

// addPEM adds the facts of a PEM key, certificate or chain (leaf first).
func (f *Facts) addPEM(b []byte) {
	k, err := pki.ParsePEM(b)
	if err != nil {
		return
	}
	f.addKey(k)
}

// v2Digests names Rekor v2's hash algorithms as Digests spells them.
var v2Digests = map[string]string{"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}

// hashedRekordV2 adds the facts of a hashedrekord 0.0.2 spec (Rekor v2):
// the digest (base64 in data.digest) and the verifier, a DER public key or
// X.509 certificate (base64 in rawBytes).
func (f *Facts) hashedRekordV2(spec map[string]any) {
	data, _ := spec["data"].(map[string]any)
	alg, _ := data["algorithm"].(string)
	if d, ok := data["digest"].(string); ok && v2Digests[alg] != "" {
		if b, err := base64.StdEncoding.DecodeString(d); err == nil {
			f.Digests = append(f.Digests, v2Digests[alg]+":"+hex.EncodeToString(b))
		}
	}
	v := field(field(spec, "signature"), "verifier")
	if raw, ok := field(field(v, "publicKey"), "rawBytes").(string); ok {
		if der, err := base64.StdEncoding.DecodeString(raw); err == nil {
			if pub, err := x509.ParsePKIXPublicKey(der); err == nil {
				f.addKey(pki.FromPublicKey(pub))
			}
		}
	}
	if raw, ok := field(field(v, "x509Certificate"), "rawBytes").(string); ok {
		if der, err := base64.StdEncoding.DecodeString(raw); err == nil {
			if c, err := x509.ParseCertificate(der); err == nil {
				f.addKey(pki.FromCertificate(c))
			}
		}
	}
}

// addKey adds the facts of a key or certificate.
func (f *Facts) addKey(k *pki.Key) {
	if fp, err := k.Fingerprint(); err == nil {
		f.KeyFingerprints = append(f.KeyFingerprints, fp)
	}
	if der, err := x509.MarshalPKIXPublicKey(k.PublicKey()); err == nil {
		sum := sha256.Sum256(der)
		f.KeyFingerprints = append(f.KeyFingerprints, hex.EncodeToString(sum[:]))
	}
	leaf := k.Leaf()
	if leaf == nil {
		return
	}
	f.Emails = append(f.Emails, leaf.EmailAddresses...)
	for _, u := range leaf.URIs {
		f.URIs = append(f.URIs, u.String())
	}
	if iss := pki.OIDCIssuer(leaf); iss != "" {
		f.OIDCIssuers = append(f.OIDCIssuers, iss)
	}
}

// rekordKey adds the facts of a rekord's PGP, SSH or minisign key (x509 keys
// are PEM and were read by walk).
func (f *Facts) rekordKey(spec any) {
	sig, _ := field(spec, "signature").(map[string]any)
	format, _ := sig["format"].(string)
	content, _ := field(sig["publicKey"], "content").(string)
	if format == "" || format == keyformat.X509 || content == "" {
		return
	}
	raw, err := base64.StdEncoding.DecodeString(content)
	if err != nil {
		return
	}
	k, err := keyformat.ParseKey(format, raw)
	if err != nil {
		return
	}
	if c, err := k.Canonical(); err == nil {
		f.KeyFingerprints = append(f.KeyFingerprints, keyformat.Fingerprint(c))
	}
	emails, _ := k.Identities()
	for _, s := range emails {
		if strings.Contains(s, "@") {
			f.Emails = append(f.Emails, s)
		}
	}
}

func field(v any, name string) any {
	m, _ := v.(map[string]any)
	return m[name]
}

// Watch is a watch list: an entry matches when any of its facts matches any
// pattern. Emails and OIDC issuers compare case-insensitively, URIs exactly;
// a pattern may start or end with "*" to match any suffix or prefix
// ("*@example.com", "https://github.com/my-org/*"). Key fingerprints are hex
// SHA-256 (of the canonical PEM, as Rekor indexes keys, or of the PKIX DER
// key), with or without a "sha256:" prefix. Digests are "sha256:<hex>" or
// bare hex (any algorithm).
type Watch struct {
	Emails          []string
	URIs            []string
	OIDCIssuers     []string
	KeyFingerprints []string
	Digests         []string
}

// Empty reports whether the watch list has no patterns.
func (w *Watch) Empty() bool {
	return len(w.Emails)+len(w.URIs)+len(w.OIDCIssuers)+len(w.KeyFingerprints)+len(w.Digests) == 0
}

// Match returns what of f matched, as "<what>:<value>" (for example
// "email:alice@example.com", "digest:sha256:ab…"); nil when nothing did.
func (w *Watch) Match(f Facts) []string {
	var out []string
	add := func(what string, pats, vals []string, fold bool) {
		for _, v := range vals {
			for _, p := range pats {
				if globMatch(p, v, fold) {
					out = append(out, what+":"+v)
					break
				}
			}
		}
	}
	add("email", w.Emails, f.Emails, true)
	add("uri", w.URIs, f.URIs, false)
	add("oidc-issuer", w.OIDCIssuers, f.OIDCIssuers, true)
	for _, fp := range f.KeyFingerprints {
		for _, p := range w.KeyFingerprints {
			p = strings.ToLower(strings.TrimSpace(p))
			p = strings.TrimPrefix(p, "sha256:")
			if p == fp {
				out = append(out, "key:"+fp)
				break
			}
		}
	}
	for _, d := range f.Digests {
		_, hexValue, _ := strings.Cut(d, ":")
		for _, p := range w.Digests {
			p = strings.ToLower(strings.TrimSpace(p))
			if p == d || (!strings.Contains(p, ":") && p == hexValue) {
				out = append(out, "digest:"+d)
				break
			}
		}
	}
	return out
}

// globMatch matches v against p, where p may start or end with "*".
func globMatch(p, v string, fold bool) bool {
	if fold {
		p, v = strings.ToLower(p), strings.ToLower(v)
	}
	switch {
	case p == "*":
		return true
	case len(p) > 1 && strings.HasPrefix(p, "*") && strings.HasSuffix(p, "*"):
		return strings.Contains(v, p[1:len(p)-1])
	case strings.HasPrefix(p, "*"):
		return strings.HasSuffix(v, p[1:])
	case strings.HasSuffix(p, "*"):
		return strings.HasPrefix(v, p[:len(p)-1])
	}
	return p == v
}
