package dsse

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	oaerrors "github.com/go-openapi/errors"
)

// spec mirrors Rekor's models.DSSEV001Schema: pointers and slices are nil when
// the field was absent or of the wrong JSON type (Rekor's DecodeEntry treats
// both alike).
type spec struct {
	ProposedContent *proposedContent
	Signatures      []*signatureItem // server-side field
	EnvelopeHash    *hashSpec        // server-side field
	PayloadHash     *hashSpec        // server-side field
}

type proposedContent struct {
	Envelope  *string
	Verifiers [][]byte // nil when absent; empty (non-nil) for [] or no usable item
}

type signatureItem struct {
	Signature *string
	Verifier  []byte // nil when absent
}

type hashSpec struct {
	Algorithm *string
	Value     *string
}

// decodeSpec is Rekor's dsse v0.0.1 DecodeEntry: the spec is decoded
// generically, then picked apart leniently. Verifier items that are not
// strings, or are empty, are skipped; signature items that are not objects are
// skipped. Base64 is standard with padding.
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
	if pc, ok := mm["proposedContent"].(map[string]any); ok {
		s.ProposedContent = &proposedContent{}
		if env, ok := pc["envelope"].(string); ok {
			s.ProposedContent.Envelope = &env
		}
		if vs, ok := pc["verifiers"].([]any); ok {
			s.ProposedContent.Verifiers = make([][]byte, 0, len(vs))
			for _, it := range vs {
				str, ok := it.(string)
				if !ok || str == "" {
					continue
				}
				b, err := base64.StdEncoding.DecodeString(str)
				if err != nil {
					return nil, fmt.Errorf("failed parsing base64 data for verifier: %w", err)
				}
				s.ProposedContent.Verifiers = append(s.ProposedContent.Verifiers, b)
			}
		}
	}
	if sigs, ok := mm["signatures"].([]any); ok {
		s.Signatures = make([]*signatureItem, 0, len(sigs))
		for _, it := range sigs {
			sm, ok := it.(map[string]any)
			if !ok {
				continue
			}
			item := &signatureItem{}
			if sig, ok := sm["signature"].(string); ok {
				item.Signature = &sig
			}
			if vr, ok := sm["verifier"].(string); ok && vr != "" {
				b, err := base64.StdEncoding.DecodeString(vr)
				if err != nil {
					return nil, fmt.Errorf("failed parsing base64 data for signature verifier: %w", err)
				}
				item.Verifier = b
			}
			s.Signatures = append(s.Signatures, item)
		}
	}
	s.EnvelopeHash = decodeHash(mm["envelopeHash"])
	s.PayloadHash = decodeHash(mm["payloadHash"])
	return &s, nil
}

func decodeHash(v any) *hashSpec {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	h := &hashSpec{}
	if alg, ok := m["algorithm"].(string); ok {
		h.Algorithm = &alg
	}
	if val, ok := m["value"].(string); ok {
		h.Value = &val
	}
	return h
}

// signaturePattern is the schema's pattern for signatures[].signature, as the
// generated code writes it.
const signaturePattern = `^(?:[A-Za-z0-9+\/]{4})*(?:[A-Za-z0-9+\/]{2}==|[A-Za-z0-9+\/]{3}=|[A-Za-z0-9+\/]{4})$`

var signatureRE = regexp.MustCompile(signaturePattern)

// validateSchema is the go-swagger generated DSSEV001Schema.Validate, rebuilt
// on go-openapi/errors so that its messages (the repeated property paths
// included) are Rekor's. Properties are checked in the generated order:
// envelopeHash, payloadHash, proposedContent, signatures. The schema's oneOf
// is not checked here (the generated code does not either); Canonicalize does
// it by hand, as Rekor's Unmarshal does.
func (s *spec) validateSchema() error {
	var res []error
	if s.EnvelopeHash != nil {
		if err := s.EnvelopeHash.validate("envelopeHash"); err != nil {
			res = append(res, validateName(err, "envelopeHash"))
		}
	}
	if s.PayloadHash != nil {
		if err := s.PayloadHash.validate("payloadHash"); err != nil {
			res = append(res, validateName(err, "payloadHash"))
		}
	}
	if s.ProposedContent != nil {
		if err := s.ProposedContent.validate(); err != nil {
			res = append(res, validateName(err, "proposedContent"))
		}
	}
	if err := validateSignatures(s.Signatures); err != nil {
		res = append(res, err)
	}
	if len(res) > 0 {
		return oaerrors.CompositeValidationError(res...)
	}
	return nil
}

func (h *hashSpec) validate(path string) error {
	var res []error
	if h.Algorithm == nil {
		res = append(res, oaerrors.Required(path+".algorithm", "body", nil))
	} else if *h.Algorithm != "sha256" {
		res = append(res, oaerrors.EnumFail(path+".algorithm", "body", *h.Algorithm, []any{"sha256"}))
	}
	if h.Value == nil {
		res = append(res, oaerrors.Required(path+".value", "body", nil))
	}
	if len(res) > 0 {
		return oaerrors.CompositeValidationError(res...)
	}
	return nil
}

func (p *proposedContent) validate() error {
	var res []error
	if p.Envelope == nil {
		res = append(res, oaerrors.Required("proposedContent.envelope", "body", nil))
	}
	if p.Verifiers == nil {
		res = append(res, oaerrors.Required("proposedContent.verifiers", "body", nil))
	} else if len(p.Verifiers) < 1 {
		res = append(res, oaerrors.TooFewItems("proposedContent.verifiers", "body", 1, int64(len(p.Verifiers))))
	}
	if len(res) > 0 {
		return oaerrors.CompositeValidationError(res...)
	}
	return nil
}

// validateSignatures is the generated validateSignatures: absent is fine, an
// empty list is too few, and the first bad item ends the check.
func validateSignatures(sigs []*signatureItem) error {
	if sigs == nil {
		return nil
	}
	if len(sigs) < 1 {
		return oaerrors.TooFewItems("signatures", "body", 1, int64(len(sigs)))
	}
	for i, it := range sigs {
		if err := it.validate(); err != nil {
			return validateName(err, "signatures."+strconv.Itoa(i))
		}
	}
	return nil
}

func (it *signatureItem) validate() error {
	var res []error
	if it.Signature == nil {
		res = append(res, oaerrors.Required("signature", "body", nil))
	} else if !signatureRE.MatchString(*it.Signature) {
		res = append(res, oaerrors.FailedPattern("signature", "body", signaturePattern, *it.Signature))
	}
	if it.Verifier == nil {
		res = append(res, oaerrors.Required("verifier", "body", nil))
	}
	if len(res) > 0 {
		return oaerrors.CompositeValidationError(res...)
	}
	return nil
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
