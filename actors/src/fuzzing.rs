//! Checks run by the coverage-guided fuzz harness (`fuzz/`) and by the tests that replay its
//! checked-in corpus. Not an API: each check feeds hostile input to code that reads what a
//! client sends (access tokens, uploaded files) and panics when something that must hold
//! does not.

use crate::auth::{Claims, TokenError, TokenSigner};
use crate::files::{inspect, thumbnail};

/// The key every fuzzed token is checked against (and the genuine token is signed with).
const KEY: [u8; 32] = [7; 32];
/// A point in time before the genuine token's expiry.
const NOW: i64 = 1_800_000_000;

fn signer() -> TokenSigner {
    TokenSigner::new("k2", KEY.to_vec()).with_previous("k1", vec![9; 32])
}

/// An access token as a client presents it: the input is refused unless it is exactly the
/// token the signer issues for what it says (never a panic), and a genuine token changed by
/// `data` is either refused or unchanged (no malleable signature, header or claims).
pub fn access_token(data: &[u8]) {
    let signer = signer();
    let text = String::from_utf8_lossy(data);
    if let Ok(claims) = signer.verify(&text, NOW) {
        assert_eq!(
            signer.sign(&claims),
            text,
            "a token the signer never issued"
        );
    }

    let claims = Claims {
        sub: "42".into(),
        iat: NOW - 10,
        exp: NOW + 900,
        sid: 1,
    };
    let genuine = signer.sign(&claims);
    let mut bytes = genuine.clone().into_bytes();
    for pair in data.chunks(2) {
        if let [at, value] = pair {
            let i = usize::from(*at) * bytes.len() / 256;
            bytes[i] ^= value;
        }
    }
    let changed = String::from_utf8_lossy(&bytes);
    match signer.verify(&changed, NOW) {
        Ok(seen) => {
            assert_eq!(seen, claims, "a changed token says something else");
            assert_eq!(
                changed, genuine,
                "a changed token was accepted: {changed:?}"
            );
        }
        Err(TokenError::Invalid | TokenError::Expired) => {}
    }
}

/// Largest image the fuzzed thumbnailer decodes (the node's own limit is configurable).
const MAX_PIXELS: u64 = 1 << 20;
/// Thumbnail square of the fuzzed thumbnailer.
const THUMB_PX: u32 = 64;

/// An upload: its name (the input as text) is accepted only when it is safe; its type is
/// sniffed from its bytes; an image's header size and thumbnail never panic, stay within
/// the limits and fit the square.
pub fn upload(data: &[u8]) {
    let name = String::from_utf8_lossy(&data[..data.len().min(300)]);
    if let Ok(accepted) = inspect::validate_name(&name) {
        assert!(
            !accepted.is_empty() && accepted.len() <= 255,
            "{accepted:?}"
        );
        assert!(!accepted.contains(['/', '\\']) && !accepted.chars().any(char::is_control));
        assert!(accepted != "." && accepted != "..");
    }

    let content_type = inspect::sniff(data);
    let (width, height) = inspect::image_size(data, &content_type);
    if !inspect::is_image(&content_type) {
        assert_eq!((width, height), (0, 0), "a size for a non-image");
        return;
    }
    if let Ok(thumb) = thumbnail::render(data, &content_type, THUMB_PX, MAX_PIXELS) {
        let source = u64::from(thumb.source_width) * u64::from(thumb.source_height);
        assert!(source <= MAX_PIXELS, "decoded {source} pixels");
        assert!(thumb.width <= THUMB_PX && thumb.height <= THUMB_PX);
        assert!(
            thumb.width <= thumb.source_width && thumb.height <= thumb.source_height,
            "{}x{} thumbnail of {}x{}",
            thumb.width,
            thumb.height,
            thumb.source_width,
            thumb.source_height
        );
        assert!(!thumb.bytes.is_empty());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Cursor;

    use chat_proto::fuzzing::corpus;
    use image::{ImageFormat, RgbaImage};

    use super::*;

    /// Every checked-in input (seeds and what fuzzing found) passes the checks.
    #[test]
    fn the_corpus_replays() {
        corpus("access_token").iter().for_each(|i| access_token(i));
        corpus("upload").iter().for_each(|i| upload(i));
    }

    /// The seeds of `fuzz/corpus/{access_token,upload}` (see `chat_proto::fuzzing::seed`).
    #[test]
    fn seeds_match_their_generator() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        let put = |target: &str, name: &str, bytes: &[u8]| {
            chat_proto::fuzzing::seed(&dir.join(target).join(name), bytes);
        };
        let claims = Claims {
            sub: "42".into(),
            iat: NOW,
            exp: NOW + 60,
            sid: 1,
        };
        put("access_token", "genuine", signer().sign(&claims).as_bytes());
        put("access_token", "flip", &[0, 1, 128, 4]);

        let img = RgbaImage::from_fn(70, 40, |x, y| image::Rgba([x as u8, y as u8, 90, 200]));
        for (name, format) in [
            ("image.png", ImageFormat::Png),
            ("image.gif", ImageFormat::Gif),
            ("image.webp", ImageFormat::WebP),
        ] {
            let mut out = Cursor::new(Vec::new());
            img.write_to(&mut out, format).unwrap();
            put("upload", name, &out.into_inner());
        }
        let mut out = Cursor::new(Vec::new());
        image::DynamicImage::ImageRgba8(img)
            .to_rgb8()
            .write_to(&mut out, ImageFormat::Jpeg)
            .unwrap();
        put("upload", "image.jpg", &out.into_inner());
        put("upload", "text.txt", "사진 1.jpg\nhello".as_bytes());
        put("upload", "document.pdf", b"%PDF-1.7\n1 0 obj\n");
    }
}
