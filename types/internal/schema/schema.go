// Package schema holds the steps the entry types share to mirror Rekor's
// go-swagger generated models: the lenient generic decoding of a spec (a
// field of the wrong JSON type counts as absent), base64 fields with Tabula's
// messages, the {"algorithm","value"} hash object, and go-openapi's error
// nesting (ValidateName, CompositeValidationError) so that every message is
// Rekor's. Only logic that is the same for every kind lives here; what
// differs by kind stays in the kind's package.
package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	oaerrors "github.com/go-openapi/errors"
)

// DecodeObject decodes raw generically (numbers as json.Number, as go-openapi
// does for the polymorphic ProposedEntry) and requires a single JSON object,
// as Rekor's DecodeEntry does.
func DecodeObject(raw []byte) (map[string]any, error) {
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

// String is a lenient string field: a pointer to v when it is a JSON
// string (the empty string included), else nil.
func String(v any) *string {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	return &s
}

// Base64 decodes a base64 field as Rekor's DecodeEntry does for a
// strfmt.Base64 value: standard alphabet with padding, line breaks ignored.
// A value that is not a JSON string, or is the empty string, is absent (nil,
// no error). A decoded field is never nil. what names the field in the error.
func Base64(v any, what string) ([]byte, error) {
	if s, ok := v.(string); !ok || s == "" {
		return nil, nil
	}
	return Base64Present(v, what)
}

// Base64Present is Base64 for a field where any JSON string is present (as
// intoto's "sig" and "publicKey" are): the empty string decodes to an empty,
// non-nil slice. A value that is not a JSON string is absent (nil, no error).
func Base64Present(v any, what string) ([]byte, error) {
	s, ok := v.(string)
	if !ok {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("failed parsing base64 data for %s: %w", what, err)
	}
	return b, nil
}

// Hash is a {"algorithm","value"} hash object; nil fields were absent or not
// strings.
type Hash struct {
	Algorithm *string
	Value     *string
}

// DecodeHash is the lenient decoding of a hash object: nil when v is not a
// JSON object.
func DecodeHash(v any) *Hash {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	return &Hash{Algorithm: String(m["algorithm"]), Value: String(m["value"])}
}

// Validate is a generated hash object's Validate, the object at path:
// algorithm required and one of enum, value required; all failures are
// collected in the generated order.
func (h *Hash) Validate(path string, enum []any) error {
	var res []error
	if h.Algorithm == nil {
		res = append(res, oaerrors.Required(path+".algorithm", "body", nil))
	} else if !InEnum(*h.Algorithm, enum) {
		res = append(res, oaerrors.EnumFail(path+".algorithm", "body", *h.Algorithm, enum))
	}
	if h.Value == nil {
		res = append(res, oaerrors.Required(path+".value", "body", nil))
	}
	return Composite(res)
}

// InEnum reports whether v is one of enum's strings.
func InEnum(v string, enum []any) bool {
	for _, e := range enum {
		if e == v {
			return true
		}
	}
	return false
}

// Composite is the generated Validate's ending: nil when res is empty, else
// one CompositeValidationError of res.
func Composite(res []error) error {
	if len(res) > 0 {
		return oaerrors.CompositeValidationError(res...)
	}
	return nil
}

// ValidateName is the generated code's step after a nested Validate
// ("ve := new(errors.Validation); if stderrors.As(err, &ve) ..."): the first
// *errors.Validation in the error tree (a CompositeError unwraps to its
// errors) is renamed and returned alone, else the first CompositeError. So a
// nested object reports only its first failure, one level deep, as Rekor does.
func ValidateName(err error, name string) error {
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
