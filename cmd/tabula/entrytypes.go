package main

import (
	"fmt"
	"strings"

	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/dsse"
	"github.com/tabularium/tabula/types/hashedrekord"
	"github.com/tabularium/tabula/types/intoto"
	"github.com/tabularium/tabula/types/rekord"
)

// allEntryTypes lists every entry kind this binary can accept, in the order
// `tabula serve -h` shows them. This is the one place kinds are registered:
// no package registers itself at init time.
func allEntryTypes() []types.Type {
	return []types.Type{
		hashedrekord.New(),
		dsse.New(),
		intoto.New(),
		rekord.New(),
	}
}

// entryTypes builds the registry of the kinds named in allow (a comma-separated
// list such as "hashedrekord,dsse"); an empty allow list accepts every kind.
func entryTypes(allow string) (*types.Registry, error) {
	all := allEntryTypes()
	if strings.TrimSpace(allow) == "" {
		return types.NewRegistry(all...), nil
	}
	byKind := make(map[string]types.Type, len(all))
	for _, t := range all {
		byKind[t.Kind()] = t
	}
	var picked []types.Type
	seen := map[string]bool{}
	for _, k := range strings.Split(allow, ",") {
		k = strings.TrimSpace(k)
		if k == "" || seen[k] {
			continue
		}
		t, ok := byKind[k]
		if !ok {
			return nil, fmt.Errorf("--entry-types: unknown kind %q (known: %s)", k, strings.Join(kindNames(all), ", "))
		}
		seen[k] = true
		picked = append(picked, t)
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("--entry-types: no kind named in %q", allow)
	}
	return types.NewRegistry(picked...), nil
}

func kindNames(ts []types.Type) []string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Kind()
	}
	return names
}
