package dsse

import (
	"regexp"
	"strconv"

	oaerrors "github.com/go-openapi/errors"

	"github.com/tabularium/tabula/types/internal/schema"
)

// spec mirrors Rekor's models.DSSEV001Schema: pointers and slices are nil when
// the field was absent or of the wrong JSON type (Rekor's DecodeEntry treats
// both alike).
type spec struct {
	ProposedContent *proposedContent
	Signatures      []*signatureItem // server-side field
	EnvelopeHash    *schema.Hash     // server-side field
	PayloadHash     *schema.Hash     // server-side field
}

type proposedContent struct {
	Envelope  *string
	Verifiers [][]byte // nil when absent; empty (non-nil) for [] or no usable item
}

type signatureItem struct {
	Signature *string
	Verifier  []byte // nil when absent
}

// decodeSpec is Rekor's dsse v0.0.1 DecodeEntry: the spec is decoded
// generically, then picked apart leniently. Verifier items that are not
// strings, or are empty, are skipped; signature items that are not objects are
// skipped. Base64 is standard with padding.
func decodeSpec(raw []byte) (*spec, error) {
	mm, err := schema.DecodeObject(raw)
	if err != nil {
		return nil, err
	}
	var s spec
	if pc, ok := mm["proposedContent"].(map[string]any); ok {
		s.ProposedContent = &proposedContent{Envelope: schema.String(pc["envelope"])}
		if vs, ok := pc["verifiers"].([]any); ok {
			s.ProposedContent.Verifiers = make([][]byte, 0, len(vs))
			for _, it := range vs {
				b, err := schema.Base64(it, "verifier")
				if err != nil {
					return nil, err
				}
				if b != nil {
					s.ProposedContent.Verifiers = append(s.ProposedContent.Verifiers, b)
				}
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
			item := &signatureItem{Signature: schema.String(sm["signature"])}
			if item.Verifier, err = schema.Base64(sm["verifier"], "signature verifier"); err != nil {
				return nil, err
			}
			s.Signatures = append(s.Signatures, item)
		}
	}
	s.EnvelopeHash = schema.DecodeHash(mm["envelopeHash"])
	s.PayloadHash = schema.DecodeHash(mm["payloadHash"])
	return &s, nil
}

// signaturePattern is the schema's pattern for signatures[].signature, as the
// generated code writes it.
const signaturePattern = `^(?:[A-Za-z0-9+\/]{4})*(?:[A-Za-z0-9+\/]{2}==|[A-Za-z0-9+\/]{3}=|[A-Za-z0-9+\/]{4})$`

var signatureRE = regexp.MustCompile(signaturePattern)

// sha256Enum is the schema's enum for envelopeHash and payloadHash algorithm.
var sha256Enum = []any{"sha256"}

// validateSchema is the go-swagger generated DSSEV001Schema.Validate, rebuilt
// on go-openapi/errors so that its messages (the repeated property paths
// included) are Rekor's. Properties are checked in the generated order:
// envelopeHash, payloadHash, proposedContent, signatures. The schema's oneOf
// is not checked here (the generated code does not either); Canonicalize does
// it by hand, as Rekor's Unmarshal does.
func (s *spec) validateSchema() error {
	var res []error
	if s.EnvelopeHash != nil {
		if err := s.EnvelopeHash.Validate("envelopeHash", sha256Enum); err != nil {
			res = append(res, schema.ValidateName(err, "envelopeHash"))
		}
	}
	if s.PayloadHash != nil {
		if err := s.PayloadHash.Validate("payloadHash", sha256Enum); err != nil {
			res = append(res, schema.ValidateName(err, "payloadHash"))
		}
	}
	if s.ProposedContent != nil {
		if err := s.ProposedContent.validate(); err != nil {
			res = append(res, schema.ValidateName(err, "proposedContent"))
		}
	}
	if err := validateSignatures(s.Signatures); err != nil {
		res = append(res, err)
	}
	return schema.Composite(res)
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
	return schema.Composite(res)
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
			return schema.ValidateName(err, "signatures."+strconv.Itoa(i))
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
	return schema.Composite(res)
}
