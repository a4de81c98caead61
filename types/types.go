// Package types is the registry of entry types (kinds) the log accepts.
//
// Each kind lives in its own package under types/ and implements Type. The
// registry is built explicitly in main (no init-time registration) and passed
// down to the API, so which kinds a server accepts is visible in one place.
//
// A Type turns a proposed entry (the JSON a client POSTs) into the canonical
// body that becomes the Merkle leaf, byte for byte as Rekor would produce it,
// after validating it and verifying every signature in it.
package types

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// ErrUnknownKind is returned for a kind the registry does not accept (and by
// a Type handed an apiVersion it does not serve). The v1 API maps it to 422
// as Rekor does.
var ErrUnknownKind = errors.New("unknown kind")

// ErrSchema is returned for a proposed entry that breaks the envelope's
// schema before any kind sees it (a missing or null spec). The v1 API maps
// it to 422, as Rekor's request validation does.
var ErrSchema = errors.New("schema violation")

// InvalidError says the proposed entry is malformed or its signature does not
// verify. The v1 API maps it to 400 "error processing entry: <msg>".
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// Invalidf builds an *InvalidError.
func Invalidf(format string, args ...any) error {
	return &InvalidError{Err: fmt.Errorf(format, args...)}
}

// Canonical is what a Type makes of a proposed entry.
type Canonical struct {
	// Body is the RFC 8785 canonical JSON of the entry: the leaf value.
	Body []byte
	// SearchKeys are the typed, lower-case index keys (an artifact digest
	// "sha256:<hex>", a key fingerprint, an email, another certificate
	// identity) the entry can be found by. Registry.Canonicalize returns
	// them without repeats, and at most MaxSearchKeys of them.
	SearchKeys []SearchKey
	// Attestation is optional data stored beside the entry (intoto, dsse).
	Attestation []byte
}

// Type is one entry kind.
type Type interface {
	// Kind is the name in the proposed entry's "kind" field, e.g. "hashedrekord".
	Kind() string
	// Versions lists the apiVersions accepted for new entries.
	Versions() []string
	// Canonicalize parses, validates and verifies spec (the raw "spec" JSON of a
	// proposed entry of this kind and apiVersion) and returns its canonical form.
	// Bad input yields an *InvalidError.
	Canonicalize(ctx context.Context, apiVersion string, spec json.RawMessage) (Canonical, error)
}

// Registry maps kinds to types.
type Registry struct {
	types map[string]Type
}

// NewRegistry builds a registry of the given types.
func NewRegistry(ts ...Type) *Registry {
	r := &Registry{types: make(map[string]Type, len(ts))}
	for _, t := range ts {
		r.types[t.Kind()] = t
	}
	return r
}

// Kinds lists the registered kinds, sorted.
func (r *Registry) Kinds() []string {
	ks := make([]string, 0, len(r.types))
	for k := range r.types {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Searcher is implemented by the types whose search differs from insert:
// Rekor's SearchLogQuery canonicalizes an entry with types.UnmarshalEntry
// and Canonicalize, without CreateVersionedEntry's Insertable check, so a
// logged canonical body is looked up as well as a proposal.
type Searcher interface {
	CanonicalizeSearch(ctx context.Context, apiVersion string, spec json.RawMessage) (Canonical, error)
}

// CanonicalizeSearch returns the canonical form an entry of a search by
// entry (POST /api/v1/log/entries/retrieve) is looked up by, with the
// errors Rekor's search answers 400 with: a Searcher's CanonicalizeSearch,
// else the type's Canonicalize.
func (r *Registry) CanonicalizeSearch(ctx context.Context, kind, apiVersion string, spec json.RawMessage) (Canonical, error) {
	t, ok := r.types[kind]
	if !ok {
		return Canonical{}, fmt.Errorf("could not unmarshal entry for kind '%s'", kind)
	}
	if !slices.Contains(t.Versions(), apiVersion) {
		return Canonical{}, unsupportedVersion(kind, apiVersion)
	}
	if st, ok := t.(Searcher); ok {
		return st.CanonicalizeSearch(ctx, apiVersion, spec)
	}
	return t.Canonicalize(ctx, apiVersion, spec)
}

// ProposedEntry is the envelope every kind shares.
type ProposedEntry struct {
	Kind       string          `json:"kind"`
	APIVersion string          `json:"apiVersion"`
	Spec       json.RawMessage `json:"spec"`
}

// Canonicalize decodes a proposed entry and hands it to its type.
func (r *Registry) Canonicalize(ctx context.Context, raw []byte) (Canonical, error) {
	var pe ProposedEntry
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&pe); err != nil {
		return Canonical{}, Invalidf("decoding proposed entry: %v", err)
	}
	if dec.More() {
		return Canonical{}, Invalidf("decoding proposed entry: trailing data after JSON value")
	}
	return r.CanonicalizeProposed(ctx, pe)
}

// CanonicalizeProposed hands an already decoded proposed entry to its type.
func (r *Registry) CanonicalizeProposed(ctx context.Context, pe ProposedEntry) (Canonical, error) {
	t, ok := r.types[pe.Kind]
	if !ok {
		return Canonical{}, fmt.Errorf("%w: invalid kind value: %q", ErrUnknownKind, pe.Kind)
	}
	supported := slices.Contains(t.Versions(), pe.APIVersion)
	if pe.APIVersion == "" {
		return Canonical{}, fmt.Errorf("%w: %w", ErrSchema, &versionError{"apiVersion in body is required"})
	}
	if !supported {
		// Rekor finds the kind but no implementation of the version: a 400
		// with the entry factory's message.
		return Canonical{}, &InvalidError{Err: unsupportedVersion(pe.Kind, pe.APIVersion)}
	}
	if len(pe.Spec) == 0 || bytes.Equal(pe.Spec, []byte("null")) {
		return Canonical{}, fmt.Errorf("%w: spec in body is required", ErrSchema)
	}
	c, err := t.Canonicalize(ctx, pe.APIVersion, pe.Spec)
	if err != nil {
		return Canonical{}, err
	}
	if c.SearchKeys, err = checkSearchKeys(c.SearchKeys); err != nil {
		return Canonical{}, err
	}
	return c, nil
}

// versionError is the registry's refusal of an apiVersion, in Rekor's words.
type versionError struct{ msg string }

func (e *versionError) Error() string { return e.msg }

// unsupportedVersion is Rekor's entry factory's message for a version of a
// known kind that it has no implementation of.
func unsupportedVersion(kind, apiVersion string) *versionError {
	return &versionError{fmt.Sprintf("%s implementation for version '%s' not found: unable to locate entry for version %s", kind, apiVersion, apiVersion)}
}

// IsUnsupportedVersion reports whether err is the registry's refusal of an
// apiVersion its kind does not serve: a 400 (*InvalidError) for a version
// that is not served, a 422 (ErrSchema) for a missing one, as in Rekor.
func IsUnsupportedVersion(err error) bool {
	var v *versionError
	return errors.As(err, &v)
}
