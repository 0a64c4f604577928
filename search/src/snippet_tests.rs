use super::*;

fn marked(s: &Snippet) -> String {
    let units: Vec<u16> = s.text.encode_utf16().collect();
    let mut out = String::new();
    let mut at = 0usize;
    for &(o, l) in &s.highlights {
        let (o, l) = (o as usize, l as usize);
        out.push_str(&String::from_utf16_lossy(&units[at..o]));
        out.push('[');
        out.push_str(&String::from_utf16_lossy(&units[o..o + l]));
        out.push(']');
        at = o + l;
    }
    out.push_str(&String::from_utf16_lossy(&units[at..]));
    out
}

fn needles(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn whole_words_and_korean_stems_are_marked() {
    let s = snippet(
        "Meet my Friend at 친구한테 cafe, friendly",
        &needles(&["friend", "친구"]),
    );
    assert_eq!(marked(&s), "Meet my [Friend] at [친구]한테 cafe, friendly");
}

#[test]
fn phrases_mark_each_word_and_full_width_maps_back() {
    let s = snippet("ＳＥＥ you\nlater", &needles(&["see you"]));
    assert_eq!(marked(&s), "[ＳＥＥ] [you] later");
}

#[test]
fn long_texts_are_cut_around_the_first_hit_in_utf16_units() {
    let text = format!("{}😀 needle {}", "x ".repeat(200), "y ".repeat(200));
    let s = snippet(&text, &needles(&["needle"]));
    assert!(s.text.starts_with('…') && s.text.ends_with('…'));
    assert_eq!(s.text.chars().count(), SNIPPET_CHARS + 2);
    assert!(marked(&s).contains("😀 [needle] "));
}

#[test]
fn no_hit_shows_the_start() {
    let s = snippet("short text", &needles(&["zzz"]));
    assert_eq!(
        s,
        Snippet {
            text: "short text".into(),
            highlights: vec![]
        }
    );
}
