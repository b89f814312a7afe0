//! Text normalisation applied before segmentation and feature extraction.

/// Only the first `MAX_CHARS` characters of a complaint are used for features.
///
/// Complaints are rarely longer than a few hundred characters; the cap bounds the
/// cost of one classification (100 KB of input costs the same as 2,000 characters).
pub const MAX_CHARS: usize = 2_000;

/// Normalises raw complaint text into the form the model sees.
///
/// In order: keep the first [`MAX_CHARS`] characters; fold full-width ASCII forms
/// (`ＷＩＦＩ１２３`) and the ideographic space to half-width; lowercase; turn every
/// character that is neither a letter nor a digit (punctuation, emoji, symbols,
/// control characters, zero-width joiners) into one space, collapsing runs; convert
/// traditional Chinese characters to simplified ones (`fast2s`, a character table with
/// a few context rules). The result has no leading or trailing space; it is empty when
/// the input held no letter or digit at all.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_CHARS * 4));
    let mut pending_space = false;
    for c in text.chars().take(MAX_CHARS) {
        let c = fold_width(c);
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else if c.is_uppercase() {
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
        } else {
            pending_space = true;
        }
    }
    if out.is_empty() {
        return out;
    }
    let mut s = fast2s::convert(&out);
    if s.contains(VARIANTS_FROM) {
        s = s.replace(VARIANTS_FROM, VARIANTS_TO);
    }
    s
}

/// `帐` (a variant the t2s table produces for `帳`, and a common typo) is folded to the
/// standard `账` (账单, 账户, 到账).
const VARIANTS_FROM: char = '帐';
const VARIANTS_TO: &str = "账";

/// Full-width ASCII variants (U+FF01..=U+FF5E) and the ideographic space to half-width.
fn fold_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// True for characters of the CJK ideograph blocks (segmented one character per unit).
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x323AF)
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
        assert_eq!(normalize("👍🏻\u{FE0F}"), "");
        assert_eq!(normalize(" ，。！？ \t\n"), "");
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
}
