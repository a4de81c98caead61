// Package pgp parses and verifies OpenPGP public keys and detached signatures
// exactly as Rekor v1's pkg/pki/pgp does, for the "rekord" entry kind and the
// publicKey search of /api/v1/index/retrieve.
//
// Keys (ParsePublicKey) arrive armored or binary:
//
//   - input that starts with "-----BEGIN PGP" (no leading whitespace) is read
//     line by line; each time a line starts with "-----END PGP" the lines
//     gathered so far are armor-decoded and must be a PUBLIC KEY BLOCK or a
//     PRIVATE KEY BLOCK holding a key ring. Several blocks concatenate; lines
//     after the last END line are ignored, as in Rekor;
//   - anything else is read as a binary (transferable) key ring.
//
// A key ring made only of entities usable for decryption is rejected ("no PGP
// public keys could be read"), which is Rekor's check.
//
// Signatures (ParseSignature) are detached, armored or binary. The first
// packet that is not a marker or of an unknown/unsupported kind must be a
// signature packet (version 3 or 4, and whatever else go-crypto parses).
//
// What the package promises:
//
//   - PublicKey.Canonical is byte for byte Rekor's canonical key: every entity
//     re-serialized (public parts only) inside one "PGP PUBLIC KEY BLOCK"
//     armor written by github.com/ProtonMail/go-crypto (the version Rekor
//     builds with). Its hex SHA-256 is the key's search-index key.
//   - Signature.Canonical is the input itself when it was armored, else the
//     input wrapped in a "PGP SIGNATURE" armor.
//   - Verify checks the first signature packet whose issuer is in the key ring
//     (skipping packets whose issuer is not), at the signature's creation
//     time, so that an entry stays verifiable after its key expired. Version 3
//     signatures (RSA, DSA), which go-crypto no longer verifies, are verified
//     by this package (v3.go) as Rekor does.
//   - Emails lists the user-id emails that pass Rekor's (govalidator's) email
//     check, in key ring order.
//   - Error texts are Rekor's. No function panics on any input; the parsers
//     are fuzzed.
package pgp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/asaskevich/govalidator"
)

// PublicKey is a parsed OpenPGP key ring (one or more entities).
type PublicKey struct {
	entities openpgp.EntityList
}

var (
	armorStart = []byte("-----BEGIN PGP")
	armorEnd   = []byte("-----END PGP")
)

// ParsePublicKey parses an armored or binary OpenPGP key ring with Rekor's
// rules and messages (pkg/pki/pgp.NewPublicKey).
func ParsePublicKey(b []byte) (*PublicKey, error) {
	var k PublicKey
	br := bufio.NewReader(bytes.NewReader(b))
	head, err := br.Peek(len(armorStart))
	if err != nil {
		return nil, fmt.Errorf("unable to read PGP public key: %w", err)
	}
	if bytes.Equal(head, armorStart) {
		var block bytes.Buffer
		scan := bufio.NewScanner(br)
		for scan.Scan() {
			line := scan.Bytes()
			block.Write(line)
			block.WriteByte('\n')
			if !bytes.HasPrefix(line, armorEnd) {
				continue
			}
			kb, err := armor.Decode(&block)
			if err != nil {
				return nil, fmt.Errorf("invalid PGP public key provided: %w", err)
			}
			if kb.Type != openpgp.PublicKeyType && kb.Type != openpgp.PrivateKeyType {
				return nil, errors.New("invalid PGP type detected")
			}
			el, err := openpgp.ReadKeyRing(kb.Body)
			if err != nil {
				return nil, fmt.Errorf("error reading PGP public key: %w", err)
			}
			k.entities = append(k.entities, el...)
			block.Reset()
		}
		if err := scan.Err(); err != nil {
			return nil, fmt.Errorf("error reading PGP public key: %w", err)
		}
	} else {
		k.entities, err = openpgp.ReadKeyRing(br)
		if err != nil {
			return nil, fmt.Errorf("error reading binary PGP public key: %w", err)
		}
	}
	if len(k.entities) == len(k.entities.DecryptionKeys()) {
		return nil, errors.New("no PGP public keys could be read")
	}
	return &k, nil
}

// Canonical is the key ring as Rekor stores it: each entity serialized, in
// one armored PUBLIC KEY BLOCK without armor headers.
func (k *PublicKey) Canonical() ([]byte, error) {
	if k == nil || k.entities == nil {
		return nil, errors.New("PGP public key has not been initialized")
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, fmt.Errorf("error generating canonical value of PGP public key: %w", err)
	}
	for _, e := range k.entities {
		if e == nil {
			return nil, errors.New("pgp key ring contains a nil entity")
		}
		if err := e.Serialize(w); err != nil {
			return nil, fmt.Errorf("error generating canonical value of PGP public key: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("error generating canonical value of PGP public key: %w", err)
	}
	return buf.Bytes(), nil
}

// Emails lists the user-id email addresses of every entity that are valid
// emails by Rekor's test, in key ring order; case is kept.
func (k *PublicKey) Emails() []string {
	if k == nil {
		return nil
	}
	var out []string
	for _, e := range k.entities {
		if e == nil {
			continue
		}
		// Identities is a map; go-crypto keeps no order. Rekor ranges over
		// the map too, so its index order is arbitrary; ours is sorted by
		// the identity name to be deterministic.
		for _, name := range sortedIdentityNames(e) {
			id := e.Identities[name]
			if id != nil && id.UserId != nil && govalidator.IsEmail(id.UserId.Email) {
				out = append(out, id.UserId.Email)
			}
		}
	}
	return out
}

// Signature is a detached OpenPGP signature as received.
type Signature struct {
	raw     []byte
	armored bool
}

// ParseSignature checks that b is an armored or binary detached signature,
// with Rekor's rules and messages (pkg/pki/pgp.NewSignature).
func ParseSignature(b []byte) (*Signature, error) {
	s := Signature{raw: bytes.Clone(b)}
	var body io.Reader
	if blk, err := armor.Decode(bytes.NewReader(b)); err == nil {
		s.armored = true
		if blk.Type != openpgp.SignatureType {
			return nil, errors.New("invalid PGP signature provided")
		}
		body = blk.Body
	} else {
		body = bytes.NewReader(b)
	}
	sigBody, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("unable to read PGP signature: %w", err)
	}
	packets := packet.NewOpaqueReader(bytes.NewReader(sigBody))
	for {
		op, err := packets.Next()
		if err != nil {
			return nil, fmt.Errorf("invalid PGP signature: %w", err)
		}
		_, skip, err := parseSignaturePacket(op)
		if err != nil {
			return nil, fmt.Errorf("invalid PGP signature: %w", err)
		}
		if !skip {
			break
		}
	}
	return &s, nil
}

// Canonical is the signature as Rekor stores it: the input when armored,
// else the input armored as a "PGP SIGNATURE" block.
func (s *Signature) Canonical() ([]byte, error) {
	if s == nil || len(s.raw) == 0 {
		return nil, errors.New("PGP signature has not been initialized")
	}
	if s.armored {
		return s.raw, nil
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.SignatureType, nil)
	if err != nil {
		return nil, fmt.Errorf("error encoding canonical value of PGP signature: %w", err)
	}
	if _, err := w.Write(s.raw); err != nil {
		return nil, fmt.Errorf("error generating canonical value of PGP signature: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("error generating canonical value of PGP signature: %w", err)
	}
	return buf.Bytes(), nil
}

// Verify checks s over message with k (Rekor's Signature.Verify).
func (s *Signature) Verify(message []byte, k *PublicKey) error {
	if s == nil || len(s.raw) == 0 {
		return errors.New("PGP signature has not been initialized")
	}
	if k == nil || len(k.entities) == 0 {
		return errors.New("PGP public key has not been initialized")
	}
	body := s.raw
	if s.armored {
		blk, err := armor.Decode(bytes.NewReader(s.raw))
		if err != nil {
			return fmt.Errorf("error decoding armored PGP signature: %w", err)
		}
		if body, err = io.ReadAll(blk.Body); err != nil {
			return fmt.Errorf("error reading armored PGP signature: %w", err)
		}
	}
	return verifyDetached(k.entities, message, body)
}

// skippable reports the packet errors that are passed over while looking for
// a signature: a detached signature stream has no use for any other packet.
func skippable(err error) bool {
	switch err.(type) {
	case pgperrors.UnknownPacketTypeError, pgperrors.UnsupportedError:
		return true
	}
	return false
}

// parseSignaturePacket parses op as a v3 or newer signature; skip is true for
// markers and unknown or unsupported packets.
func parseSignaturePacket(op *packet.OpaquePacket) (sig any, skip bool, err error) {
	if isV3Packet(op.Tag, op.Contents) {
		s, err := parseV3(op.Contents)
		if skippable(err) {
			return nil, true, nil
		}
		if err != nil {
			return nil, false, err
		}
		return s, false, nil
	}
	p, err := op.Parse()
	if skippable(err) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	switch p := p.(type) {
	case *packet.Marker:
		return nil, true, nil
	case *packet.Signature:
		return p, false, nil
	}
	return nil, false, pgperrors.StructuralError("non signature packet found")
}

// verifyDetached verifies the first signature packet in body whose issuer is
// in keyring. Packets by other issuers are passed over; none left is
// ErrUnknownIssuer.
func verifyDetached(keyring openpgp.EntityList, message, body []byte) error {
	r := bytes.NewReader(body)
	packets := packet.NewOpaqueReader(r)
	var at time.Time
	for {
		start := len(body) - r.Len()
		op, err := packets.Next()
		if err == io.EOF {
			return pgperrors.ErrUnknownIssuer
		}
		if err != nil {
			return err
		}
		end := len(body) - r.Len()
		sig, skip, err := parseSignaturePacket(op)
		if err != nil {
			return err
		}
		if skip {
			continue
		}
		switch sig := sig.(type) {
		case *v3Signature:
			if at.IsZero() {
				at = sig.created
			}
			keys := keyring.KeysByIdUsage(sig.issuer, packet.KeyFlagSign)
			if len(keys) == 0 {
				continue
			}
			return sig.verify(keys, message)
		case *packet.Signature:
			if at.IsZero() {
				at = sig.CreationTime
			}
			if sig.IssuerKeyId == nil {
				return pgperrors.StructuralError("signature doesn't have an issuer")
			}
			if len(keyring.KeysByIdUsage(*sig.IssuerKeyId, packet.KeyFlagSign)) == 0 {
				continue
			}
			when := at
			cfg := &packet.Config{Time: func() time.Time { return when }}
			_, err = openpgp.CheckDetachedSignature(keyring, bytes.NewReader(message), bytes.NewReader(body[start:end]), cfg)
			return err
		}
	}
}
