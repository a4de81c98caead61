package hashedrekord

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	oaerrors "github.com/go-openapi/errors"
	"github.com/go-openapi/strfmt"
)

// spec mirrors Rekor's models.HashedrekordV001Schema: pointers are nil when
// the field was absent (or of the wrong JSON type, which Rekor treats alike).
type spec struct {
	Data      *dataSpec
	Signature *signatureSpec
}

type dataSpec struct {
	Hash *hashSpec
}

type hashSpec struct {
	Algorithm *string
	Value     *string
}

type signatureSpec struct {
	Content   strfmt.Base64
	PublicKey *publicKeySpec
}

type publicKeySpec struct {
	Content strfmt.Base64
}

// decodeSpec is Rekor's hashedrekord DecodeEntry: the spec is first decoded
// generically (as go-openapi does for the polymorphic ProposedEntry, numbers
// as json.Number), then picked apart leniently. A "data" object without a
// "hash" object leaves Data nil, exactly as Rekor's decoder does.
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
	var s spec
	if sigRaw, ok := mm["signature"].(map[string]any); ok {
		s.Signature = &signatureSpec{}
		if c, ok := sigRaw["content"].(string); ok && c != "" {
			if err := s.Signature.Content.UnmarshalText([]byte(c)); err != nil {
				return nil, fmt.Errorf("failed parsing base64 data for signature content: %w", err)
			}
		}
		if pkRaw, ok := sigRaw["publicKey"].(map[string]any); ok {
			s.Signature.PublicKey = &publicKeySpec{}
			if c, ok := pkRaw["content"].(string); ok && c != "" {
				if err := s.Signature.PublicKey.Content.UnmarshalText([]byte(c)); err != nil {
					return nil, fmt.Errorf("failed parsing base64 data for public key content: %w", err)
				}
			}
		}
	}
	if dataRaw, ok := mm["data"].(map[string]any); ok {
		if hRaw, ok := dataRaw["hash"].(map[string]any); ok {
			s.Data = &dataSpec{Hash: &hashSpec{}}
			if alg, ok := hRaw["algorithm"].(string); ok {
				s.Data.Hash.Algorithm = &alg
			}
			if val, ok := hRaw["value"].(string); ok {
				s.Data.Hash.Value = &val
			}
		}
	}
	return &s, nil
}

// validateSchema is the go-swagger generated HashedrekordV001Schema.Validate,
// rebuilt on go-openapi/errors so that its messages (nesting and the repeated
// property paths go-swagger's ValidateName produces included) are Rekor's.
func (s *spec) validateSchema() error {
	var res []error
	if s.Data == nil {
		res = append(res, oaerrors.Required("data", "body", nil))
	} else if err := s.Data.validate(); err != nil {
		res = append(res, validateName(err, "data"))
	}
	if s.Signature == nil {
		res = append(res, oaerrors.Required("signature", "body", nil))
	}
	// Signature.Validate only descends into publicKey, which has no rules.
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
		return oaerrors.CompositeValidationError(validateName(err, "data.hash"))
	}
	return nil
}

func (h *hashSpec) validate() error {
	var res []error
	if h.Algorithm == nil {
		res = append(res, oaerrors.Required("data.hash.algorithm", "body", nil))
	} else if !knownAlgorithm(*h.Algorithm) {
		enum := make([]any, len(hashAlgorithms))
		for i, a := range hashAlgorithms {
			enum[i] = a.name
		}
		res = append(res, oaerrors.EnumFail("data.hash.algorithm", "body", *h.Algorithm, enum))
	}
	if h.Value == nil {
		res = append(res, oaerrors.Required("data.hash.value", "body", nil))
	}
	if len(res) > 0 {
		return oaerrors.CompositeValidationError(res...)
	}
	return nil
}

func knownAlgorithm(name string) bool {
	for _, a := range hashAlgorithms {
		if a.name == name {
			return true
		}
	}
	return false
}

// validateName is the generated code's step after a nested Validate
// ("ve := new(errors.Validation); if stderrors.As(err, &ve) ..."): the first
// *errors.Validation in the error tree (a CompositeError unwraps to its
// errors) is renamed and returned alone, else the first CompositeError. So a
// nested object reports only its first failure, one level deep, as Rekor does.
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
