package main

import (
	"slices"
	"strings"
	"testing"
)

func TestEntryTypes(t *testing.T) {
	all := kindNames(allEntryTypes())
	tests := []struct {
		allow string
		want  []string // kinds, sorted; nil with wantErr
		err   string
	}{
		{"", all, ""},
		{"  ", all, ""},
		{"hashedrekord", []string{"hashedrekord"}, ""},
		{" hashedrekord , hashedrekord,", []string{"hashedrekord"}, ""},
		{"hashedrekord,nosuchkind", nil, `unknown kind "nosuchkind"`},
		{",", nil, "no kind named"},
	}
	for _, tt := range tests {
		t.Run(tt.allow, func(t *testing.T) {
			reg, err := entryTypes(tt.allow)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("entryTypes(%q) err = %v, want %q", tt.allow, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := reg.Kinds()
			if strings.Join(got, ",") != strings.Join(slices.Sorted(slices.Values(tt.want)), ",") {
				t.Fatalf("entryTypes(%q) kinds = %v, want %v", tt.allow, got, tt.want)
			}
		})
	}
}
