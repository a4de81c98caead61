package signer

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadFile reads a PEM private key. It refuses a key file that users other
// than its owner can read or write: a leaked log key lets anyone forge
// checkpoints.
func LoadFile(path string) (*Local, error) {
	priv, err := LoadPrivateKeyFile(path)
	if err != nil {
		return nil, err
	}
	return New(priv)
}

// LoadPrivateKeyFile reads a PEM private key of any type ParsePrivateKeyPEM
// knows, refusing, as LoadFile does, a file others can read or write.
func LoadPrivateKeyFile(path string) (crypto.Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signer: private key %s has mode %#o; it must not be accessible to others (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	priv, err := ParsePrivateKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("signer: %s: %w", path, err)
	}
	return priv, nil
}

// WriteFiles writes priv to privPath (PKCS #8 PEM, mode 0600) and its public
// key to pubPath (PEM, mode 0644). It refuses to overwrite an existing private
// key file.
func WriteFiles(priv crypto.Signer, privPath, pubPath string) error {
	privPEM, err := PrivateKeyPEM(priv)
	if err != nil {
		return err
	}
	pubPEM, err := PublicKeyPEM(priv.Public())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(privPath), 0o700); err != nil {
		return fmt.Errorf("signer: %w", err)
	}
	f, err := os.OpenFile(privPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("signer: %s already exists; not overwriting a private key", privPath)
		}
		return fmt.Errorf("signer: %w", err)
	}
	if _, err := f.Write(privPEM); err != nil {
		f.Close()
		return fmt.Errorf("signer: writing %s: %w", privPath, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("signer: syncing %s: %w", privPath, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("signer: closing %s: %w", privPath, err)
	}
	if pubPath != "" {
		if err := os.WriteFile(pubPath, pubPEM, 0o644); err != nil {
			return fmt.Errorf("signer: writing %s: %w", pubPath, err)
		}
	}
	return nil
}

// LoadOrCreate loads the key at privPath, creating an ECDSA P-256 key (and its
// public key at pubPath) when the file does not exist. It reports whether it
// created the key.
func LoadOrCreate(privPath, pubPath string) (*Local, bool, error) {
	return LoadOrCreateAlg(privPath, pubPath, ECDSAP256)
}

// LoadOrCreateAlg is LoadOrCreate creating a key of algorithm alg (see
// Generate).
func LoadOrCreateAlg(privPath, pubPath, alg string) (*Local, bool, error) {
	s, err := LoadFile(privPath)
	if err == nil {
		return s, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	priv, err := Generate(alg)
	if err != nil {
		return nil, false, err
	}
	if err := WriteFiles(priv, privPath, pubPath); err != nil {
		return nil, false, err
	}
	s, err = New(priv)
	return s, true, err
}
