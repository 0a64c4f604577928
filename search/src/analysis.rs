//! Text analysis, the same at index and at query time.
//!
//! 1. **Words**: Unicode word boundaries (UAX #29) on the original text, split further at `_`
//!    and `.` (so `report_2024.pdf` is `report`, `2024`, `pdf`, and a file name is found by
//!    its stem or its extension); punctuation and spaces are not words.
//! 2. **Normalisation**: each word is case-folded (full folding: `Straße` = `strasse`) and put
//!    in NFKC (full-width `ＡＢＣ` = `abc`, compatibility jamo `ㅋ` = conjoining `ᄏ`).
//! 3. **Terms**: a word splits into runs of CJK characters (Hangul, Han, kana) and runs of
//!    anything else. A non-CJK run is one term. A CJK run gives every character (unigram) and
//!    every pair of neighbours (bigram): Korean attaches particles and endings to words and
//!    often drops spaces, so `친구에게` holds the bigram `친구` that the query `친구` looks for,
//!    with no dictionary to ship or fall out of date. Two CJK runs separated only by spaces
//!    also give the bigram across the space, so `회의시간` finds `회의 시간` and the reverse.
//!
//! A query word of CJK characters looks up its bigrams only (its unigrams are implied),
//! unless it is one character long. A query word ending in a Korean particle (조사) is
//! looked up without it when at least two syllables remain: `친구에게` finds `친구한테`.
//! Dropping a suffix only ever widens what a word matches, since the stem's bigrams are the
//! word's own.

use std::collections::BTreeSet;

use icu_casemap::CaseMapper;
use icu_normalizer::ComposingNormalizer;
use unicode_segmentation::UnicodeSegmentation;

/// Longest term kept, in bytes (longer words are cut at a character boundary).
pub const MAX_TERM_BYTES: usize = 64;

/// Korean particles stripped from the end of query words, longest first so `에게서` is
/// not read as `서`.
const PARTICLES: &[&str] = &[
    "에게서",
    "한테서",
    "으로서",
    "으로써",
    "이라고",
    "이라는",
    "에게",
    "한테",
    "께서",
    "에서",
    "으로",
    "로서",
    "로써",
    "부터",
    "까지",
    "처럼",
    "보다",
    "이랑",
    "하고",
    "마저",
    "조차",
    "밖에",
    "이나",
    "이며",
    "라고",
    "라는",
    "은",
    "는",
    "이",
    "가",
    "을",
    "를",
    "의",
    "도",
    "에",
    "와",
    "과",
    "로",
    "만",
    "랑",
    "께",
];

/// How many particles one query word may shed (`친구에게는` is `친구` + `에게` + `는`).
const MAX_PARTICLES: usize = 2;

/// A word of a text: where it is in the original and its normalised form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Byte offset of the word in the original text.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
    /// Case-folded, NFKC.
    pub norm: String,
}

/// Case-folds and NFKC-normalises `text`.
pub fn normalise(text: &str) -> String {
    let folded = CaseMapper::new().fold_string(text);
    ComposingNormalizer::new_nfkc()
        .normalize(&folded)
        .into_owned()
}

/// The words of `text`, in order.
pub fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    for (at, word) in text.unicode_word_indices() {
        let mut offset = 0;
        for part in word.split(['_', '.']) {
            if !part.is_empty() {
                let norm = normalise(part);
                if !norm.is_empty() {
                    out.push(Word {
                        start: at + offset,
                        end: at + offset + part.len(),
                        norm,
                    });
                }
            }
            offset += part.len() + 1;
        }
    }
    out
}

/// Whether `c` is written without spaces between its words often enough to need n-grams.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF       // Hangul Jamo
        | 0x3040..=0x30FF     // Hiragana, Katakana
        | 0x3130..=0x318F     // Hangul compatibility Jamo
        | 0x3400..=0x4DBF     // CJK extension A
        | 0x4E00..=0x9FFF     // CJK unified ideographs
        | 0xA960..=0xA97F     // Hangul Jamo extended A
        | 0xAC00..=0xD7AF     // Hangul syllables
        | 0xD7B0..=0xD7FF     // Hangul Jamo extended B
        | 0xF900..=0xFAFF     // CJK compatibility ideographs
        | 0x20000..=0x3FFFF   // CJK extensions B..
    )
}

/// Whether `c` is a precomposed Hangul syllable.
fn is_syllable(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

/// A word cut into runs of CJK and of other characters.
fn runs(norm: &str) -> Vec<(bool, &str)> {
    let mut out: Vec<(bool, &str)> = Vec::new();
    let mut start = 0;
    let mut kind = None;
    for (i, c) in norm.char_indices() {
        let cjk = is_cjk(c);
        if kind.is_some_and(|k| k != cjk) {
            out.push((!cjk, &norm[start..i]));
            start = i;
        }
        kind = Some(cjk);
    }
    if let Some(k) = kind {
        out.push((k, &norm[start..]));
    }
    out
}

/// `s` cut to at most [`MAX_TERM_BYTES`] at a character boundary.
fn capped(s: &str) -> &str {
    if s.len() <= MAX_TERM_BYTES {
        return s;
    }
    let mut end = MAX_TERM_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Adds the terms of one CJK run: every character and every neighbouring pair.
fn cjk_terms(run: &str, out: &mut BTreeSet<String>) {
    let chars: Vec<char> = run.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        out.insert(c.to_string());
        if let Some(next) = chars.get(i + 1) {
            out.insert([*c, *next].iter().collect());
        }
    }
}

/// The distinct terms a text is indexed under.
pub fn index_terms(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let words = words(text);
    for (i, word) in words.iter().enumerate() {
        for (cjk, run) in runs(&word.norm) {
            if cjk {
                cjk_terms(run, &mut out);
            } else {
                out.insert(capped(run).to_string());
            }
        }
        if let Some(pair) = words.get(i + 1).and_then(|next| across(text, word, next)) {
            out.insert(pair);
        }
    }
    out
}

/// The bigram across the spaces between two words, when both meet there in CJK characters.
fn across(text: &str, left: &Word, right: &Word) -> Option<String> {
    if !text[left.end..right.start].chars().all(char::is_whitespace) {
        return None;
    }
    let last = left.norm.chars().next_back().filter(|c| is_cjk(*c))?;
    let first = right.norm.chars().next().filter(|c| is_cjk(*c))?;
    Some([last, first].iter().collect())
}

/// A normalised query word without the Korean particles it ends in, when enough is left.
pub fn strip_particles(norm: &str) -> &str {
    let mut stem = norm;
    for _ in 0..MAX_PARTICLES {
        let shorter = PARTICLES.iter().find_map(|p| {
            let rest = stem.strip_suffix(p)?;
            let syllables = rest.chars().filter(|c| is_syllable(*c)).count();
            (syllables >= 2 && rest.chars().all(is_syllable)).then_some(rest)
        });
        match shorter {
            Some(rest) => stem = rest,
            None => break,
        }
    }
    stem
}

/// The terms a query word must all match, with the text to highlight for it: its own
/// terms once the particles it ends in are stripped.
pub fn query_terms(norm: &str) -> (BTreeSet<String>, String) {
    let stem = strip_particles(norm);
    (lookup_terms(stem), stem.to_string())
}

/// The terms a normalised word is looked up by, as it stands: a CJK run by its bigrams
/// (its characters are implied) or, one character long, by that character.
pub fn lookup_terms(norm: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (cjk, run) in runs(norm) {
        if !cjk {
            out.insert(capped(run).to_string());
            continue;
        }
        let chars: Vec<char> = run.chars().collect();
        if chars.len() == 1 {
            out.insert(run.to_string());
        }
        for pair in chars.windows(2) {
            out.insert(pair.iter().collect());
        }
    }
    out
}

/// `text` normalised for phrase matching: its words, each normalised, one space between.
pub fn phrase_form(text: &str) -> String {
    let words = words(text);
    let mut out = String::with_capacity(text.len());
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&w.norm);
    }
    out
}

#[cfg(test)]
#[path = "analysis_tests.rs"]
mod tests;
