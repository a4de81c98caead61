package intoto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	oaerrors "github.com/go-openapi/errors"
)

// hashSpec is a {"algorithm","value"} object; nil fields were absent or not
// strings.
type hashSpec struct {
	Algorithm *string
	Value     *string
}

// spec002 mirrors Rekor's models.IntotoV002Schema as its DecodeEntry fills
// it: content and content.envelope always exist (Rekor's decoder creates
// them), other pointers and slices are nil when absent or of the wrong JSON
// type.
type spec002 struct {
	Payload     []byte // decoded "payload": the DSSE payload's base64 text
	PayloadType *string
	Signatures  []*sig002 // nil when absent or not an array
	Hash        *hashSpec
	PayloadHash *hashSpec
}

type sig002 struct {
	KeyID     string
	Sig       []byte // decoded "sig": the DSSE signature's base64 text; nil when absent
	PublicKey []byte // decoded "publicKey": PEM; nil when absent
}

// spec001 mirrors Rekor's models.IntotoV001Schema.
type spec001 struct {
	Content   *content001
	PublicKey []byte // decoded PEM; nil when absent
}

type content001 struct {
	Envelope    string // the DSSE envelope JSON text; "" when absent
	Hash        *hashSpec
	PayloadHash *hashSpec
}

// decodeObject decodes raw generically (numbers as json.Number, as go-openapi
// does for the polymorphic ProposedEntry) and requires an object.
func decodeObject(raw []byte) (map[string]any, error) {
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
	return mm, nil
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

// decodeSpec002 is Rekor's intoto v0.0.2 DecodeEntry. Standard base64 with
// padding; an empty "payload" counts as absent; non-object signature items
// are skipped.
func decodeSpec002(raw []byte) (*spec002, error) {
	mm, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	s := &spec002{}
	c, ok := mm["content"].(map[string]any)
	if !ok {
		return s, nil
	}
	if env, ok := c["envelope"].(map[string]any); ok {
		if pt, ok := env["payloadType"].(string); ok {
			s.PayloadType = &pt
		}
		if p, ok := env["payload"].(string); ok && p != "" {
			b, err := base64.StdEncoding.DecodeString(p)
			if err != nil {
				return nil, fmt.Errorf("failed parsing base64 data for payload: %w", err)
			}
			s.Payload = b
		}
		if sigs, ok := env["signatures"].([]any); ok {
			s.Signatures = make([]*sig002, 0, len(sigs))
			for _, it := range sigs {
				sm, ok := it.(map[string]any)
				if !ok {
					continue
				}
				item := &sig002{}
				if kid, ok := sm["keyid"].(string); ok {
					item.KeyID = kid
				}
				if sig, ok := sm["sig"].(string); ok {
					b, err := base64.StdEncoding.DecodeString(sig)
					if err != nil {
						return nil, fmt.Errorf("failed parsing base64 data for signature: %w", err)
					}
					item.Sig = b
				}
				if pk, ok := sm["publicKey"].(string); ok {
					b, err := base64.StdEncoding.DecodeString(pk)
					if err != nil {
						return nil, fmt.Errorf("failed parsing base64 data for public key: %w", err)
					}
					item.PublicKey = b
				}
				s.Signatures = append(s.Signatures, item)
			}
		}
	}
	s.Hash = decodeHash(c["hash"])
	s.PayloadHash = decodeHash(c["payloadHash"])
	return s, nil
}

// decodeSpec001 decodes an intoto v0.0.1 spec in the same lenient way.
func decodeSpec001(raw []byte) (*spec001, error) {
	mm, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	s := &spec001{}
	if c, ok := mm["content"].(map[string]any); ok {
		s.Content = &content001{}
		if env, ok := c["envelope"].(string); ok {
			s.Content.Envelope = env
		}
		s.Content.Hash = decodeHash(c["hash"])
		s.Content.PayloadHash = decodeHash(c["payloadHash"])
	}
	if pk, ok := mm["publicKey"].(string); ok {
		b, err := base64.StdEncoding.DecodeString(pk)
		if err != nil {
			return nil, fmt.Errorf("failed parsing base64 data for public key: %w", err)
		}
		s.PublicKey = b
	}
	return s, nil
}

// validateSchema is the go-swagger generated IntotoV002Schema.Validate, on
// go-openapi/errors so that the messages (repeated property paths included)
// are Rekor's. "content" and "content.envelope" cannot be missing: Rekor's
// decoder always creates them.
func (s *spec002) validateSchema() error {
	var env []error
	if s.PayloadType == nil {
		env = append(env, oaerrors.Required("content.envelope.payloadType", "body", nil))
	}
	if err := validateSignatures002(s.Signatures); err != nil {
		env = append(env, err)
	}
	var content []error
	if len(env) > 0 {
		content = append(content, validateName(oaerrors.CompositeValidationError(env...), "content.envelope"))
	}
	if s.Hash != nil {
		if err := s.Hash.validate("content.hash"); err != nil {
			content = append(content, validateName(err, "content.hash"))
		}
	}
	if s.PayloadHash != nil {
		if err := s.PayloadHash.validate("content.payloadHash"); err != nil {
			content = append(content, validateName(err, "content.payloadHash"))
		}
	}
	if len(content) > 0 {
		return oaerrors.CompositeValidationError(
			validateName(oaerrors.CompositeValidationError(content...), "content"))
	}
	return nil
}

func validateSignatures002(sigs []*sig002) error {
	const path = "content.envelope.signatures"
	if sigs == nil {
		return oaerrors.Required(path, "body", nil)
	}
	if len(sigs) < 1 {
		return oaerrors.TooFewItems(path, "body", 1, int64(len(sigs)))
	}
	for i, it := range sigs {
		var res []error
		if it.PublicKey == nil {
			res = append(res, oaerrors.Required("publicKey", "body", nil))
		}
		if it.Sig == nil {
			res = append(res, oaerrors.Required("sig", "body", nil))
		}
		if len(res) > 0 {
			return validateName(oaerrors.CompositeValidationError(res...), path+"."+strconv.Itoa(i))
		}
	}
	return nil
}

// validateSchema is the generated IntotoV001Schema.Validate: content and
// publicKey are required; content's hashes are checked when present.
func (s *spec001) validateSchema() error {
	var res []error
	if s.Content == nil {
		res = append(res, oaerrors.Required("content", "body", nil))
	} else {
		var content []error
		if s.Content.Hash != nil {
			if err := s.Content.Hash.validate("content.hash"); err != nil {
				content = append(content, validateName(err, "content.hash"))
			}
		}
		if s.Content.PayloadHash != nil {
			if err := s.Content.PayloadHash.validate("content.payloadHash"); err != nil {
				content = append(content, validateName(err, "content.payloadHash"))
			}
		}
		if len(content) > 0 {
			res = append(res, validateName(oaerrors.CompositeValidationError(content...), "content"))
		}
	}
	if s.PublicKey == nil {
		res = append(res, oaerrors.Required("publicKey", "body", nil))
	}
	if len(res) > 0 {
		return oaerrors.CompositeValidationError(res...)
	}
	return nil
}

// validate is a generated hash object's Validate: algorithm required and
// "sha256", value required.
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
