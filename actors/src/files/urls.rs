//! Short-lived signed URLs for a file or its thumbnail, for clients that cannot send a bearer
//! header (`<img src>`, a download link): `/v1/files/{id}?exp=<unix s>&sig=<HMAC>`, valid
//! `files.url_ttl_secs`. The signature (HMAC-SHA256 over the file id, the variant and the
//! expiry, with a key derived from the token signing keys) is checked without a store read;
//! whoever holds the URL may fetch those bytes until it expires, like an S3 presigned URL, so
//! the URL is handed only to someone who may read the file.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::variant::Variant;

/// Signs and checks file URLs with keys derived from the token signing keys.
#[derive(Clone)]
pub struct UrlSigner {
    /// The current key first; older ones still verify (a rotation does not break links).
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlSigner").finish_non_exhaustive()
    }
}

fn mac(key: &[u8], file_id: u64, variant: Variant, expires_secs: i64) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    let variant = match variant {
        Variant::Original => "original",
        Variant::Thumbnail => "thumbnail",
    };
    mac.update(format!("chat.v1 file url\n{file_id}\n{variant}\n{expires_secs}").as_bytes());
    mac
}

impl UrlSigner {
    /// A signer over `keys` (the current one first).
    pub fn new(keys: Vec<Vec<u8>>) -> Self {
        Self { keys }
    }

    /// The path and query granting `variant` of `file_id` until `expires_secs`.
    pub fn url(&self, file_id: u64, variant: Variant, expires_secs: i64) -> String {
        let sig = self.keys.first().map_or_else(String::new, |key| {
            B64.encode(
                mac(key, file_id, variant, expires_secs)
                    .finalize()
                    .into_bytes(),
            )
        });
        let path = match variant {
            Variant::Original => format!("/v1/files/{file_id}"),
            Variant::Thumbnail => format!("/v1/files/{file_id}/thumbnail"),
        };
        format!("{path}?exp={expires_secs}&sig={sig}")
    }

    /// Whether `sig` grants `variant` of `file_id` at `now_secs`.
    pub fn verify(
        &self,
        file_id: u64,
        variant: Variant,
        expires_secs: i64,
        sig: &str,
        now_secs: i64,
    ) -> bool {
        if expires_secs <= now_secs {
            return false;
        }
        let Ok(sig) = B64.decode(sig.trim()) else {
            return false;
        };
        self.keys.iter().any(|key| {
            mac(key, file_id, variant, expires_secs)
                .verify_slice(&sig)
                .is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_verify_only_for_their_file_variant_and_time() {
        let old = UrlSigner::new(vec![vec![1; 32]]);
        let signer = UrlSigner::new(vec![vec![2; 32], vec![1; 32]]);
        let url = signer.url(7, Variant::Thumbnail, 1000);
        assert!(
            url.starts_with("/v1/files/7/thumbnail?exp=1000&sig="),
            "{url}"
        );
        let sig = url.rsplit("sig=").next().unwrap_or_default();
        assert!(signer.verify(7, Variant::Thumbnail, 1000, sig, 999));
        assert!(
            !signer.verify(7, Variant::Thumbnail, 1000, sig, 1000),
            "expired"
        );
        assert!(
            !signer.verify(8, Variant::Thumbnail, 1000, sig, 999),
            "another file"
        );
        assert!(
            !signer.verify(7, Variant::Original, 1000, sig, 999),
            "another variant"
        );
        assert!(
            !signer.verify(7, Variant::Thumbnail, 2000, sig, 999),
            "a later expiry"
        );
        assert!(!signer.verify(7, Variant::Thumbnail, 1000, "bm9wZQ", 999));
        assert!(!signer.verify(7, Variant::Thumbnail, 1000, "%%%", 999));
        // A link signed before a key rotation still works.
        let before = old.url(7, Variant::Original, 1000);
        let sig = before.rsplit("sig=").next().unwrap_or_default();
        assert!(signer.verify(7, Variant::Original, 1000, sig, 999));
    }
}
