use super::*;

/// Whether a document indexed from `doc` holds every term of every word of `query`.
fn hits(doc: &str, query: &str) -> bool {
    let indexed = index_terms(doc);
    words(query)
        .iter()
        .all(|w| query_terms(&w.norm).0.iter().all(|t| indexed.contains(t)))
}

#[test]
fn korean_particles_compounds_and_missing_spaces_hit() {
    let must_hit = [
        ("친구에게 주소 보냈어", "친구"),
        ("친구한테 물어볼게", "친구"),
        ("친구한테 물어볼게", "친구에게"),
        ("친구들이랑 놀았어", "친구"),
        ("어제 친구에게는 말했어", "친구에게는"),
        ("서울역에서 만나자", "서울역"),
        ("서울역에서 만나자", "서울역에"),
        ("회의실 예약했어요", "회의"),
        ("내일 회의 시간 알려줘", "회의시간"),
        ("내일회의시간 알려줘", "회의 시간"),
        ("주소는 강남구 역삼동 123이야", "역삼동"),
        ("주소는 강남구 역삼동 123이야", "123이야"),
        ("우리집 앞 편의점", "집"),
        ("선생님께서 말씀하셨다", "선생님께서"),
        ("학교에서 봐", "학교에"),
        ("카톡으로 보내줘", "카톡"),
    ];
    for (doc, query) in must_hit {
        assert!(hits(doc, query), "{query:?} must find {doc:?}");
    }
}

#[test]
fn korean_near_misses_do_not_hit() {
    let must_not_hit = [
        ("친절한 구두 가게", "친구"),
        ("구친 사이", "친구"),
        ("학생 교실", "학교"),
        ("서울 가는 역", "서울역"),
        ("회의실 예약", "회식"),
        ("사과 먹자", "사진"),
        // A two-syllable word keeps its last syllable: 나이 is not 나 + 이.
        ("나는 간다", "나이"),
    ];
    for (doc, query) in must_not_hit {
        assert!(!hits(doc, query), "{query:?} must not find {doc:?}");
    }
}

#[test]
fn other_scripts_fold_case_and_width() {
    assert!(hits("Meeting at STRASSE 5", "straße"));
    assert!(hits("ＡＢＣ corp", "abc"));
    assert!(hits("Hello, World!", "world"));
    assert!(hits("see report_2024.pdf", "report"));
    assert!(hits("see report_2024.pdf", "pdf"));
    assert!(hits("東京タワーに行った", "東京"));
    assert!(hits("ㅋㅋㅋ 진짜", "ㅋㅋ"));
    assert!(!hits("concatenate", "cat"));
    assert!(!hits("hello world", "help"));
}

#[test]
fn particles_are_stripped_only_from_korean_with_a_long_enough_stem() {
    assert_eq!(strip_particles("친구에게"), "친구");
    assert_eq!(strip_particles("친구에게는"), "친구");
    assert_eq!(strip_particles("학교에서"), "학교");
    assert_eq!(strip_particles("나이"), "나이");
    assert_eq!(strip_particles("사과"), "사과");
    assert_eq!(strip_particles("ok에게"), "ok에게");
}

#[test]
fn words_keep_their_place_in_the_original() {
    let text = "Hi, 친구에게! ＡＢ_cd";
    let w = words(text);
    let spans: Vec<(&str, &str)> = w
        .iter()
        .map(|w| (&text[w.start..w.end], w.norm.as_str()))
        .collect();
    assert_eq!(
        spans,
        [
            ("Hi", "hi"),
            ("친구에게", "친구에게"),
            ("ＡＢ", "ab"),
            ("cd", "cd")
        ]
    );
}

#[test]
fn long_words_are_capped_at_a_char_boundary() {
    let long = "가".repeat(10) + &"x".repeat(100);
    let terms = index_terms(&long);
    assert!(terms.iter().all(|t| t.len() <= MAX_TERM_BYTES));
    let latin = "é".repeat(40);
    let terms = index_terms(&latin);
    assert_eq!(terms.len(), 1);
    assert!(terms.iter().all(|t| t.len() <= MAX_TERM_BYTES));
}

#[test]
fn phrase_form_joins_normalised_words() {
    assert_eq!(phrase_form("  See,   YOU  tomorrow! "), "see you tomorrow");
    assert_eq!(phrase_form(""), "");
}
