//! Sessions of the console: a random id in an HttpOnly, SameSite=Strict cookie, mapped in memory to the
//! credential the user signed in with and the session's CSRF token. The credential is checked again on
//! every request through the gRPC authentication path ([`crate::identity::layer::AuthState`]), so an
//! expired token, a disabled identity or narrowed roles take effect at once.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "cgw_session";
/// The cookie that carries the sign-in form's CSRF token before there is a session (double submit).
pub const PRE_COOKIE: &str = "cgw_signin";
/// Sessions held at once; past this the least recently used is dropped.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Clone)]
pub struct Session {
    /// `Bearer <jwt>` or `ApiKey <key>`, as a gRPC client would send it in `authorization`.
    pub credential: String,
    /// The token every form of this session posts back.
    pub csrf: String,
    last_used: Instant,
}

/// The sessions of one console.
pub struct Sessions {
    idle: Duration,
    map: Mutex<HashMap<String, Session>>,
}

/// 32 random bytes as hex: a session id or a CSRF token.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Equality that takes the same time wherever the strings differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Sessions {
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            idle,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a session for `credential`; returns its id.
    pub fn start(&self, credential: String) -> String {
        let id = random_token();
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        m.retain(|_, s| now.duration_since(s.last_used) < self.idle);
        if m.len() >= MAX_SESSIONS {
            if let Some(oldest) = m.iter().min_by_key(|(_, s)| s.last_used).map(|(k, _)| k.clone()) {
                m.remove(&oldest);
            }
        }
        m.insert(
            id.clone(),
            Session {
                credential,
                csrf: random_token(),
                last_used: now,
            },
        );
        id
    }

    /// The live session `id`, its idle clock restarted.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let s = m.get_mut(id)?;
        if now.duration_since(s.last_used) >= self.idle {
            m.remove(id);
            return None;
        }
        s.last_used = now;
        Some(s.clone())
    }

    /// Ends session `id`.
    pub fn end(&self, id: &str) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, path `/`; `max_age` 0 deletes it.
pub fn set_cookie(name: &str, value: &str, max_age_secs: u64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_and_end_on_sign_out() {
        let s = Sessions::new(Duration::from_millis(50));
        let id = s.start("Bearer x".into());
        let got = s.get(&id).unwrap();
        assert_eq!(got.credential, "Bearer x");
        assert_eq!(got.csrf.len(), 64);
        assert!(s.get("nope").is_none());
        std::thread::sleep(Duration::from_millis(80));
        assert!(s.get(&id).is_none(), "idle session must end");
        let id = s.start("Bearer y".into());
        s.end(&id);
        assert!(s.get(&id).is_none());
    }

    #[test]
    fn cookies_are_found_among_others_and_tokens_compared_whole() {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::COOKIE, "a=1; cgw_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
        let c = set_cookie(COOKIE, "v", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("; Secure"));
    }
}
