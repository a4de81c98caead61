package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/go-openapi/strfmt"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/client"
)

const searchUsage = `Usage: tabula search (--artifact FILE | --digest sha256:HEX | --public-key PEM | --email ADDR | --certificate-identity ID)

Prints the UUIDs of the matching entries, one a line.`

func runSearch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("search", stderr, searchUsage)
	cf := addClientFlags(fs)
	artifact := fs.String("artifact", "", "find entries for this artifact (its SHA-256)")
	digest := fs.String("digest", "", "find entries for this digest, sha256:<hex>")
	publicKey := fs.String("public-key", "", "find entries signed by this public key or certificate (PEM)")
	pki := fs.String("pki-format", "x509", "format of --public-key: x509, ssh, pgp, minisign, tuf")
	email := fs.String("email", "", "find entries whose certificate carries this email")
	identity := fs.String("certificate-identity", "", "find entries whose certificate carries this identity (email or URI SAN)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var q models.SearchIndex
	n := 0
	if *artifact != "" {
		b, err := os.ReadFile(*artifact)
		if err != nil {
			return err
		}
		d := sha256.Sum256(b)
		q.Hash = "sha256:" + hex.EncodeToString(d[:])
		n++
	}
	if *digest != "" {
		alg, d, err := parseDigest(*digest)
		if err != nil {
			return err
		}
		q.Hash = alg + ":" + hex.EncodeToString(d)
		n++
	}
	if *publicKey != "" {
		b, err := os.ReadFile(*publicKey)
		if err != nil {
			return err
		}
		q.PublicKey = &models.SearchIndexPublicKey{Format: *pki, Content: b}
		n++
	}
	if *email != "" {
		q.Email = strfmt.Email(*email)
		n++
	}
	if *identity != "" {
		q.Subject = *identity
		n++
	}
	if n == 0 {
		fmt.Fprintln(stderr, "give --artifact, --digest, --public-key, --email or --certificate-identity")
		return errUsage
	}
	if n > 1 {
		q.Operator = "and" // every criterion given must match
	}
	cl, err := cf.client()
	if err != nil {
		return err
	}
	// Every log of a Tabula server, Rekor v2 ones too; other servers have
	// the v1 search only.
	found, err := cl.SearchLogs(ctx, q)
	if client.IsNotFound(err) {
		var uuids []string
		if uuids, err = cl.SearchIndex(ctx, q); err == nil {
			found = make([]client.Found, len(uuids))
			for i, u := range uuids {
				found[i] = client.Found{API: "v1", UUID: u}
			}
		}
	}
	if err != nil {
		return err
	}
	if len(found) == 0 {
		fmt.Fprintln(stderr, "no matching entries")
		return nil
	}
	for _, f := range found {
		if f.API == "v1" {
			fmt.Fprintln(stdout, f.UUID)
			continue
		}
		// Rekor v2 entries have no v1 entry API: name their log and index
		// (their bundle is /logs/<treeID>/tile/entries/…).
		fmt.Fprintf(stdout, "%s\tRekor %s log %s, index %d\n", f.UUID, f.API, f.TreeID, f.Index)
	}
	return nil
}
