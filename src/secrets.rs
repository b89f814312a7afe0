//! Keeping credentials out of logs, errors and config dumps.
use std::borrow::Cow;

/// A URL with its password (and any `password=`/`token=` query values) replaced by `***`.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let secret = is_secret_key(&k);
                    (k.into_owned(), if secret { "***".to_string() } else { v.into_owned() })
                })
                .collect();
            if !pairs.is_empty() {
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        // Not parseable: keep only the scheme.
        Err(_) => match raw.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***"),
            None => "***".to_string(),
        },
    }
}

fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    ["password", "passwd", "pwd", "token", "secret", "key", "sslpassword"]
        .iter()
        .any(|s| k.contains(s))
}

/// The secret parts of a URL (password, secret query values), to scrub from driver error texts.
pub fn secrets_of_url(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(u) = url::Url::parse(raw) {
        if let Some(p) = u.password() {
            out.push(p.to_string());
            if let Ok(decoded) = urlencoding_decode(p) {
                out.push(decoded);
            }
        }
        for (k, v) in u.query_pairs() {
            if is_secret_key(&k) && !v.is_empty() {
                out.push(v.into_owned());
            }
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

fn urlencoding_decode(s: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes: Vec<u8> = url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap_or_default();
    String::from_utf8(bytes)
}

/// `text` with every secret replaced by `***`.
pub fn scrub<'a>(text: &'a str, secrets: &[String]) -> Cow<'a, str> {
    if secrets.iter().all(|s| !text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for s in secrets {
        out = out.replace(s.as_str(), "***");
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_and_secret_query_values() {
        assert_eq!(
            redact_url("postgres://app:s3cr%40t@db:5432/billing"),
            "postgres://app:***@db:5432/billing"
        );
        let r = redact_url("mysql://root@h/crm?ssl-mode=required&password=hunter2");
        assert!(!r.contains("hunter2") && r.contains("ssl-mode=required"), "{r}");
        assert_eq!(redact_url("sqlite://demo/billing.db"), "sqlite://demo/billing.db");
        assert!(!redact_url("not a url with pass").contains("pass"));
    }

    #[test]
    fn scrubs_decoded_and_encoded_forms() {
        let secrets = secrets_of_url("postgres://app:s3cr%40t@db/billing");
        let t = scrub("auth failed for s3cr@t and s3cr%40t", &secrets);
        assert!(!t.contains("s3cr"), "{t}");
    }
}
