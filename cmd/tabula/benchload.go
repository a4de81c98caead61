package main

import (
	"context"
	"errors"
	"io"
)

// runBenchLoad is `tabula bench load`: build a large log directly in a
// database through the log's own integration code (no HTTP).
func runBenchLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("bench load: not built yet")
}
