package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	oaerrors "github.com/go-openapi/errors"
)

func ptr(s string) *string { return &s }

func TestDecodeObject(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantErr string
		check   func(t *testing.T, m map[string]any)
	}{
		{name: "object", raw: `{"a":"b","n":1.50}`, check: func(t *testing.T, m map[string]any) {
			if m["a"] != "b" {
				t.Errorf("a = %v", m["a"])
			}
			// Numbers stay json.Number, as go-openapi decodes them.
			if n, ok := m["n"].(json.Number); !ok || n != "1.50" {
				t.Errorf("n = %#v, want json.Number(\"1.50\")", m["n"])
			}
		}},
		{name: "empty object", raw: ` {} `},
		{name: "trailing value", raw: `{} 1`, wantErr: "decoding spec: trailing data after JSON value"},
		{name: "two objects", raw: `{}{}`, wantErr: "decoding spec: trailing data after JSON value"},
		{name: "array", raw: `[1]`, wantErr: "unsupported input type []interface {} for DecodeEntry"},
		{name: "string", raw: `"x"`, wantErr: "unsupported input type string for DecodeEntry"},
		{name: "null", raw: `null`, wantErr: "unsupported input type <nil> for DecodeEntry"},
		{name: "truncated", raw: `{`, wantErr: "decoding spec: unexpected EOF"},
		{name: "empty", raw: ``, wantErr: "decoding spec: EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeObject([]byte(tt.raw))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m == nil {
				t.Fatal("nil map for an object")
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		in   any
		want *string
	}{
		{"x", ptr("x")},
		{"", ptr("")},
		{nil, nil},
		{json.Number("1"), nil},
		{true, nil},
		{map[string]any{}, nil},
	}
	for _, tt := range tests {
		got := String(tt.in)
		if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
			t.Errorf("String(%#v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestBase64(t *testing.T) {
	tests := []struct {
		name        string
		in          any
		want        []byte // nil: absent
		wantPresent []byte // Base64Present's result; nil: absent
		wantErr     string
	}{
		{name: "absent", in: nil},
		{name: "not a string", in: json.Number("12")},
		{name: "object", in: map[string]any{"a": "b"}},
		{name: "empty string", in: "", want: nil, wantPresent: []byte{}},
		{name: "valid", in: "aGk=", want: []byte("hi"), wantPresent: []byte("hi")},
		{name: "line breaks ignored", in: "aG\nk=\r\n", want: []byte("hi"), wantPresent: []byte("hi")},
		{name: "only a line break", in: "\n", want: []byte{}, wantPresent: []byte{}},
		{name: "missing padding", in: "aGk", wantErr: "failed parsing base64 data for the field: illegal base64 data at input byte 0"},
		{name: "url alphabet", in: "-_8=", wantErr: "failed parsing base64 data for the field: illegal base64 data at input byte 0"},
		{name: "bad byte", in: "aG!k", wantErr: "failed parsing base64 data for the field: illegal base64 data at input byte 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range []struct {
				name string
				fn   func(any, string) ([]byte, error)
				want []byte
			}{{"Base64", Base64, tt.want}, {"Base64Present", Base64Present, tt.wantPresent}} {
				got, err := f.fn(tt.in, "the field")
				if tt.wantErr != "" {
					if err == nil || err.Error() != tt.wantErr {
						t.Errorf("%s: err = %v, want %q", f.name, err, tt.wantErr)
					}
					if got != nil {
						t.Errorf("%s: got %q with an error", f.name, got)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", f.name, err)
					continue
				}
				if (got == nil) != (f.want == nil) || !bytes.Equal(got, f.want) {
					t.Errorf("%s = %#v, want %#v", f.name, got, f.want)
				}
			}
		})
	}
}

func TestDecodeHash(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want *Hash
	}{
		{name: "absent", in: nil},
		{name: "not an object", in: "sha256"},
		{name: "array", in: []any{}},
		{name: "empty object", in: map[string]any{}, want: &Hash{}},
		{name: "both", in: map[string]any{"algorithm": "sha256", "value": "ab"}, want: &Hash{Algorithm: ptr("sha256"), Value: ptr("ab")}},
		{name: "wrong types are absent", in: map[string]any{"algorithm": json.Number("1"), "value": false}, want: &Hash{}},
		{name: "empty strings are present", in: map[string]any{"algorithm": "", "value": ""}, want: &Hash{Algorithm: ptr(""), Value: ptr("")}},
	}
	eq := func(a, b *string) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DecodeHash(tt.in)
			if (got == nil) != (tt.want == nil) {
				t.Fatalf("DecodeHash = %+v, want %+v", got, tt.want)
			}
			if got != nil && (!eq(got.Algorithm, tt.want.Algorithm) || !eq(got.Value, tt.want.Value)) {
				t.Errorf("DecodeHash = {%v %v}, want {%v %v}", got.Algorithm, got.Value, tt.want.Algorithm, tt.want.Value)
			}
		})
	}
}

// TestHashValidate pins the messages, alone and after the caller's
// ValidateName (the text Rekor returns for a nested hash object).
func TestHashValidate(t *testing.T) {
	enum := []any{"sha256", "sha384"}
	tests := []struct {
		name      string
		h         Hash
		want      string // "" for valid
		wantNamed string
	}{
		{name: "valid", h: Hash{Algorithm: ptr("sha384"), Value: ptr("")}},
		{
			name:      "empty",
			want:      "validation failure list:\ndata.hash.algorithm in body is required\ndata.hash.value in body is required",
			wantNamed: "data.hash.data.hash.algorithm in body is required",
		},
		{
			name:      "not in enum, no value",
			h:         Hash{Algorithm: ptr("sha1")},
			want:      "validation failure list:\ndata.hash.algorithm in body should be one of [sha256 sha384]\ndata.hash.value in body is required",
			wantNamed: "data.hash.data.hash.algorithm in body should be one of [sha256 sha384]",
		},
		{
			name:      "no value",
			h:         Hash{Algorithm: ptr("sha256")},
			want:      "validation failure list:\ndata.hash.value in body is required",
			wantNamed: "data.hash.data.hash.value in body is required",
		},
		{
			name:      "case matters",
			h:         Hash{Algorithm: ptr("SHA256"), Value: ptr("ab")},
			want:      "validation failure list:\ndata.hash.algorithm in body should be one of [sha256 sha384]",
			wantNamed: "data.hash.data.hash.algorithm in body should be one of [sha256 sha384]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.h.Validate("data.hash", enum)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Validate = %q, want %q", err, tt.want)
			}
			if got := ValidateName(err, "data.hash").Error(); got != tt.wantNamed {
				t.Errorf("ValidateName = %q, want %q", got, tt.wantNamed)
			}
		})
	}
}

func TestInEnum(t *testing.T) {
	enum := []any{"pgp", "x509"}
	tests := []struct {
		v    string
		enum []any
		want bool
	}{
		{"pgp", enum, true},
		{"x509", enum, true},
		{"ssh", enum, false},
		{"", enum, false},
		{"PGP", enum, false},
		{"pgp", nil, false},
		{"1", []any{1}, false}, // only strings match
	}
	for _, tt := range tests {
		if got := InEnum(tt.v, tt.enum); got != tt.want {
			t.Errorf("InEnum(%q, %v) = %v, want %v", tt.v, tt.enum, got, tt.want)
		}
	}
}

func TestComposite(t *testing.T) {
	if err := Composite(nil); err != nil {
		t.Errorf("Composite(nil) = %v", err)
	}
	if err := Composite([]error{}); err != nil {
		t.Errorf("Composite(empty) = %v", err)
	}
	err := Composite([]error{oaerrors.Required("a", "body", nil), oaerrors.Required("b", "body", nil)})
	var ce *oaerrors.CompositeError
	if !errors.As(err, &ce) || len(ce.Errors) != 2 {
		t.Fatalf("Composite = %#v, want a CompositeError of 2", err)
	}
	if want := "validation failure list:\na in body is required\nb in body is required"; err.Error() != want {
		t.Errorf("Composite = %q, want %q", err, want)
	}
}

func TestValidateName(t *testing.T) {
	plain := errors.New("plain")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "first validation of a composite only", err: oaerrors.CompositeValidationError(
			oaerrors.Required("publicKey", "body", nil), oaerrors.Required("sig", "body", nil)),
			want: "content.envelope.signatures.0.publicKey in body is required"},
		{name: "a bare validation", err: oaerrors.TooFewItems("verifiers", "body", 1, 0),
			want: "content.envelope.signatures.0.verifiers in body should have at least 1 items"},
		{name: "nested composite: first validation found depth-first", err: oaerrors.CompositeValidationError(
			oaerrors.CompositeValidationError(oaerrors.Required("x.a", "body", nil)), oaerrors.Required("x.b", "body", nil)),
			want: "content.envelope.signatures.0.x.a in body is required"},
		{name: "not a go-openapi error", err: plain, want: "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ValidateName(tt.err, "content.envelope.signatures.0")
			if got == nil || got.Error() != tt.want {
				t.Errorf("ValidateName = %q, want %q", got, tt.want)
			}
		})
	}
	if got := ValidateName(plain, "p"); got != plain {
		t.Errorf("ValidateName changed a plain error: %v", got)
	}
}

// FuzzDecodeObject: DecodeObject reads untrusted proposals; it must not
// panic, and it returns an object exactly when it returns no error.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,{"b":null}]}`, `{} {}`, `[]`, `null`, `{`, `{"n":1e999}`, "\ufeff{}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := DecodeObject(raw)
		if (err == nil) != (m != nil) {
			t.Fatalf("DecodeObject(%q) = %v, %v", raw, m, err)
		}
	})
}
