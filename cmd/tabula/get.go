package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/verify"
)

const getUsage = `Usage: tabula get (--uuid UUID | --log-index N) [--json] [--log-key KEY.pem]

Prints an entry with its decoded body and signer identity, after verifying its
inclusion proof, checkpoint and SET offline against the log key.`

func runGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("get", stderr, getUsage)
	cf := addClientFlags(fs)
	uuid := fs.String("uuid", "", "the entry's UUID (64 or 80 hex)")
	index := fs.Int64("log-index", -1, "the entry's log index")
	raw := fs.Bool("json", false, "print the raw entry as the API returns it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*uuid == "") == (*index < 0) {
		fmt.Fprintln(stderr, "give exactly one of --uuid and --log-index")
		return errUsage
	}
	cl, err := cf.client()
	if err != nil {
		return err
	}
	var id string
	var e models.LogEntryAnon
	if *uuid != "" {
		id, e, err = cl.EntryByUUID(ctx, *uuid)
	} else {
		id, e, err = cl.EntryByIndex(ctx, *index)
	}
	if err != nil {
		return err
	}
	if *raw {
		b, err := json.MarshalIndent(models.LogEntry{id: e}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	key, pinned, err := cf.entryKey(ctx, cl, id, e)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "UUID:            %s\n", id)
	fmt.Fprintf(stdout, "Index:           %d\n", e.LogIndex)
	fmt.Fprintf(stdout, "Integrated time: %s\n", time.Unix(e.IntegratedTime, 0).UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "Log ID:          %s\n", e.LogID)
	var body map[string]any
	if err := json.Unmarshal(e.Body, &body); err == nil {
		fmt.Fprintf(stdout, "Kind:            %v %v\n", body["kind"], body["apiVersion"])
	}
	for _, pemText := range embeddedPEMs(e.Body) {
		if san, issuer, ok := certIdentity(pemText); ok {
			fmt.Fprintf(stdout, "Signer:          %s (OIDC issuer %s)\n", orDash(san), orDash(issuer))
		}
	}
	if _, err := verify.Entry(id, e, key); err != nil {
		fmt.Fprintf(stdout, "Verification:    FAILED: %v\n", err)
		return fmt.Errorf("entry does not verify: %w", err)
	}
	how := "pinned log key"
	if !pinned {
		how = "log key fetched from the log (pin it with --log-key)"
	}
	fmt.Fprintf(stdout, "Verification:    inclusion proof, checkpoint and SET verified (%s)\n", how)
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, e.Body, "  ", "  "); err == nil {
		fmt.Fprintf(stdout, "Body:\n  %s\n", pretty.String())
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// embeddedPEMs finds base64-encoded PEM blocks anywhere in an entry body
// (hashedrekord's publicKey.content, dsse's verifiers, intoto's publicKey).
func embeddedPEMs(body []byte) [][]byte {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	var out [][]byte
	var walk func(any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for _, x := range t {
				walk(x)
			}
		case []any:
			for _, x := range t {
				walk(x)
			}
		case string:
			if strings.HasPrefix(t, "LS0tLS1CRUdJTi") { // "-----BEGIN"
				if b, err := base64.StdEncoding.DecodeString(t); err == nil {
					out = append(out, b)
				}
			}
		}
	}
	walk(v)
	return out
}
