//! Thumbnails: decode an uploaded image within limits, shrink it to fit a square, encode it.
//! CPU-bound; the file service runs it on the blocking pool, one image at a time, never on
//! a request's path.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits, codecs::jpeg::JpegEncoder};

/// A rendered thumbnail and the source image's size.
pub struct Rendered {
    /// The encoded thumbnail.
    pub bytes: Vec<u8>,
    /// `image/jpeg`, or `image/png` for sources with transparency.
    pub content_type: &'static str,
    /// The thumbnail's size in pixels.
    pub width: u32,
    /// The thumbnail's size in pixels.
    pub height: u32,
    /// The source image's width.
    pub source_width: u32,
    /// The source image's height.
    pub source_height: u32,
}

/// Quality of JPEG thumbnails: small files, no visible blocking at thumbnail size.
const JPEG_QUALITY: u8 = 80;

/// Decodes `bytes` (of `content_type`) and renders a thumbnail fitting `px` x `px`. Images
/// with more than `max_pixels` pixels are refused before their pixels are decoded.
pub fn render(
    bytes: &[u8],
    content_type: &str,
    px: u32,
    max_pixels: u64,
) -> Result<Rendered, String> {
    let format = ImageFormat::from_mime_type(content_type)
        .ok_or_else(|| format!("not a decodable image type: {content_type}"))?;
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| format!("bad image header: {e}"))?;
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(format!("{width}x{height} exceeds {max_pixels} pixels"));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    // Room for the decoded image (up to 16 bytes a pixel for the widest formats) and a copy.
    limits.max_alloc = Some(max_pixels.saturating_mul(32));
    reader.limits(limits);
    let image = reader.decode().map_err(|e| format!("cannot decode: {e}"))?;
    // The header's size is only a claim, and a decoder may follow it to an image with no
    // pixels (a GIF screen of 10310x0: found by fuzzing). What was decoded is the source.
    let (width, height) = (image.width(), image.height());
    if width == 0 || height == 0 {
        return Err(format!("{width}x{height}: an image without pixels"));
    }
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(format!("{width}x{height} exceeds {max_pixels} pixels"));
    }
    let thumb = if width <= px && height <= px {
        image
    } else {
        image.thumbnail(px, px)
    };
    let (bytes, content_type) = encode(&thumb)?;
    Ok(Rendered {
        bytes,
        content_type,
        width: thumb.width(),
        height: thumb.height(),
        source_width: width,
        source_height: height,
    })
}

fn encode(thumb: &DynamicImage) -> Result<(Vec<u8>, &'static str), String> {
    let mut out = Cursor::new(Vec::new());
    if thumb.color().has_alpha() {
        thumb
            .to_rgba8()
            .write_to(&mut out, ImageFormat::Png)
            .map_err(|e| format!("encode png: {e}"))?;
        return Ok((out.into_inner(), "image/png"));
    }
    let rgb = thumb.to_rgb8();
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode_image(&rgb)
        .map_err(|e| format!("encode jpeg: {e}"))?;
    Ok((out.into_inner(), "image/jpeg"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn png(w: u32, h: u32, alpha: bool) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        if alpha {
            image::RgbaImage::from_pixel(w, h, image::Rgba([1, 2, 3, 100]))
                .write_to(&mut out, ImageFormat::Png)
                .unwrap();
        } else {
            image::RgbImage::from_pixel(w, h, image::Rgb([1, 2, 3]))
                .write_to(&mut out, ImageFormat::Png)
                .unwrap();
        }
        out.into_inner()
    }

    #[test]
    fn fits_the_square_and_keeps_the_aspect() {
        let r = render(&png(800, 400, false), "image/png", 320, 1 << 30).unwrap();
        assert_eq!((r.width, r.height), (320, 160));
        assert_eq!((r.source_width, r.source_height), (800, 400));
        assert_eq!(r.content_type, "image/jpeg");
        let decoded = image::load_from_memory(&r.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (320, 160));
        let r = render(&png(10, 20, true), "image/png", 320, 1 << 30).unwrap();
        assert_eq!(r.content_type, "image/png");
        assert_eq!((r.width, r.height), (10, 20), "never upscaled");
    }

    #[test]
    fn refuses_bombs_and_garbage() {
        assert!(render(&png(100, 100, false), "image/png", 32, 9_999).is_err());
        assert!(render(b"not a png", "image/png", 32, 1 << 30).is_err());
        assert!(render(&png(4, 4, false), "text/plain", 32, 1 << 30).is_err());
        // A GIF whose screen says 10310x0 (found by fuzzing): no pixels, no thumbnail.
        let zero_high = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fuzz/corpus/upload/gif-without-pixels"),
        )
        .unwrap();
        assert!(render(&zero_high, "image/gif", 64, 1 << 20).is_err());
        assert_eq!(
            crate::files::inspect::image_size(&zero_high, "image/gif"),
            (0, 0)
        );
    }
}
