//! The part of a hit's text shown in results, with what matched marked.
//!
//! Ranges are in UTF-16 code units of the snippet, the unit mention ranges use, so every
//! client slices them the same way.

use crate::analysis::{is_cjk, normalise};

/// Longest snippet, in characters, not counting the `…` marks where it was cut.
pub const SNIPPET_CHARS: usize = 160;

/// Characters kept before the first highlight when the text is cut.
const LEAD_CHARS: usize = 40;

/// Text to show for a hit and the ranges in it to highlight.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snippet {
    /// A window of the text (line breaks as spaces), `…` where it was cut.
    pub text: String,
    /// `(offset, length)` in UTF-16 code units of `text`, in order, not overlapping.
    pub highlights: Vec<(u32, u32)>,
}

/// One character of the normalised text, with the original bytes it came from.
struct Mapped {
    c: char,
    start: usize,
    end: usize,
}

/// The snippet of `text` for a query whose normalised highlight texts are `needles` (a
/// needle with spaces is highlighted word by word).
pub fn snippet(text: &str, needles: &[String]) -> Snippet {
    let mapped = map(text);
    let mut ranges = Vec::new();
    for needle in needles.iter().flat_map(|n| n.split(' ')) {
        find(&mapped, needle, &mut ranges);
    }
    ranges.sort_unstable();
    let ranges = merge(ranges);
    window(text, &ranges)
}

fn map(text: &str) -> Vec<Mapped> {
    let mut out = Vec::with_capacity(text.len());
    let mut buf = [0u8; 4];
    for (start, c) in text.char_indices() {
        let end = start + c.len_utf8();
        for n in normalise(c.encode_utf8(&mut buf)).chars() {
            out.push(Mapped { c: n, start, end });
        }
    }
    out
}

/// Adds the original byte ranges where `needle` occurs; a needle that is not CJK must
/// stand as a whole word.
fn find(mapped: &[Mapped], needle: &str, out: &mut Vec<(usize, usize)>) {
    let needle: Vec<char> = needle.chars().collect();
    let Some(first) = needle.first() else { return };
    let whole_word = !is_cjk(*first);
    let is_word_char = |i: Option<&Mapped>| i.is_some_and(|m| m.c.is_alphanumeric());
    for at in 0..mapped.len().saturating_sub(needle.len() - 1) {
        let hit = needle.iter().zip(&mapped[at..]).all(|(n, m)| *n == m.c);
        if !hit {
            continue;
        }
        let last = at + needle.len() - 1;
        if whole_word
            && (is_word_char(at.checked_sub(1).and_then(|i| mapped.get(i)))
                || is_word_char(mapped.get(last + 1)))
        {
            continue;
        }
        out.push((mapped[at].start, mapped[last].end));
    }
}

fn merge(sorted: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(sorted.len());
    for (s, e) in sorted {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Cuts the text around its first highlight and turns byte ranges into UTF-16 ones.
fn window(text: &str, ranges: &[(usize, usize)]) -> Snippet {
    let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let first_char = ranges
        .first()
        .map(|(s, _)| starts.partition_point(|i| i < s))
        .unwrap_or(0);
    let from_char = if starts.len() <= SNIPPET_CHARS {
        0
    } else {
        first_char
            .saturating_sub(LEAD_CHARS)
            .min(starts.len() - SNIPPET_CHARS)
    };
    let to_char = (from_char + SNIPPET_CHARS).min(starts.len());
    let from = starts.get(from_char).copied().unwrap_or(text.len());
    let to = starts.get(to_char).copied().unwrap_or(text.len());
    let mut out = Snippet::default();
    if from > 0 {
        out.text.push('…');
    }
    let mut units = utf16_len(&out.text);
    let mut at = from;
    for &(s, e) in ranges {
        let (s, e) = (s.max(from), e.min(to));
        if s >= e {
            continue;
        }
        units += utf16_len(&text[at..s]);
        let len = utf16_len(&text[s..e]);
        out.highlights.push((units, len));
        units += len;
        at = e;
    }
    out.text.extend(
        text[from..to]
            .chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
    );
    if to < text.len() {
        out.text.push('…');
    }
    out
}

fn utf16_len(s: &str) -> u32 {
    u32::try_from(s.encode_utf16().count()).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[path = "snippet_tests.rs"]
mod tests;
