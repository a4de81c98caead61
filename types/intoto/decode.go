package intoto

import (
	"strconv"

	oaerrors "github.com/go-openapi/errors"

	"github.com/tabularium/tabula/types/internal/schema"
)

// spec002 mirrors Rekor's models.IntotoV002Schema as its DecodeEntry fills
// it: content and content.envelope always exist (Rekor's decoder creates
// them), other pointers and slices are nil when absent or of the wrong JSON
// type.
type spec002 struct {
	Payload     []byte // decoded "payload": the DSSE payload's base64 text
	PayloadType *string
	Signatures  []*sig002 // nil when absent or not an array
	Hash        *schema.Hash
	PayloadHash *schema.Hash
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
	Hash        *schema.Hash
	PayloadHash *schema.Hash
}

// decodeSpec002 is Rekor's intoto v0.0.2 DecodeEntry. Standard base64 with
// padding; an empty "payload" counts as absent; non-object signature items
// are skipped.
func decodeSpec002(raw []byte) (*spec002, error) {
	mm, err := schema.DecodeObject(raw)
	if err != nil {
		return nil, err
	}
	s := &spec002{}
	c, ok := mm["content"].(map[string]any)
	if !ok {
		return s, nil
	}
	if env, ok := c["envelope"].(map[string]any); ok {
		s.PayloadType = schema.String(env["payloadType"])
		if s.Payload, err = schema.Base64(env["payload"], "payload"); err != nil {
			return nil, err
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
				// Unlike payload, an empty "sig" or "publicKey" string is
				// present (an empty, non-nil slice).
				if item.Sig, err = schema.Base64Present(sm["sig"], "signature"); err != nil {
					return nil, err
				}
				if item.PublicKey, err = schema.Base64Present(sm["publicKey"], "public key"); err != nil {
					return nil, err
				}
				s.Signatures = append(s.Signatures, item)
			}
		}
	}
	s.Hash = schema.DecodeHash(c["hash"])
	s.PayloadHash = schema.DecodeHash(c["payloadHash"])
	return s, nil
}

// decodeSpec001 decodes an intoto v0.0.1 spec in the same lenient way.
func decodeSpec001(raw []byte) (*spec001, error) {
	mm, err := schema.DecodeObject(raw)
	if err != nil {
		return nil, err
	}
	s := &spec001{}
	if c, ok := mm["content"].(map[string]any); ok {
		s.Content = &content001{}
		if env, ok := c["envelope"].(string); ok {
			s.Content.Envelope = env
		}
		s.Content.Hash = schema.DecodeHash(c["hash"])
		s.Content.PayloadHash = schema.DecodeHash(c["payloadHash"])
	}
	if s.PublicKey, err = schema.Base64Present(mm["publicKey"], "public key"); err != nil {
		return nil, err
	}
	return s, nil
}

// sha256Enum is the schema's enum for a hash object's algorithm.
var sha256Enum = []any{"sha256"}

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
		content = append(content, schema.ValidateName(oaerrors.CompositeValidationError(env...), "content.envelope"))
	}
	if s.Hash != nil {
		if err := s.Hash.Validate("content.hash", sha256Enum); err != nil {
			content = append(content, schema.ValidateName(err, "content.hash"))
		}
	}
	if s.PayloadHash != nil {
		if err := s.PayloadHash.Validate("content.payloadHash", sha256Enum); err != nil {
			content = append(content, schema.ValidateName(err, "content.payloadHash"))
		}
	}
	if len(content) > 0 {
		return oaerrors.CompositeValidationError(
			schema.ValidateName(oaerrors.CompositeValidationError(content...), "content"))
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
			return schema.ValidateName(oaerrors.CompositeValidationError(res...), path+"."+strconv.Itoa(i))
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
			if err := s.Content.Hash.Validate("content.hash", sha256Enum); err != nil {
				content = append(content, schema.ValidateName(err, "content.hash"))
			}
		}
		if s.Content.PayloadHash != nil {
			if err := s.Content.PayloadHash.Validate("content.payloadHash", sha256Enum); err != nil {
				content = append(content, schema.ValidateName(err, "content.payloadHash"))
			}
		}
		if len(content) > 0 {
			res = append(res, schema.ValidateName(oaerrors.CompositeValidationError(content...), "content"))
		}
	}
	if s.PublicKey == nil {
		res = append(res, oaerrors.Required("publicKey", "body", nil))
	}
	return schema.Composite(res)
}
