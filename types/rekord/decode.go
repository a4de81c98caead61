package rekord

import (
	"fmt"

	oaerrors "github.com/go-openapi/errors"

	"github.com/tabularium/tabula/types/internal/schema"
)

// spec mirrors Rekor's models.RekordV001Schema: pointers are nil when the
// field was absent (or of the wrong JSON type, which Rekor treats alike).
type spec struct {
	Data      *dataSpec
	Signature *signatureSpec
}

type dataSpec struct {
	Hash    *schema.Hash
	Content []byte
}

type signatureSpec struct {
	Format    *string
	Content   []byte
	PublicKey *publicKeySpec
}

type publicKeySpec struct {
	Content []byte
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

// decodeSpec is Rekor's rekord DecodeEntry: the spec is decoded generically
// (numbers as json.Number, as go-openapi does for the polymorphic
// ProposedEntry), then picked apart leniently; unknown fields are ignored.
// URL fields are refused first (see errURL).
func decodeSpec(raw []byte) (*spec, error) {
	mm, err := schema.DecodeObject(raw)
	if err != nil {
		return nil, err
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
	if sigRaw != nil {
		s.Signature = &signatureSpec{Format: schema.String(sigRaw["format"])}
		if s.Signature.Content, err = schema.Base64(sigRaw["content"], "signature content"); err != nil {
			return nil, err
		}
		if pkRaw != nil {
			s.Signature.PublicKey = &publicKeySpec{}
			if s.Signature.PublicKey.Content, err = schema.Base64(pkRaw["content"], "signature publicKey content"); err != nil {
				return nil, err
			}
		}
	}
	if dataRaw != nil {
		s.Data = &dataSpec{Hash: schema.DecodeHash(dataRaw["hash"])}
		if s.Data.Content, err = schema.Base64(dataRaw["content"], "data content"); err != nil {
			return nil, err
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
		res = append(res, schema.ValidateName(err, "data"))
	}
	if s.Signature == nil {
		res = append(res, oaerrors.Required("signature", "body", nil))
	} else if err := s.Signature.validate(); err != nil {
		res = append(res, schema.ValidateName(err, "signature"))
	}
	return schema.Composite(res)
}

func (d *dataSpec) validate() error {
	if d.Hash == nil { // not required
		return nil
	}
	if err := d.Hash.Validate("data.hash", hashAlgorithms); err != nil {
		// RekordV001SchemaData.Validate collects validateHash's error.
		return oaerrors.CompositeValidationError(schema.ValidateName(err, "data.hash"))
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
	} else if !schema.InEnum(*sig.Format, formatEnum) {
		res = append(res, oaerrors.EnumFail("signature.format", "body", *sig.Format, formatEnum))
	}
	if sig.PublicKey == nil {
		res = append(res, oaerrors.Required("signature.publicKey", "body", nil))
	} else if sig.PublicKey.Content == nil {
		err := oaerrors.CompositeValidationError(oaerrors.Required("signature.publicKey.content", "body", nil))
		res = append(res, schema.ValidateName(err, "signature.publicKey"))
	}
	return schema.Composite(res)
}
