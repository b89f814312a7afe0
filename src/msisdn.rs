//! Mobile numbers (MSISDN) as callers type them.
use crate::error::Error;

/// Normalises a mainland mobile number: fullwidth digits, plus and dashes become ASCII; strips spaces,
/// dashes, a `+86`/`86`/`0086` prefix; then requires 11 digits starting with 1.
pub fn normalize(field: &str, raw: &str) -> Result<String, Error> {
    if raw.chars().count() > 32 {
        return Err(Error::InvalidMsisdn {
            field: field.into(),
            message: "too long: expected an 11-digit mobile number such as 13800138000".into(),
        });
    }
    // Fullwidth forms (what a Chinese input method types: ＋８６ １３８０…) count as their ASCII ones.
    let compact: String = raw
        .chars()
        .map(|c| match c {
            '\u{FF10}'..='\u{FF19}' => char::from(b'0' + (c as u32 - 0xFF10) as u8),
            '\u{FF0B}' => '+',
            '\u{FF0D}' | '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' => '-',
            other => other,
        })
        .filter(|c| !matches!(c, ' ' | '-' | '\u{3000}'))
        .collect();
    if compact.is_empty() {
        return Err(Error::InvalidMsisdn {
            field: field.into(),
            message: "required: an 11-digit mobile number such as 13800138000".into(),
        });
    }
    let digits = compact
        .strip_prefix("+86")
        .or_else(|| compact.strip_prefix("0086"))
        .or_else(|| {
            if compact.len() == 13 {
                compact.strip_prefix("86")
            } else {
                None
            }
        })
        .unwrap_or(&compact);
    if digits.len() != 11 || !digits.bytes().all(|b| b.is_ascii_digit()) || !digits.starts_with('1') {
        return Err(Error::InvalidMsisdn {
            field: field.into(),
            message: "must be an 11-digit mainland mobile number starting with 1, e.g. 13800138000".into(),
        });
    }
    Ok(digits.to_string())
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn accepts_common_forms() {
        for raw in [
            "13800138000",
            "+8613800138000",
            "8613800138000",
            "138-0013-8000",
            " 138 0013 8000 ",
            "１３８００１３８０００",
            "＋８６ １３８－００１３－８０００",
        ] {
            assert_eq!(normalize("msisdn", raw).unwrap(), "13800138000", "{raw}");
        }
    }

    #[test]
    fn rejects_malformed_with_the_field_named() {
        for raw in [
            "",
            "1380013800",
            "23800138000",
            "1380013800x",
            "13800138000' OR '1'='1",
            &"1".repeat(100),
            "١٣٨٠٠١٣٨٠٠٠",
            "13800138000\u{200B}",
        ] {
            let e = normalize("msisdn", raw).unwrap_err();
            assert!(e.to_string().starts_with("msisdn: "), "{e}");
        }
    }
}
