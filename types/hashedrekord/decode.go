package hashedrekord

import (
	oaerrors "github.com/go-openapi/errors"
	"github.com/go-openapi/strfmt"

	"github.com/tabularium/tabula/types/internal/schema"
)

// spec mirrors Rekor's models.HashedrekordV001Schema: pointers are nil when
// the field was absent (or of the wrong JSON type, which Rekor treats alike).
type spec struct {
	Data      *dataSpec
	Signature *signatureSpec
}

type dataSpec struct {
	Hash *schema.Hash
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
	mm, err := schema.DecodeObject(raw)
	if err != nil {
		return nil, err
	}
	var s spec
	if sigRaw, ok := mm["signature"].(map[string]any); ok {
		s.Signature = &signatureSpec{}
		if s.Signature.Content, err = schema.Base64(sigRaw["content"], "signature content"); err != nil {
			return nil, err
		}
		if pkRaw, ok := sigRaw["publicKey"].(map[string]any); ok {
			s.Signature.PublicKey = &publicKeySpec{}
			if s.Signature.PublicKey.Content, err = schema.Base64(pkRaw["content"], "public key content"); err != nil {
				return nil, err
			}
		}
	}
	if dataRaw, ok := mm["data"].(map[string]any); ok {
		if h := schema.DecodeHash(dataRaw["hash"]); h != nil {
			s.Data = &dataSpec{Hash: h}
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
		res = append(res, schema.ValidateName(err, "data"))
	}
	if s.Signature == nil {
		res = append(res, oaerrors.Required("signature", "body", nil))
	}
	// Signature.Validate only descends into publicKey, which has no rules.
	return schema.Composite(res)
}

func (d *dataSpec) validate() error {
	if d.Hash == nil { // not required
		return nil
	}
	if err := d.Hash.Validate("data.hash", hashAlgorithmEnum()); err != nil {
		return oaerrors.CompositeValidationError(schema.ValidateName(err, "data.hash"))
	}
	return nil
}

// hashAlgorithmEnum is the schema's enum for data.hash.algorithm, in order.
func hashAlgorithmEnum() []any {
	enum := make([]any, len(hashAlgorithms))
	for i, a := range hashAlgorithms {
		enum[i] = a.name
	}
	return enum
}
