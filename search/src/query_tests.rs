use super::*;

#[test]
fn every_word_must_match() {
    let q = Query::parse("address Seoul").unwrap();
    assert!(q.matches("my address in seoul is ..."));
    assert!(!q.matches("my address is ..."));
}

#[test]
fn a_phrase_matches_in_order_only() {
    let q = Query::parse("\"see you\" tomorrow").unwrap();
    assert!(q.matches("See, you... TOMORROW"));
    assert!(!q.matches("you see tomorrow"));
    assert!(!q.matches("see you"));
    let unclosed = Query::parse("\"see you").unwrap();
    assert_eq!(unclosed.phrases, ["see you"]);
}

#[test]
fn korean_queries_strip_particles_but_phrases_do_not() {
    let q = Query::parse("친구에게 주소").unwrap();
    assert!(q.matches("친구한테 주소 보냈어"));
    let q = Query::parse("\"친구에게\"").unwrap();
    assert!(!q.matches("친구한테 주소 보냈어"));
    assert!(q.matches("친구에게 주소 보냈어"));
    assert_eq!(
        Query::parse("친구에게 주소").unwrap().highlights,
        ["친구", "주소"]
    );
}

#[test]
fn bad_queries_are_refused() {
    assert_eq!(Query::parse(""), Err(QueryError::Empty));
    assert_eq!(Query::parse("  ?! \"\" "), Err(QueryError::Empty));
    assert_eq!(
        Query::parse(&"a".repeat(MAX_QUERY_CHARS + 1)),
        Err(QueryError::TooLong)
    );
    let many: Vec<String> = (0..=MAX_QUERY_TERMS).map(|i| format!("w{i}")).collect();
    assert_eq!(Query::parse(&many.join(" ")), Err(QueryError::TooManyTerms));
    assert!(Query::parse(&"a".repeat(MAX_QUERY_CHARS)).is_ok());
}
