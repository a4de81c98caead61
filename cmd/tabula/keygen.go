package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/tabularium/tabula/signer"
)

func runKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	alg := fs.String("algorithm", signer.ECDSAP256, "key algorithm: "+signer.ECDSAP256+" or "+signer.Ed25519)
	out := fs.String("out", "log-key.pem", "private key file to write (PEM, mode 0600; never overwritten)")
	pub := fs.String("pub", "", "public key file to write (default: <out without .pem>.pub.pem)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *pub == "" {
		*pub = publicKeyPath(*out)
	}
	priv, err := signer.Generate(*alg)
	if err != nil {
		return err
	}
	if err := signer.WriteFiles(priv, *out, *pub); err != nil {
		return err
	}
	s, err := signer.New(priv)
	if err != nil {
		return err
	}
	id := s.LogID()
	fmt.Fprintf(stdout, "private key: %s\npublic key:  %s\nlog ID:      %x\n", *out, *pub, id[:])
	return nil
}
