package rekord

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	oaerrors "github.com/go-openapi/errors"
)

// spec mirrors Rekor's models.RekordV001Schema: pointers are nil when the
// field was absent (or of the wrong JSON type, which Rekor treats alike).
type spec struct {
	Data      *dataSpec
	Signature *signatureSpec
}

type dataSpec struct {
	Hash    *hashSpec
	Content []byte
}

type hashSpec struct {
	Algorithm *string
	Value     *string
}

type signatureSpec struct {
	Format    *string
	Content   *[]byte
	PublicKey *publicKeySpec
}

type publicKeySpec struct {
	Content *[]byte
}

// errURL says which URL field a proposal carried. Rekor stopped fetching
// URLs (rekor#735) and its decoder now ignores them; Tabula refuses them
// outright, so that a client relying on a fetch learns it did not happen.
func errURL(field, instead string) error {
	return fmt.Errorf("%s is not supported: this log never fetches URLs; send the bytes inline in %s", field, instead)
}

// hasURL reports whether m carries a non-empty "url".
func hasURL(m map[string]any) bool {
	u, ok := m["url"]
	if !ok || u == nil {
		return false
	}
	if s, ok := u.(string); ok && s == "" {
		return false
	}
	return true
}

// decodeB64 is Rekor's DecodeEntry base64 step: standard alphabet with
// padding, line breaks ignored; the empty string leaves the field unset.
func decodeB64(v any, what string) (*[]byte, error) {
	c, ok := v.(string)
	if !ok || c == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return nil, fmt.Errorf("failed parsing base64 data for %s: %w", what, err)
	}
	return &b, nil
}

// decodeSpec is Rekor's rekord DecodeEntry: the spec is decoded generically
// (numbers as json.Number, as go-openapi does for the polymorphic
// ProposedEntry), then picked apart leniently; unknown fields are ignored.
// URL fields are refused first (see errURL).
func decodeSpec(raw []byte) (*spec, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding spec: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decoding spec: trailing data after JSON value")
	}
	mm, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("unsupported input type %T for DecodeEntry", v)
	}
	sigRaw, _ := mm["signature"].(map[string]any)
	pkRaw, _ := sigRaw["publicKey"].(map[string]any)
	dataRaw, _ := mm["data"].(map[string]any)
	switch {
	case hasURL(dataRaw):
		return nil, errURL("data.url", "data.content")
	case hasURL(sigRaw):
		return nil, errURL("signature.url", "signature.content")
	case hasURL(pkRaw):
		return nil, errURL("signature.publicKey.url", "signature.publicKey.content")
	}

	var s spec
	var err error
	if sigRaw != nil {
		s.Signature = &signatureSpec{}
		if f, ok := sigRaw["format"].(string); ok {
			s.Signature.Format = &f
		}
		if s.Signature.Content, err = decodeB64(sigRaw["content"], "signature content"); err != nil {
			return nil, err
		}
		if pkRaw != nil {
			s.Signature.PublicKey = &publicKeySpec{}
			if s.Signature.PublicKey.Content, err = decodeB64(pkRaw["content"], "signature publicKey content"); err != nil {
				return nil, err
			}
		}
	}
	if dataRaw != nil {
		s.Data = &dataSpec{}
		if hRaw, ok := dataRaw["hash"].(map[string]any); ok {
			s.Data.Hash = &hashSpec{}
			if alg, ok := hRaw["algorithm"].(string); ok {
				s.Data.Hash.Algorithm = &alg
			}
			if val, ok := hRaw["value"].(string); ok {
				s.Data.Hash.Value = &val
			}
		}
		c, err := decodeB64(dataRaw["content"], "data content")
		if err != nil {
			return nil, err
		}
		if c != nil {
			s.Data.Content = *c
		}
	}
	return &s, nil
}

// hashAlgorithms is the schema's enum for data.hash.algorithm.
var hashAlgorithms = []any{"sha256"}

// formatEnum is the schema's enum for signature.format, in its order.
var formatEnum = []any{"pgp", "minisign", "x509", "ssh"}

// validateSchema is the go-swagger generated RekordV001Schema.Validate,
// rebuilt on go-openapi/errors so that its messages (nesting and the repeated
// property paths go-swagger's ValidateName produces included) are Rekor's.
// Required: data, signature; signature.content, .format (one of the enum),
// .publicKey; signature.publicKey.content; data.hash.algorithm and .value
// when data.hash is present.
func (s *spec) validateSchema() error {
	var res []error
	if s.Data == nil {
		res = append(res, oaerrors.Required("data", "body", nil))
	} else if err := s.Data.validate(); err != nil {
		res = append(res, validateName(err, "data"))
	}
	if s.Signature == nil {
		res = append(res, oaerrors.Required("signature", "body", nil))
	} else if err := s.Signature.validate(); err != nil {
		res = append(res, validateName(err, "signature"))
	}
	if len(res) > 0 {
		return oaerrors.CompositeValidationError(res...)
	}
	return nil
}

func (d *dataSpec) validate() error {
	if d.Hash == nil { // not required
		return nil
	}
	if err := d.Hash.validate(); err != nil {
		// RekordV001SchemaData.Validate collects validateHash's error.
		return oaerrors.CompositeValidationError(validateName(err, "data.hash"))
	}
	return nil
}

func (h *hashSpec) validate() error {
	var res []error
	if h.Algorithm == nil {
		res = append(res, oaerrors.Required("data.hash.algorithm", "body", nil))
	} else if !inEnum(*h.Algorithm, hashAlgorithms) {
		res = append(res, oaerrors.EnumFail("data.hash.algorithm", "body", *h.Algorithm, hashAlgorithms))
	}
	if h.Value == nil {
		res = append(res, oaerrors.Required("data.hash.value", "body", nil))
	}
	if len(res) > 0 {
		return oaerrors.CompositeValidationError(res...)
	}
	return nil
}

func (sig *signatureSpec) validate() error {
	var res []error
	if sig.Content == nil {
		res = append(res, oaerrors.Required("signature.content", "body", nil))
	}
	if sig.Format == nil {
		res = append(res, oaerrors.Required("signature.format", "body", nil))
	} else if !inEnum(*sig.Format, formatEnum) {
		res = append(res, oaerrors.EnumFail("signature.format", "body", *sig.Format, formatEnum))
	}
	if sig.PublicKey == nil {
		res = append(res, oaerrors.Required("signature.publicKey", "body", nil))
	} else if sig.PublicKey.Content == nil {
		err := oaerrors.CompositeValidationError(oaerrors.Required("signature.publicKey.content", "body", nil))
		res = append(res, validateName(err, "signature.publicKey"))
	}
	if len(res) > 0 {
		return oaerrors.CompositeValidationError(res...)
	}
	return nil
}

func inEnum(v string, enum []any) bool {
	for _, e := range enum {
		if e == v {
			return true
		}
	}
	return false
}

// validateName is the generated code's step after a nested Validate: the
// first *errors.Validation found in the error tree (CompositeError unwraps to
// its errors) is renamed and returned alone, else the first CompositeError.
// So a nested object reports only its first failure, as Rekor does.
func validateName(err error, name string) error {
	var ve *oaerrors.Validation
	if errors.As(err, &ve) {
		return ve.ValidateName(name)
	}
	var ce *oaerrors.CompositeError
	if errors.As(err, &ce) {
		return ce.ValidateName(name)
	}
	return err
}
