//! A search query: free text where every word must match, and `"quoted phrases"` that must
//! also appear in order, parsed once and matched against a message's current text.

use std::collections::BTreeSet;

use crate::analysis::{index_terms, lookup_terms, phrase_form, query_terms, words};

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 256;

/// Most distinct terms one query may look up (each is a posting list to intersect).
pub const MAX_QUERY_TERMS: usize = 32;

/// Why a query text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Nothing searchable: empty, or only spaces and punctuation.
    #[error("the query has no words to search for")]
    Empty,
    /// Over [`MAX_QUERY_CHARS`].
    #[error("the query is longer than {MAX_QUERY_CHARS} characters")]
    TooLong,
    /// Analysed into more than [`MAX_QUERY_TERMS`] terms.
    #[error("the query has more than {MAX_QUERY_TERMS} terms")]
    TooManyTerms,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Every term a message must be indexed under, rarest unknown: all are intersected.
    pub terms: BTreeSet<String>,
    /// Quoted phrases in [`phrase_form`], each of which the message's text must contain.
    pub phrases: Vec<String>,
    /// Normalised text to highlight in hits: stems of words and whole phrases.
    pub highlights: Vec<String>,
}

impl Query {
    /// Parses `text`: words outside quotes, phrases inside (an unclosed quote runs to the end).
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(QueryError::TooLong);
        }
        let mut query = Query {
            terms: BTreeSet::new(),
            phrases: Vec::new(),
            highlights: Vec::new(),
        };
        for (i, part) in text.split('"').enumerate() {
            if i % 2 == 1 {
                query.add_phrase(part);
            } else {
                query.add_words(part);
            }
        }
        if query.terms.is_empty() {
            return Err(QueryError::Empty);
        }
        if query.terms.len() > MAX_QUERY_TERMS {
            return Err(QueryError::TooManyTerms);
        }
        Ok(query)
    }

    fn add_words(&mut self, text: &str) {
        for word in words(text) {
            let (terms, stem) = query_terms(&word.norm);
            self.terms.extend(terms);
            self.highlights.push(stem);
        }
    }

    fn add_phrase(&mut self, text: &str) {
        let form = phrase_form(text);
        if form.is_empty() {
            return;
        }
        // A phrase's words are looked up whole: no particle is dropped inside quotes.
        for word in words(text) {
            self.terms.extend(lookup_terms(&word.norm));
        }
        if form.contains(' ') {
            self.phrases.push(form.clone());
        }
        self.highlights.push(form);
    }

    /// Whether a message whose text (body and file names) is `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        let indexed = index_terms(text);
        if !self.terms.iter().all(|t| indexed.contains(t)) {
            return false;
        }
        if self.phrases.is_empty() {
            return true;
        }
        let form = phrase_form(text);
        self.phrases.iter().all(|p| form.contains(p.as_str()))
    }
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
