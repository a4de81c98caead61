package main

import (
	"testing"
	"time"

	"github.com/tabularium/tabula/api"
)

func TestWriteWait(t *testing.T) {
	tests := []struct {
		writeTimeout, want time.Duration
	}{
		{0, api.DefaultWriteWait},
		{60 * time.Second, api.DefaultWriteWait},
		{10 * time.Second, 5 * time.Second},
		{time.Second, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := writeWait(tt.writeTimeout); got != tt.want {
			t.Errorf("writeWait(%v) = %v, want %v", tt.writeTimeout, got, tt.want)
		}
	}
}
