package ui

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// MaxPretty bounds the pretty-printed JSON shown of one value (a body, a
// payload, a predicate); a larger one is cut, and the raw JSON link has it.
const MaxPretty = 256 << 10

// bodyView is an entry body, decoded as far as the page shows it.
type bodyView struct {
	Kind, Version string
	Pretty        string // the body, indented
	Hashes        []hashView
	Signatures    []string // base64, as in the body
	Keys          []keyView
	PayloadType   string
	Err           string // the body is no JSON object
}

type hashView struct{ Name, Alg, Value string }

// keyView is a public key or certificate found in an entry.
type keyView struct {
	Label       string // where it was found
	PEM         string
	Type        string
	Fingerprint string // hex SHA-256 of the DER
	Cert        *certView
	Raw         string // a key in another format (pgp, ssh, minisign), as text
}

// certView is an X.509 certificate, its Fulcio extensions named.
type certView struct {
	Subject, CertIssuer, Serial string
	NotBefore, NotAfter         string
	Emails, URIs, DNS, IPs      []string
	OtherName                   string
	Issuer                      string // the Fulcio OIDC issuer
	Extensions                  []extView
}

type extView struct{ Name, OID, Value string }

// decodeBody decodes an entry body. It never fails: what it cannot read is
// shown as it stands.
func decodeBody(body []byte) bodyView {
	var v bodyView
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		v.Err = "the body is not a JSON object: " + err.Error()
		v.Pretty = printable(body)
		return v
	}
	v.Kind, _ = doc["kind"].(string)
	v.Version, _ = doc["apiVersion"].(string)
	v.Pretty = pretty(body)
	seen := map[string]bool{}
	walk(&v, seen, "", "", doc["spec"])
	return v
}

// walk collects keys, signatures and hashes from the spec of a body of any
// kind by their field names (hashedrekord 0.0.1 and Rekor v2's 0.0.2, dsse,
// intoto 0.0.1/0.0.2, rekord).
func walk(v *bodyView, seen map[string]bool, parent, key string, x any) {
	switch x := x.(type) {
	case map[string]any:
		if alg, ok := x["algorithm"].(string); ok {
			if val, ok := x["value"].(string); ok {
				v.Hashes = append(v.Hashes, hashView{hashName(key), alg, val})
			} else if d, ok := x["digest"].(string); ok { // Rekor v2: base64
				if b, err := base64.StdEncoding.DecodeString(d); err == nil {
					d = hex.EncodeToString(b)
				}
				v.Hashes = append(v.Hashes, hashView{hashName(key), alg, d})
			}
		}
		if pt, ok := x["payloadType"].(string); ok && v.PayloadType == "" {
			v.PayloadType = pt
		}
		ks := make([]string, 0, len(x))
		for k := range x {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		for _, k := range ks {
			walk(v, seen, key, k, x[k])
		}
	case []any:
		for _, e := range x {
			walk(v, seen, parent, key, e)
		}
	case string:
		switch {
		case key == "rawBytes" && (parent == "x509Certificate" || parent == "publicKey"):
			b, err := base64.StdEncoding.DecodeString(x)
			if err == nil {
				addDER(v, seen, parent, b)
			}
		case key == "verifier" || key == "publicKey" || (key == "content" && parent == "publicKey"):
			b, err := base64.StdEncoding.DecodeString(x)
			if err == nil {
				addPEM(v, seen, key, b)
			}
		case key == "sig" || (key == "signature" && parent != "") || (key == "content" && parent == "signature"):
			v.Signatures = append(v.Signatures, x)
		}
	}
}

func hashName(key string) string {
	switch key {
	case "hash", "data", "":
		return "artifact"
	}
	return key
}

func addPEM(v *bodyView, seen map[string]bool, label string, b []byte) {
	rest := b
	n := 0
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		n++
		switch blk.Type {
		case "CERTIFICATE":
			addDER(v, seen, "x509Certificate", blk.Bytes)
		default:
			addDER(v, seen, "publicKey", blk.Bytes)
		}
	}
	if n == 0 && !seen[string(b)] {
		seen[string(b)] = true
		v.Keys = append(v.Keys, keyView{Label: label, Type: "key in another format", Raw: printable(b)})
	}
}

func addDER(v *bodyView, seen map[string]bool, kind string, der []byte) {
	if seen[string(der)] {
		return
	}
	seen[string(der)] = true
	sum := sha256.Sum256(der)
	k := keyView{Fingerprint: hex.EncodeToString(sum[:])}
	if kind == "x509Certificate" {
		k.Label, k.Type = "certificate", "X.509 certificate"
		k.PEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		if c, err := x509.ParseCertificate(der); err == nil {
			k.Cert = describeCert(c)
			k.Type = "X.509 certificate, " + keyType(c.PublicKey)
		} else {
			k.Type = "unreadable certificate: " + err.Error()
		}
	} else {
		k.Label = "public key"
		k.PEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		if pub, err := x509.ParsePKIXPublicKey(der); err == nil {
			k.Type = keyType(pub)
		} else {
			k.Type = "unreadable public key: " + err.Error()
		}
	}
	v.Keys = append(v.Keys, k)
}

func keyType(pub any) string {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + p.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d bits", p.N.BitLen())
	}
	return fmt.Sprintf("%T", pub)
}

// fulcioOIDs names Fulcio's certificate extensions
// (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md): 1.1 to
// 1.6 hold raw text, 1.7 on DER UTF8Strings.
var fulcioOIDs = map[string]string{
	"1.3.6.1.4.1.57264.1.1":  "OIDC issuer (deprecated)",
	"1.3.6.1.4.1.57264.1.2":  "GitHub workflow trigger (deprecated)",
	"1.3.6.1.4.1.57264.1.3":  "GitHub workflow SHA (deprecated)",
	"1.3.6.1.4.1.57264.1.4":  "GitHub workflow name (deprecated)",
	"1.3.6.1.4.1.57264.1.5":  "GitHub workflow repository (deprecated)",
	"1.3.6.1.4.1.57264.1.6":  "GitHub workflow ref (deprecated)",
	"1.3.6.1.4.1.57264.1.7":  "OtherName SAN",
	"1.3.6.1.4.1.57264.1.8":  "OIDC issuer",
	"1.3.6.1.4.1.57264.1.9":  "Build signer URI",
	"1.3.6.1.4.1.57264.1.10": "Build signer digest",
	"1.3.6.1.4.1.57264.1.11": "Runner environment",
	"1.3.6.1.4.1.57264.1.12": "Source repository URI",
	"1.3.6.1.4.1.57264.1.13": "Source repository digest",
	"1.3.6.1.4.1.57264.1.14": "Source repository ref",
	"1.3.6.1.4.1.57264.1.15": "Source repository identifier",
	"1.3.6.1.4.1.57264.1.16": "Source repository owner URI",
	"1.3.6.1.4.1.57264.1.17": "Source repository owner identifier",
	"1.3.6.1.4.1.57264.1.18": "Build config URI",
	"1.3.6.1.4.1.57264.1.19": "Build config digest",
	"1.3.6.1.4.1.57264.1.20": "Build trigger",
	"1.3.6.1.4.1.57264.1.21": "Run invocation URI",
	"1.3.6.1.4.1.57264.1.22": "Source repository visibility at signing",
	"1.3.6.1.4.1.57264.1.23": "Deployment environment",
}

var oidFulcioRaw = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1}

func describeCert(c *x509.Certificate) *certView {
	v := &certView{
		Subject:    c.Subject.String(),
		CertIssuer: c.Issuer.String(),
		Serial:     c.SerialNumber.String(),
		NotBefore:  c.NotBefore.UTC().Format(time.RFC3339),
		NotAfter:   c.NotAfter.UTC().Format(time.RFC3339),
		Emails:     c.EmailAddresses,
		DNS:        c.DNSNames,
	}
	for _, u := range c.URIs {
		v.URIs = append(v.URIs, u.String())
	}
	for _, ip := range c.IPAddresses {
		v.IPs = append(v.IPs, ip.String())
	}
	v.OtherName, _ = cryptoutils.UnmarshalOtherNameSAN(c.Extensions)
	var deprecatedIssuer string
	for _, ext := range c.Extensions {
		id := ext.Id.String()
		name, ok := fulcioOIDs[id]
		if !ok {
			continue
		}
		val := extValue(ext)
		v.Extensions = append(v.Extensions, extView{name, id, val})
		switch id {
		case "1.3.6.1.4.1.57264.1.8":
			v.Issuer = val
		case "1.3.6.1.4.1.57264.1.1":
			deprecatedIssuer = val
		}
	}
	if v.Issuer == "" {
		v.Issuer = deprecatedIssuer
	}
	return v
}

// extValue is a Fulcio extension's value: 1.1–1.6 raw, later ones a DER
// string.
func extValue(ext pkix.Extension) string {
	if len(ext.Id) == len(oidFulcioRaw)+1 && ext.Id[len(ext.Id)-1] <= 6 {
		return printable(ext.Value)
	}
	var s string
	if rest, err := asn1.Unmarshal(ext.Value, &s); err == nil && len(rest) == 0 {
		return s
	}
	return printable(ext.Value)
}

// printable is b as text when it is UTF-8, else as base64.
func printable(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(b)
}

// pretty indents JSON, cut at MaxPretty; what is not JSON is shown as it is.
func pretty(b []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return cut(printable(b))
	}
	return cut(out.String())
}

func cut(s string) string {
	if len(s) <= MaxPretty {
		return s
	}
	s = s[:MaxPretty]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "\n… (cut: see the raw JSON)"
}

// statementView is an in-toto statement (a DSSE payload).
type statementView struct {
	Type, PredicateType string
	Subjects            []subjectView
	Predicate           string // pretty JSON
}

type subjectView struct {
	Name    string
	Digests []string // "alg:value", sorted
}

// decodeStatement reads an in-toto statement; nil if b is none.
func decodeStatement(b []byte) *statementView {
	var st struct {
		Type          string            `json:"_type"`
		PredicateType string            `json:"predicateType"`
		Subject       []json.RawMessage `json:"subject"`
		Predicate     json.RawMessage   `json:"predicate"`
	}
	if json.Unmarshal(b, &st) != nil || !strings.HasPrefix(st.Type, "https://in-toto.io/Statement/") {
		return nil
	}
	v := &statementView{Type: st.Type, PredicateType: st.PredicateType}
	for _, raw := range st.Subject {
		var s struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		}
		if json.Unmarshal(raw, &s) != nil {
			continue
		}
		sv := subjectView{Name: s.Name}
		for alg, d := range s.Digest {
			sv.Digests = append(sv.Digests, alg+":"+d)
		}
		slices.Sort(sv.Digests)
		v.Subjects = append(v.Subjects, sv)
	}
	if len(st.Predicate) > 0 {
		v.Predicate = pretty(st.Predicate)
	}
	return v
}
