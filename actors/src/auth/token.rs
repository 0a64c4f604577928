//! Access tokens: compact JWTs signed with HMAC-SHA256 (`alg: HS256`) carrying a key id,
//! so signing keys can rotate while tokens signed with an older key stay valid.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a decimal string (JWT convention).
    pub sub: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// The log-in (refresh-token family) the token belongs to, so that revoking the log-in
    /// revokes the token. Required: a token without one (issued before log-ins could be
    /// revoked) is invalid, and its client refreshes.
    pub sid: u64,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed token, unknown key or bad signature.
    #[error("invalid token")]
    Invalid,
    /// Well-formed and genuine, but past its expiry.
    #[error("token expired")]
    Expired,
}

/// Signs and verifies access tokens with a set of named keys.
#[derive(Clone)]
pub struct TokenSigner {
    current: (String, Vec<u8>),
    /// Older keys still accepted for verification.
    previous: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.current.0)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer using `key` (at least 32 bytes) named `kid`.
    pub fn new(kid: impl Into<String>, key: Vec<u8>) -> Self {
        Self {
            current: (kid.into(), key),
            previous: Vec::new(),
        }
    }

    /// Also accepts tokens signed by an older key.
    pub fn with_previous(mut self, kid: impl Into<String>, key: Vec<u8>) -> Self {
        self.previous.push((kid.into(), key));
        self
    }

    /// Keys for another purpose (`label`), derived from the signing keys (current first),
    /// so they rotate with them.
    pub fn derive(&self, label: &str) -> Vec<Vec<u8>> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|(_, key)| {
                let mut mac = Self::mac(key);
                mac.update(label.as_bytes());
                mac.finalize().into_bytes().to_vec()
            })
            .collect()
    }

    fn mac(key: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
    }

    /// Signs claims into a token.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = Header {
            alg: "HS256".into(),
            typ: "JWT".into(),
            kid: self.current.0.clone(),
        };
        let mut token = String::with_capacity(256);
        token.push_str(&B64.encode(serde_json::to_vec(&header).unwrap_or_default()));
        token.push('.');
        token.push_str(&B64.encode(serde_json::to_vec(claims).unwrap_or_default()));
        let mut mac = Self::mac(&self.current.1);
        mac.update(token.as_bytes());
        let signature = mac.finalize().into_bytes();
        token.push('.');
        token.push_str(&B64.encode(signature));
        token
    }

    /// Verifies a token's signature and expiry at `now_secs`.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<Claims, TokenError> {
        let mut parts = token.splitn(3, '.');
        let (Some(h), Some(c), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(TokenError::Invalid);
        };
        let header: Header = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Invalid)?;
        if header.alg != "HS256" {
            return Err(TokenError::Invalid);
        }
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|(kid, _)| *kid == header.kid)
            .ok_or(TokenError::Invalid)?;
        let signature = B64.decode(s).map_err(|_| TokenError::Invalid)?;
        let mut mac = Self::mac(&key.1);
        mac.update(&token.as_bytes()[..h.len() + 1 + c.len()]);
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::Invalid)?;
        let claims: Claims = B64
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Invalid)?;
        if claims.exp <= now_secs {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "42".into(),
            iat: 0,
            exp,
            sid: 3,
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let s = TokenSigner::new("k1", vec![7; 32]);
        let t = s.sign(&claims(100));
        assert_eq!(s.verify(&t, 99), Ok(claims(100)));
        assert_eq!(s.verify(&t, 100), Err(TokenError::Expired));
    }

    #[test]
    fn tampering_and_foreign_keys_are_refused() {
        let s = TokenSigner::new("k1", vec![7; 32]);
        let t = s.sign(&claims(100));
        let other = TokenSigner::new("k1", vec![8; 32]);
        assert_eq!(other.verify(&t, 0), Err(TokenError::Invalid));
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = B64.encode(br#"{"sub":"1","iat":0,"exp":100}"#);
        parts[1] = &forged;
        assert_eq!(s.verify(&parts.join("."), 0), Err(TokenError::Invalid));
        for junk in ["", "a.b", "a.b.c", "...", "\u{1F600}.x.y"] {
            assert_eq!(s.verify(junk, 0), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn rotated_keys_still_verify_old_tokens() {
        let old = TokenSigner::new("k1", vec![1; 32]);
        let t = old.sign(&claims(100));
        let new = TokenSigner::new("k2", vec![2; 32]).with_previous("k1", vec![1; 32]);
        assert_eq!(new.verify(&t, 0), Ok(claims(100)));
    }
}
