//! What an upload is: its name checked, its type sniffed from its first bytes (never taken
//! from the client), and an image's size read from its header.

use std::io::Cursor;

use image::{ImageFormat, ImageReader};

use crate::error::{ChatError, Reason};

/// Bytes kept from the start of an upload for sniffing and image headers (a JPEG's size
/// marker can follow tens of KiB of EXIF data).
pub const SNIFF_BYTES: usize = 256 * 1024;

/// The longest file name in bytes (most filesystems' limit).
const MAX_NAME_BYTES: usize = 255;

/// What a file is served as when nothing more specific is recognised.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Image types the server decodes for thumbnails and avatars (never SVG: it is a document
/// that can carry script).
pub const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Checks a file name: 1-255 bytes, no path separators, no control characters, not `.` or
/// `..`. Names are rejected rather than rewritten so what the user sees is what they sent.
pub fn validate_name(name: &str) -> Result<String, ChatError> {
    let bad = |why: &str| {
        ChatError::invalid(
            Reason::InvalidFileName,
            format!(
                "file name {why} (1-{MAX_NAME_BYTES} bytes, no '/', '\\\\' or control characters)"
            ),
        )
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(bad("is empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(bad("is too long"));
    }
    if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
        return Err(bad("has a path separator or control character"));
    }
    if name == "." || name == ".." {
        return Err(bad("is a path component"));
    }
    Ok(name.to_owned())
}

/// The content type of a file from its first bytes.
pub fn sniff(head: &[u8]) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    if looks_like_text(head) {
        return "text/plain; charset=utf-8".to_owned();
    }
    OCTET_STREAM.to_owned()
}

/// UTF-8 without NULs, allowing a character cut off at the end of the sniffed prefix.
fn looks_like_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => match std::str::from_utf8(&head[..e.valid_up_to()]) {
            Ok(s) => s,
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    !valid.contains('\0')
}

/// Whether the server decodes this type (thumbnails, avatars).
pub fn is_image(content_type: &str) -> bool {
    IMAGE_TYPES.contains(&content_type)
}

/// An image's width and height from its header, or `(0, 0)` when the header is not within
/// `head` (the thumbnail job then fills them in).
pub fn image_size(head: &[u8], content_type: &str) -> (u32, u32) {
    let Some(format) = ImageFormat::from_mime_type(content_type).filter(|_| is_image(content_type))
    else {
        return (0, 0);
    };
    // A size with a zero side is no size (the thumbnail job refuses such an image).
    ImageReader::with_format(Cursor::new(head), format)
        .into_dimensions()
        .ok()
        .filter(|&(w, h)| w > 0 && h > 0)
        .unwrap_or((0, 0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names() {
        assert_eq!(validate_name("  report.pdf ").unwrap(), "report.pdf");
        assert_eq!(validate_name("사진 1.jpg").unwrap(), "사진 1.jpg");
        for bad in [
            "",
            "   ",
            ".",
            "..",
            "../../etc/passwd",
            "a/b",
            "C:\\fakepath\\x.png",
            "a\0b",
            "line\nbreak",
        ] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.reason(), Reason::InvalidFileName, "{bad:?}");
        }
        assert!(validate_name(&"x".repeat(256)).is_err());
        assert!(validate_name(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn sniffing_ignores_claims() {
        let png = tiny_png();
        assert_eq!(sniff(&png), "image/png");
        assert_eq!(image_size(&png, "image/png"), (3, 2));
        assert_eq!(sniff(b"hello world"), "text/plain; charset=utf-8");
        // A multi-byte character cut at the end of the sniffed prefix is still text.
        assert_eq!(sniff(&"한글".as_bytes()[..4]), "text/plain; charset=utf-8");
        assert_eq!(sniff(&[0, 159, 146, 150, 0]), OCTET_STREAM);
        assert_eq!(sniff(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(image_size(b"not an image", "image/png"), (0, 0));
        assert_eq!(image_size(&png, "text/plain"), (0, 0));
        assert!(!is_image("image/svg+xml"));
    }

    pub(crate) fn tiny_png() -> Vec<u8> {
        let img = image::RgbImage::from_pixel(3, 2, image::Rgb([200, 10, 10]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }
}
