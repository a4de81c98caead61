package tsa

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tabularium/tabula/signer"
)

// The files of a generated TSA in a data directory.
const (
	// KeyFile is the TSA's private key (PKCS #8 PEM, mode 0600).
	KeyFile = "tsa-key.pem"
	// ChainFile is its certificate chain (PEM, signing certificate first).
	ChainFile = "tsa-chain.pem"
)

// LoadFiles reads a TSA private key (refused if others may read it, as the
// log key is) and its PEM certificate chain, signing certificate first. It
// does not check that they agree; New does.
func LoadFiles(keyPath, chainPath string) (crypto.Signer, []*x509.Certificate, error) {
	key, err := signer.LoadPrivateKeyFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("tsa key: %w", err)
	}
	b, err := os.ReadFile(chainPath)
	if err != nil {
		return nil, nil, fmt.Errorf("tsa certificate chain: %w", err)
	}
	chain, err := ParseChainPEM(b)
	if err != nil {
		return nil, nil, fmt.Errorf("tsa certificate chain %s: %w", chainPath, err)
	}
	return key, chain, nil
}

// ParseChainPEM parses PEM CERTIFICATE blocks, in order. Any other block, or
// text after the last block, is an error.
func ParseChainPEM(b []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	rest := b
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q (want CERTIFICATE)", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(chain), err)
		}
		chain = append(chain, c)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("text that is not a PEM certificate")
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return chain, nil
}

// LoadOrCreate loads dir's TSA key and chain (KeyFile, ChainFile). On first
// start it creates them: an ECDSA P-256 key and a chain from GenerateChain
// named name. A key without a chain (a start cut short) gets a new chain;
// a chain without its key is an error. It reports whether it created
// anything.
func LoadOrCreate(dir, name string, now time.Time) (crypto.Signer, []*x509.Certificate, bool, error) {
	keyPath, chainPath := filepath.Join(dir, KeyFile), filepath.Join(dir, ChainFile)
	key, err := signer.LoadPrivateKeyFile(keyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(chainPath); err == nil {
			return nil, nil, false, fmt.Errorf("tsa: %s exists but its key %s does not", chainPath, keyPath)
		}
		if key, err = signer.Generate(signer.ECDSAP256); err != nil {
			return nil, nil, false, fmt.Errorf("tsa: %w", err)
		}
		if err := signer.WriteFiles(key, keyPath, ""); err != nil {
			return nil, nil, false, fmt.Errorf("tsa: %w", err)
		}
	case err != nil:
		return nil, nil, false, fmt.Errorf("tsa key: %w", err)
	default:
		b, err := os.ReadFile(chainPath)
		if err == nil {
			chain, err := ParseChainPEM(b)
			if err != nil {
				return nil, nil, false, fmt.Errorf("tsa certificate chain %s: %w", chainPath, err)
			}
			return key, chain, false, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, false, fmt.Errorf("tsa certificate chain: %w", err)
		}
	}
	chain, err := GenerateChain(key, name, now)
	if err != nil {
		return nil, nil, false, err
	}
	if err := writeChain(chainPath, chain); err != nil {
		return nil, nil, false, err
	}
	return key, chain, true, nil
}

// writeChain writes the chain as PEM through a temporary file, so a crash
// leaves either no chain or a whole one.
func writeChain(path string, chain []*x509.Certificate) error {
	var buf bytes.Buffer
	for _, c := range chain {
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
			return fmt.Errorf("tsa: encoding the chain: %w", err)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tsa-chain-*")
	if err != nil {
		return fmt.Errorf("tsa: %w", err)
	}
	defer os.Remove(f.Name()) //nolint:errcheck // gone after the rename
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("tsa: writing the chain: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("tsa: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("tsa: syncing the chain: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tsa: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("tsa: %w", err)
	}
	return nil
}
