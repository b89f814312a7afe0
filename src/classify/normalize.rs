//! Text normalisation applied before segmentation and feature extraction.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Only the first `MAX_CHARS` characters of a complaint are used for features.
///
/// Complaints are rarely longer than a few hundred characters; the cap bounds the
/// cost of one classification (100 KB of input costs the same as 2,000 characters).
pub const MAX_CHARS: usize = 2_000;

/// English telecom terms and the Chinese words the corpus uses for them (`english<TAB>中文` lines).
const ENGLISH: &str = include_str!("../../corpus/english.tsv");

/// Normalises raw complaint text into the form the model sees.
///
/// In order: keep the first [`MAX_CHARS`] characters; fold full-width ASCII forms
/// (`ＷＩＦＩ１２３`) and the ideographic space to half-width; lowercase; turn every
/// character that is neither a letter nor a digit (punctuation, emoji, symbols,
/// control characters, zero-width joiners) into one space, collapsing runs, and where a run holds a
/// sentence end (`。！？；…`, a line break) into two spaces, so clauses and sentences stay apart; convert
/// traditional Chinese characters to simplified ones (`fast2s`, a character table with
/// a few context rules); write amounts of money one way (`三十块`, `30块钱`, `￥30`, `30 rmb`
/// → `30元`; `五毛` → `5角`); replace English telecom terms by the Chinese word the corpus uses
/// (`bill` → `账单`, `top up` → `充值`). The result has no leading or trailing space; it is
/// empty when the input held no letter or digit at all.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_CHARS * 4));
    let (mut pending_space, mut pending_break) = (false, false);
    let mut chars = text.chars().take(MAX_CHARS).map(fold_width).peekable();
    while let Some(c) = chars.next() {
        // A decimal point between digits stays (15.5元).
        if c == '.'
            && !pending_space
            && out.ends_with(|p: char| p.is_ascii_digit())
            && chars.peek().is_some_and(|n| n.is_ascii_digit())
        {
            out.push('.');
            continue;
        }
        if c.is_alphanumeric() || c == YEN {
            if pending_space && !out.is_empty() {
                out.push(' ');
                if pending_break {
                    out.push(' ');
                }
            }
            (pending_space, pending_break) = (false, false);
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else if c.is_uppercase() {
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
        } else {
            pending_space = true;
            pending_break |= is_sentence_end(c);
        }
    }
    if out.is_empty() || out.chars().all(|c| c == YEN || c == ' ') {
        return String::new();
    }
    let mut s = fast2s::convert(&out);
    if s.contains(VARIANTS_FROM) {
        s = s.replace(VARIANTS_FROM, VARIANTS_TO);
    }
    let s = money(&s);
    translate_english(&s)
}

/// Sentence-ending punctuation (full-width forms are already folded to ASCII here).
fn is_sentence_end(c: char) -> bool {
    matches!(c, '。' | '!' | '?' | ';' | '…' | '\n' | '\r' | '｡')
}

/// `帐` (a variant the t2s table produces for `帳`, and a common typo) is folded to the
/// standard `账` (账单, 账户, 到账).
const VARIANTS_FROM: char = '帐';
const VARIANTS_TO: &str = "账";

/// The yen/yuan sign (`¥`, and `￥` folded to it), kept until amounts are rewritten.
const YEN: char = '¥';

/// Full-width ASCII variants (U+FF01..=U+FF5E), the ideographic space and `￥` to half-width.
fn fold_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FFE5}' => YEN,
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// True for characters of the CJK ideograph blocks (segmented one character per unit).
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x323AF)
}

/// Money units after a number, longest first, with their canonical form. ASCII units count only after an
/// ASCII number and before a non-letter.
const UNITS: [(&str, &str); 11] = [
    ("块钱", "元"),
    ("元钱", "元"),
    ("毛钱", "角"),
    ("块", "元"),
    ("元", "元"),
    ("圆", "元"),
    ("毛", "角"),
    ("角", "角"),
    ("rmb", "元"),
    ("yuan", "元"),
    ("kuai", "元"),
];

/// Approximation words between a number and its unit (三十多块, 十几块, 30来块).
fn is_approx(c: char) -> bool {
    matches!(c, '多' | '几' | '来' | '余')
}

fn cn_digit(c: char) -> Option<u64> {
    Some(match c {
        '零' | '〇' => 0,
        '一' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

fn cn_unit(c: char) -> Option<u64> {
    Some(match c {
        '十' => 10,
        '百' => 100,
        '千' => 1_000,
        '万' => 10_000,
        _ => return None,
    })
}

/// The value of a Chinese numeral (`三十` 30, `一百五` 150, `两千零五` 2005, `一二三` 123), or `None`.
pub(crate) fn cn_number(s: &[char]) -> Option<u64> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    let (mut total, mut section, mut num) = (0u64, 0u64, 0u64);
    let (mut has_num, mut last_unit, mut after_unit, mut digits_in_row) = (false, 0u64, false, 0);
    for &c in s {
        if let Some(d) = cn_digit(c) {
            num = if has_num && digits_in_row > 0 { num * 10 + d } else { d };
            has_num = true;
            digits_in_row += 1;
        } else if let Some(u) = cn_unit(c) {
            if u == 10_000 {
                section += num;
                total += section * 10_000;
                section = 0;
            } else {
                let n = if has_num {
                    num
                } else if u == 10 {
                    1
                } else {
                    return None;
                };
                section += n * u;
            }
            num = 0;
            has_num = false;
            last_unit = u;
            digits_in_row = 0;
            after_unit = true;
            continue;
        } else {
            return None;
        }
        if digits_in_row > 1 {
            after_unit = false;
        }
    }
    if has_num {
        // 一百五 is 150 and 两千五 2,500: a lone digit right after 百/千/万 counts one order lower.
        if after_unit && digits_in_row == 1 && (100..=10_000).contains(&last_unit) {
            section += num * (last_unit / 10);
        } else {
            section += num;
        }
    }
    Some(total + section)
}

/// The unit at `chars[i..]` and how many characters it spans.
fn unit_at(chars: &[char], i: usize, ascii_ok: bool) -> Option<(&'static str, usize)> {
    for (u, canon) in UNITS {
        let n = u.chars().count();
        if i + n > chars.len() || !chars[i..i + n].iter().copied().eq(u.chars()) {
            continue;
        }
        if u.is_ascii() && (!ascii_ok || chars.get(i + n).is_some_and(|c| c.is_ascii_alphabetic())) {
            continue;
        }
        return Some((canon, n));
    }
    None
}

/// Rewrites amounts of money to `<digits>[多|几|来|余]元` (or `角`): `三十块` → `30元`, `30块钱` → `30元`,
/// `¥30` → `30元`, `30 rmb` → `30元`, `五毛` → `5角`. Other numbers are left as they are, and `一块`
/// without `钱` (together, one piece) is not money.
fn money(s: &str) -> String {
    if !s.contains(|c: char| c == YEN || c.is_ascii_digit() || cn_digit(c).is_some() || c == '十') {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == YEN {
            let mut j = i + 1;
            if chars.get(j) == Some(&' ') {
                j += 1;
            }
            let end = number_end(&chars, j);
            if end > j {
                out.extend(&chars[j..end]);
                out.push('元');
                i = end;
                // A unit written after the amount as well (￥30元) is the same unit.
                if let Some((_, n)) = unit_at(&chars, i, true) {
                    i += n;
                }
            } else {
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
                i += 1;
                if chars.get(i) == Some(&' ') {
                    i += 1;
                }
            }
            continue;
        }
        let starts_word = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        if c.is_ascii_digit() && starts_word {
            let end = number_end(&chars, i);
            let mut j = end;
            let approx = chars.get(j).copied().filter(|&c| is_approx(c));
            j += usize::from(approx.is_some());
            let k = j + usize::from(chars.get(j) == Some(&' '));
            if let Some((canon, n)) = unit_at(&chars, k, true).filter(|(_, n)| k == j || *n > 1) {
                out.extend(&chars[i..end]);
                out.extend(approx);
                out.push_str(canon);
                i = k + n;
            } else {
                out.extend(&chars[i..end]);
                i = end;
            }
            continue;
        }
        if cn_digit(c).is_some() || cn_unit(c).is_some_and(|u| u < 10_000) {
            let mut end = i;
            while end < chars.len() && (cn_digit(chars[end]).is_some() || cn_unit(chars[end]).is_some()) {
                end += 1;
            }
            let approx = chars.get(end).copied().filter(|&c| is_approx(c));
            let j = end + usize::from(approx.is_some());
            let unit = unit_at(&chars, j, false);
            let together = end - i == 1 && c == '一' && chars.get(j) == Some(&'块') && chars.get(j + 1) != Some(&'钱');
            if let (Some((canon, n)), false, Some(v)) = (unit, together, cn_number(&chars[i..end])) {
                out.push_str(&v.to_string());
                out.extend(approx);
                out.push_str(canon);
                i = j + n;
            } else {
                out.extend(&chars[i..end]);
                i = end;
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out.trim_end().to_string()
}

/// End of an ASCII number (digits, one decimal point followed by digits) starting at `i`.
fn number_end(chars: &[char], i: usize) -> usize {
    let mut j = i;
    while j < chars.len() && chars[j].is_ascii_digit() {
        j += 1;
    }
    if j > i && chars.get(j) == Some(&'.') && chars.get(j + 1).is_some_and(|c| c.is_ascii_digit()) {
        j += 1;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
    }
    j
}

/// The English glossary: normalised English phrase → Chinese word; and the longest phrase in words.
fn glossary() -> &'static (HashMap<String, &'static str>, usize) {
    static G: OnceLock<(HashMap<String, &'static str>, usize)> = OnceLock::new();
    G.get_or_init(|| {
        let mut map = HashMap::new();
        let mut longest = 1;
        for line in ENGLISH.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((en, zh)) = line.split_once('\t') {
                let key: Vec<String> = en
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(|w| w.to_ascii_lowercase())
                    .collect();
                longest = longest.max(key.len());
                map.insert(key.join(" "), zh.trim());
            }
        }
        (map, longest)
    })
}

/// Base forms an English word may be an inflection of (`charges` → `charge`, `dropping` → `drop`).
fn base_forms(w: &str) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(s) = w.strip_suffix("ies") {
        v.push(format!("{s}y"));
    }
    if let Some(s) = w.strip_suffix("es") {
        v.push(s.to_string());
    }
    if let Some(s) = w.strip_suffix('s').filter(|s| !s.ends_with('s')) {
        v.push(s.to_string());
    }
    for suffix in ["ed", "ing"] {
        if let Some(s) = w.strip_suffix(suffix).filter(|s| s.len() >= 2) {
            v.push(s.to_string());
            v.push(format!("{s}e"));
            let b = s.as_bytes();
            if b.len() >= 2 && b[b.len() - 1] == b[b.len() - 2] {
                v.push(s[..s.len() - 1].to_string());
            }
        }
    }
    if let Some(s) = w.strip_suffix('d').filter(|s| s.ends_with('e')) {
        v.push(s.to_string());
    }
    v
}

/// Replaces English words and phrases of the glossary (longest match first, inflections included) by
/// their Chinese word; other words are kept.
fn translate_english(s: &str) -> String {
    if !s.bytes().any(|b| b.is_ascii_lowercase()) {
        return s.to_string();
    }
    let (map, longest) = glossary();
    // Word tokens: maximal ASCII-letter runs not touching a digit or other ASCII letter.
    let mut words: Vec<(usize, usize)> = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_lowercase() {
            let start = i;
            while i < b.len() && b[i].is_ascii_lowercase() {
                i += 1;
            }
            let glued_digit = (start > 0 && b[start - 1].is_ascii_digit()) || (i < b.len() && b[i].is_ascii_digit());
            if !glued_digit {
                words.push((start, i));
            }
        } else {
            i += 1;
        }
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut copied = 0;
    let mut w = 0;
    while w < words.len() {
        let mut matched = None;
        for n in (1..=*longest).rev() {
            if w + n > words.len() {
                continue;
            }
            // Phrase words must be separated by exactly one space.
            if (w..w + n - 1).any(|k| words[k].1 + 1 != words[k + 1].0 || b[words[k].1] != b' ') {
                continue;
            }
            let head: Vec<&str> = words[w..w + n - 1].iter().map(|&(a, e)| &s[a..e]).collect();
            let last = &s[words[w + n - 1].0..words[w + n - 1].1];
            let mut candidates = vec![last.to_string()];
            candidates.extend(base_forms(last));
            for cand in candidates {
                let mut key = head.join(" ");
                if !key.is_empty() {
                    key.push(' ');
                }
                key.push_str(&cand);
                if let Some(zh) = map.get(&key) {
                    matched = Some((n, *zh));
                    break;
                }
            }
            if matched.is_some() {
                break;
            }
        }
        if let Some((n, zh)) = matched {
            out.push_str(&s[copied..words[w].0]);
            out.push_str(zh);
            copied = words[w + n - 1].1;
            w += n;
        } else {
            w += 1;
        }
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_and_case_are_folded() {
        assert_eq!(normalize("ＷＩＦＩ连不上，５Ｇ信号差"), "wifi连不上 5g信号差");
    }

    #[test]
    fn traditional_is_converted() {
        assert_eq!(normalize("帳單費用不對，號碼被停機"), "账单费用不对 号码被停机");
        assert_eq!(normalize("寬頻斷線"), "宽频断线");
        assert_eq!(normalize("充值没到帐"), "充值没到账");
    }

    #[test]
    fn simplified_text_is_kept() {
        let s = "客户反映本月话费多扣了58元 流量没超 也没订增值业务";
        assert_eq!(normalize(s), s);
    }

    #[test]
    fn emoji_and_control_chars_become_separators() {
        assert_eq!(normalize("信号😡😡太差\u{0007}了\u{200B}!!"), "信号 太差 了");
        assert_eq!(normalize("信号差。话费多！套餐，流量"), "信号差  话费多  套餐 流量");
        assert_eq!(normalize("👍🏻\u{FE0F}"), "");
        assert_eq!(normalize(" ，。！？ \t\n"), "");
        assert_eq!(normalize("￥"), "");
    }

    #[test]
    fn long_input_is_truncated() {
        let s = "话".repeat(MAX_CHARS * 50);
        assert_eq!(normalize(&s).chars().count(), MAX_CHARS);
    }

    #[test]
    fn mixed_scripts_are_kept() {
        assert_eq!(normalize("Café 요금 料金 ДА"), "café 요금 料金 да");
    }

    #[test]
    fn amounts_are_written_one_way() {
        for t in [
            "扣了三十块",
            "扣了30元",
            "扣了￥30",
            "扣了¥ 30",
            "扣了30块钱",
            "扣了30 RMB",
            "扣了三十元钱",
            "扣了30 kuai",
        ] {
            assert_eq!(normalize(t), "扣了30元", "{t}");
        }
        assert_eq!(normalize("一百五十块"), "150元");
        assert_eq!(normalize("一百五块"), "150元");
        assert_eq!(normalize("两百多块"), "200多元");
        assert_eq!(normalize("十几块钱"), "10几元");
        assert_eq!(normalize("五毛钱"), "5角");
        assert_eq!(normalize("￥15.5元"), "15.5元");
        assert_eq!(normalize("我们一块去营业厅"), "我们一块去营业厅");
        assert_eq!(normalize("一直打不通 十分生气 一下午"), "一直打不通 十分生气 一下午");
        assert_eq!(normalize("5G流量用了2个G"), "5g流量用了2个g");
    }

    #[test]
    fn chinese_numerals_are_read() {
        let n = |s: &str| cn_number(&s.chars().collect::<Vec<_>>());
        assert_eq!(n("三十"), Some(30));
        assert_eq!(n("十五"), Some(15));
        assert_eq!(n("一百零五"), Some(105));
        assert_eq!(n("两千五"), Some(2_500));
        assert_eq!(n("一万二千"), Some(12_000));
        assert_eq!(n("一二三"), Some(123));
        assert_eq!(n("百"), None);
    }

    #[test]
    fn english_terms_become_the_corpus_words() {
        assert_eq!(normalize("my bill is wrong"), "my 账单 is wrong");
        assert_eq!(normalize("Roaming charges in Japan"), "漫游 扣费 in japan");
        assert_eq!(normalize("customer service态度差"), "客服态度差");
        assert_eq!(normalize("data费太贵"), "流量费太贵");
        assert_eq!(normalize("Top-up failed"), "充值 failed");
        assert_eq!(normalize("calls keep dropping"), "电话 keep 掉线");
        assert_eq!(normalize("5g wifi app"), "5g wifi app");
    }
}
