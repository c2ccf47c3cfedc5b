package iamapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes is the longest bearer token accepted.
const MaxTokenBytes = 16 << 10

// minRSABits is the smallest RSA modulus accepted for token keys.
const minRSABits = 2048

// verifyKey is one key that may verify tokens, with the algorithms it may verify.
type verifyKey struct {
	kid  string // "" for keys without an id (PEM, the HMAC secret)
	key  any    // []byte, *rsa.PublicKey or *ecdsa.PublicKey
	algs []string
}

var (
	rsaAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	hsAlgs  = []string{"HS256"}
)

func ecAlgs(c elliptic.Curve) ([]string, error) {
	switch c {
	case elliptic.P256():
		return []string{"ES256"}, nil
	case elliptic.P384():
		return []string{"ES384"}, nil
	case elliptic.P521():
		return []string{"ES512"}, nil
	}
	return nil, errors.New("unsupported elliptic curve")
}

// tokenVerifier verifies bearer tokens against the configured offline keys.
type tokenVerifier struct {
	keys   []verifyKey
	parser *jwt.Parser
	claims claimRules
}

// newTokenChecker builds the token checker of cfg: the offline keys when any is
// configured, else the keys the issuer publishes (OpenID Connect discovery) when
// only Issuer is set, else nil (tokens are not accepted).
func newTokenChecker(cfg TokenConfig, now func() time.Time) (tokenChecker, error) {
	tv, err := newTokenVerifier(cfg, now)
	if err != nil || tv != nil {
		return tv, err
	}
	if cfg.Issuer == "" {
		return nil, nil
	}
	rv, err := newRemoteVerifier(cfg, now, newClaimRules(cfg))
	if err != nil {
		return nil, err
	}
	return rv, nil
}

// newTokenVerifier builds the verifier of cfg's offline keys, or returns nil when
// cfg names no key.
func newTokenVerifier(cfg TokenConfig, now func() time.Time) (*tokenVerifier, error) {
	var keys []verifyKey
	if cfg.HS256Secret != "" {
		if len(cfg.HS256Secret) < 32 {
			return nil, errors.New("iamapi: Tokens.HS256Secret must be at least 32 bytes")
		}
		keys = append(keys, verifyKey{key: []byte(cfg.HS256Secret), algs: hsAlgs})
	}
	for i, p := range cfg.PublicKeyPEMs {
		k, err := parsePublicKeyPEM(p)
		if err != nil {
			return nil, fmt.Errorf("iamapi: Tokens.PublicKeyPEMs[%d]: %w", i, err)
		}
		keys = append(keys, k)
	}
	if len(cfg.JWKS) > 0 {
		ks, err := parseJWKS(cfg.JWKS)
		if err != nil {
			return nil, fmt.Errorf("iamapi: Tokens.JWKS: %w", err)
		}
		keys = append(keys, ks...)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	var methods []string
	for _, k := range keys {
		for _, a := range k.algs {
			if !slices.Contains(methods, a) {
				methods = append(methods, a)
			}
		}
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leewayOf(cfg)),
		jwt.WithTimeFunc(now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &tokenVerifier{keys: keys, parser: jwt.NewParser(opts...), claims: newClaimRules(cfg)}, nil
}

// verify checks token and returns its claims.
func (v *tokenVerifier) verify(_ context.Context, token string) (tokenClaims, *apiError) {
	if len(token) > MaxTokenBytes {
		return tokenClaims{}, authError("the token is too long")
	}
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, v.keyFunc)
	if err != nil {
		return tokenClaims{}, authError(tokenReason(err))
	}
	return v.claims.check(claims)
}

// keyFunc offers only keys whose type matches the token's algorithm, so an RSA
// public key can never serve as an HMAC secret, and, when the token names a kid,
// only keys with that kid or with none.
func (v *tokenVerifier) keyFunc(t *jwt.Token) (any, error) {
	alg, _ := t.Header["alg"].(string)
	kid, _ := t.Header["kid"].(string)
	var set jwt.VerificationKeySet
	for _, k := range v.keys {
		if !slices.Contains(k.algs, alg) {
			continue
		}
		if kid != "" && k.kid != "" && k.kid != kid {
			continue
		}
		set.Keys = append(set.Keys, k.key)
	}
	if len(set.Keys) == 0 {
		return nil, errNoKey
	}
	return set, nil
}

var errNoKey = errors.New("no key for this token")

// tokenReason names why a token failed, without quoting it.
func tokenReason(err error) string {
	switch {
	case errors.Is(err, errNoKey):
		return "no configured key can verify the token"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "the token signature is invalid"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token cannot be verified with the configured keys"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token lacks a required claim (exp)"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the token was issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token issuer is not accepted"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the token audience is not accepted"
	}
	return "the token is invalid"
}

// parsePublicKeyPEM reads one RSA or EC public key (PKIX, PKCS #1 or a certificate).
func parsePublicKeyPEM(text string) (verifyKey, error) {
	block, rest := pem.Decode([]byte(text))
	if block == nil {
		return verifyKey{}, errors.New("no PEM block found")
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return verifyKey{}, errors.New("more than one PEM block; give one key per entry")
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = c.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE") {
			return verifyKey{}, fmt.Errorf("PEM block %q is a private key; give the public key", block.Type)
		}
		return verifyKey{}, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return verifyKey{}, fmt.Errorf("PEM block %q: %w", block.Type, err)
	}
	return publicKey(pub, "")
}

func publicKey(pub any, kid string) (verifyKey, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return verifyKey{}, fmt.Errorf("RSA key of %d bits; at least %d are required", k.N.BitLen(), minRSABits)
		}
		return verifyKey{kid: kid, key: k, algs: rsaAlgs}, nil
	case *ecdsa.PublicKey:
		algs, err := ecAlgs(k.Curve)
		if err != nil {
			return verifyKey{}, err
		}
		return verifyKey{kid: kid, key: k, algs: algs}, nil
	}
	return verifyKey{}, fmt.Errorf("unsupported public key type %T; RSA or EC keys only", pub)
}

// jwk is one key of a JWKS document (RFC 7517), RSA or EC.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS reads the RSA and EC signing keys of a JWKS document. Keys for
// encryption and of other types are skipped; a malformed RSA or EC key is an error.
func parseJWKS(doc []byte) ([]verifyKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	var keys []verifyKey
	for i, j := range set.Keys {
		if j.Use == "enc" {
			continue
		}
		var pub any
		var err error
		switch j.Kty {
		case "RSA":
			pub, err = j.rsa()
		case "EC":
			pub, err = j.ec()
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("keys[%d] (kid %q): %w", i, j.Kid, err)
		}
		k, err := publicKey(pub, j.Kid)
		if err != nil {
			return nil, fmt.Errorf("keys[%d] (kid %q): %w", i, j.Kid, err)
		}
		if j.Alg != "" {
			if !slices.Contains(k.algs, j.Alg) {
				return nil, fmt.Errorf("keys[%d] (kid %q): alg %q does not fit a %s key", i, j.Kid, j.Alg, j.Kty)
			}
			k.algs = []string{j.Alg}
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no RSA or EC signing key in the document")
	}
	return keys, nil
}

func (j jwk) rsa() (*rsa.PublicKey, error) {
	n, err := base64.RawURLEncoding.DecodeString(j.N)
	if err != nil || len(n) == 0 {
		return nil, errors.New("bad RSA modulus n")
	}
	e, err := base64.RawURLEncoding.DecodeString(j.E)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("bad RSA exponent e")
	}
	exp := new(big.Int).SetBytes(e)
	if exp.Int64() < 3 || exp.Int64()%2 == 0 {
		return nil, errors.New("bad RSA exponent e")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}, nil
}

func (j jwk) ec() (*ecdsa.PublicKey, error) {
	var c elliptic.Curve
	switch j.Crv {
	case "P-256":
		c = elliptic.P256()
	case "P-384":
		c = elliptic.P384()
	case "P-521":
		c = elliptic.P521()
	default:
		return nil, fmt.Errorf("unsupported curve %q", j.Crv)
	}
	size := (c.Params().BitSize + 7) / 8
	x, errX := base64.RawURLEncoding.DecodeString(j.X)
	y, errY := base64.RawURLEncoding.DecodeString(j.Y)
	if errX != nil || errY != nil || len(x) != size || len(y) != size {
		return nil, errors.New("bad EC coordinates x, y")
	}
	pt := append(append([]byte{4}, x...), y...)
	k, err := ecdsa.ParseUncompressedPublicKey(c, pt)
	if err != nil {
		return nil, errors.New("the EC point is not on the curve")
	}
	return k, nil
}
